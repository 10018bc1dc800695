"""Shared fixtures: paths of the project, the Snakemake executable, the real data beside the project."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def run_snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the project's Snakefile with `workdir` as working directory; output is kept for the assertion message."""
    cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(workdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-5000:]}\n{proc.stderr[-8000:]}")
    return proc


@pytest.fixture
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip(f"real data not found at {REALDATA} (CI places ../shared beside the project)")
    return REALDATA


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (.ci/run installs it with apt-get)")
    return path


DEMO_ARGS = ("--profile", str(ROOT / "profiles" / "default"), "--configfile", str(ROOT / "config" / "demo.yaml"))


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """Working directory of one complete demo run on 2 cores (every model, then the report), shared by every
    demo-level test of the session."""
    reuse = os.environ.get("HAPEXPR_DEMO_DIR")  # a finished demo run to reuse while developing tests
    if reuse:
        return Path(reuse)
    workdir = tmp_path_factory.mktemp("demo")
    run_snakemake(workdir, *DEMO_ARGS, "--cores", "2")
    run_snakemake(workdir, *DEMO_ARGS, "--report", str(workdir / "results" / "report.html"))
    return workdir
