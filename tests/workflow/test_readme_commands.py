"""Every command the READMEs show works as written (issue 14, item 4): each `snakemake` command of README.md,
config/README.md and profiles/slurm/README.md (code blocks, and inline ones without placeholders) runs as a dry run
in a deployed working directory (config/ beside the results), with the README's `export` lines applied; `make`
targets run as `make -n`. Long commands are checked as dry runs only; the runs themselves are the demo tests."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess

import pytest

from conftest import ROOT, SNAKEMAKE, run_snakemake

READMES = [ROOT / "README.md", ROOT / "config" / "README.md", ROOT / "profiles" / "slurm" / "README.md"]


def shown_commands() -> list[tuple[str, str]]:
    """(README, command) for each command line of a code block (4-space indented or fenced) and each inline
    `snakemake ...` without `...` or `<placeholders>`; continuation lines joined, comments dropped."""
    found = []
    for path in READMES:
        text = path.read_text()
        lines = []
        in_fence = False
        for line in text.splitlines():
            if line.startswith("```"):
                in_fence = not in_fence
                continue
            if in_fence or line.startswith("    "):
                lines.append(line.strip())
            else:
                lines.append("")
        joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
        for line in joined.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if re.match(r"^(\S+=\S+ )*(\.venv/bin/)?(snakemake|snakedeploy|make|export) ", command + " "):
                found.append((path.relative_to(ROOT).as_posix(), command))
        for inline in re.findall(r"`((?:\.venv/bin/)?snakemake [^`]+)`", text.replace("\n", " ")):
            if "..." not in inline and "<" not in inline:
                found.append((path.relative_to(ROOT).as_posix(), re.sub(r"\s+", " ", inline)))
    return found


COMMANDS = list({command: (readme, command) for readme, command in reversed(shown_commands())}.values())[::-1]
EXPORTS = dict(re.match(r"export (\w+)=(\S+)", c).groups() for _, c in COMMANDS if c.startswith("export "))


def test_the_readmes_show_the_commands_this_test_runs():
    kinds = {c.split()[0] for _, c in COMMANDS}
    assert {"make", "export"} <= kinds and len([c for _, c in COMMANDS if "snakemake" in c]) >= 10, COMMANDS


@pytest.mark.parametrize("readme,command", [c for c in COMMANDS if not c[1].startswith("export ")],
                         ids=[f"{r}:{c[:70]}" for r, c in COMMANDS if not c.startswith("export ")])
def test_command_runs_as_written(readme, command, tmp_path, monkeypatch):
    words = shlex.split(command)
    env_prefix = {}
    while "=" in words[0] and not words[0].startswith("-"):
        key, value = words.pop(0).split("=", 1)
        env_prefix[key] = value
    for key, value in {**EXPORTS, **env_prefix}.items():
        monkeypatch.setenv(key, value)
    if words[0] == "make":
        proc = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "snakemake" in proc.stdout or "pytest" in proc.stdout
        return
    args = words[1:]
    if words[0] == "snakedeploy":
        if shutil.which("snakedeploy") is None:
            pytest.skip("snakedeploy is not installed; tests/workflow/test_module.py runs the module it writes")
        pytest.skip("snakedeploy needs the published repository (network)")
    if "--report" in args:
        pytest.skip("--report needs a finished run: tests/workflow/test_report.py makes the demo's report")
    if "--conda-create-envs-only" in args and shutil.which("conda") is None:
        pytest.skip("conda is not installed (the envs are checked statically by test_conda_envs.py)")
    args = [str(ROOT / a) if a.startswith(("profiles/", "config/")) else a for a in args]
    shutil.copytree(ROOT / "config", tmp_path / "config")
    proc = run_snakemake(tmp_path, "-n", *args, check=False)
    assert proc.returncode == 0, f"{readme}: `{command}` failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert SNAKEMAKE and os.path.isdir(tmp_path)
