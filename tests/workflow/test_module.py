"""Deployment as a Snakemake module from a git source (issue 14, item 1), the way catalog workflows are used:
`module hapexpr: snakefile: github("owner/hapexpr", path="workflow/Snakefile", ...)`.

The repository is a local git repository made from this working tree; git's `url.<base>.insteadOf` (set through
GIT_CONFIG_* variables for the Snakemake process only) sends Snakemake's clone of https://github.com/... to it, so
the run takes exactly the code path of a real GitHub deployment (bare clone, files read from git into the source
cache) with no network."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ROOT, SNAKEMAKE, small_config

LIBRARY = ROOT / "workflow" / "scripts" / "hapexpr"


def library_list() -> list[str]:
    """LIBRARY_FILES of workflow/rules/common.smk."""
    text = (ROOT / "workflow" / "rules" / "common.smk").read_text()
    block = re.search(r"^LIBRARY_FILES = \[(.*?)^\]", text, re.M | re.S)
    assert block, "LIBRARY_FILES not found in workflow/rules/common.smk"
    return re.findall(r'"([^"]+)"', block.group(1))


def test_library_list_names_every_file_of_the_library():
    on_disk = sorted(p.relative_to(LIBRARY).as_posix() for p in LIBRARY.rglob("*.py") if "__pycache__" not in p.parts)
    assert sorted(library_list()) == on_disk, (
        "LIBRARY_FILES in workflow/rules/common.smk must list every file of workflow/scripts/hapexpr/ (a module "
        "deployed from git reads only the files listed there)")


def git(*args: str, cwd: Path) -> str:
    proc = subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@localhost", *args], cwd=cwd,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def hosted_copy_of_this_tree(host: Path) -> Path:
    """A bare repository at host/hapexpr/hapexpr with this working tree's files (tracked and new, not ignored) on
    branch `main`, committed as they are now."""
    files = git("ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=ROOT).split("\0")
    work = host / "work"
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, work / name)
    git("init", "-q", "-b", "main", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "snapshot", cwd=work)
    bare = host / "hapexpr" / "hapexpr"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=host)
    return bare


@pytest.mark.slow
def test_module_from_a_git_source_runs_the_small_run_to_the_haplotypes(tmp_path):
    """The user's config is the small run's (the demo's, smaller), in the user's config/config.yaml."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    host = tmp_path / "host"
    hosted_copy_of_this_tree(host)
    user = tmp_path / "user"
    (user / "config").mkdir(parents=True)
    (user / "config" / "config.yaml").write_text(yaml.safe_dump(small_config(), sort_keys=False))
    (user / "Snakefile").write_text(
        'configfile: "config/config.yaml"\n\n\n'
        "module hapexpr:\n"
        '    snakefile:\n        github("hapexpr/hapexpr", path="workflow/Snakefile", branch="main")\n'
        "    config:\n        config\n\n\n"
        "use rule * from hapexpr as hapexpr_*\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "GIT_CONFIG_COUNT": "1",
           "GIT_CONFIG_KEY_0": f"url.file://{host}/.insteadOf", "GIT_CONFIG_VALUE_0": "https://github.com/"}
    target = "results/haplotypes/chr1.counts.tsv"
    proc = subprocess.run([SNAKEMAKE, "--cores", "2", target], cwd=user, env=env, capture_output=True, text=True,
                          timeout=900)
    out = proc.stdout + proc.stderr
    logs = "".join(p.read_text() for p in (user / "logs").rglob("*.log")) if (user / "logs").is_dir() else ""
    assert proc.returncode == 0, out[-6000:] + logs[-4000:]
    assert "Cloning github.com/hapexpr/hapexpr" in out  # the git route, not a local path
    for rule in ("hapexpr_simulate", "hapexpr_genes", "hapexpr_haplotypes"):
        assert f"rule {rule}:" in out, rule
    counts = pd.read_csv(user / target, sep="\t")
    assert len(counts) > 0 and (counts["n_unique"] >= 1).all()
    assert (user / "results" / "haplotypes" / "chr1.sequences.parquet").is_file()
