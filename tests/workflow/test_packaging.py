"""The catalog layout and the installable library (issue 14, item 1)."""

import re
import shutil
import subprocess
import sys
import zipfile

import yaml

from conftest import ROOT

LIBRARY = ROOT / "workflow" / "scripts" / "hapexpr"


def test_catalog_layout():
    assert (ROOT / "workflow" / "Snakefile").is_file() and not (ROOT / "Snakefile").exists()
    assert (ROOT / "config" / "README.md").is_file() and (ROOT / "LICENSE").read_text().startswith("MIT License")
    usage = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert set(usage) <= {"mandatory-flags", "software-stack-deployment", "report"}
    assert usage["software-stack-deployment"]["conda"] is True and usage["report"] is True
    assert {"desc", "flags"} <= set(usage["mandatory-flags"])


def test_version_is_one_and_in_the_changelog():
    version = re.search(r'^__version__ = "([^"]+)"', (LIBRARY / "__init__.py").read_text(), re.M).group(1)
    assert f"## [{version}]" in (ROOT / "CHANGELOG.md").read_text()
    assert 'dynamic = ["version"]' in (ROOT / "pyproject.toml").read_text()  # read from hapexpr.__version__


def test_pip_wheel_builds_the_library(tmp_path):
    """`pip wheel .` (offline here: no build isolation, no dependencies), on a copy so that no build files land
    in the checkout."""
    src = tmp_path / "src"
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(LIBRARY, src / "workflow" / "scripts" / "hapexpr", ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                           str(tmp_path / "dist"), str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheel = next((tmp_path / "dist").glob("hapexpr-*.whl"))
    version = re.search(r'^__version__ = "([^"]+)"', (LIBRARY / "__init__.py").read_text(), re.M).group(1)
    assert wheel.name.startswith(f"hapexpr-{version}-py3-none-any")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {f"hapexpr/{p.relative_to(LIBRARY).as_posix()}" for p in LIBRARY.rglob("*.py")}
    assert modules <= names and not any(n.startswith(("tests/", "workflow/")) for n in names)
    metadata = zipfile.ZipFile(wheel).read(f"hapexpr-{version}.dist-info/METADATA").decode()
    assert "License-Expression: MIT" in metadata
