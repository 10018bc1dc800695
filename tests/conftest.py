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
    cmd = [SNAKEMAKE, "-s", str(ROOT / "workflow" / "Snakefile"), "-d", str(workdir), *args]
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
DEMO_SLURM_LOG = "demo_on_slurm.log"  # in the demo's working directory when it ran through the local cluster


@pytest.fixture(scope="session")
def local_slurm():
    """A local single-node SLURM cluster (tests/slurm_cluster.py) for the session, or None where none can start."""
    from slurm_cluster import LocalSlurm

    if LocalSlurm.unavailable():
        yield None
        return
    cluster = LocalSlurm()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def slurm_cluster(local_slurm):
    from slurm_cluster import LocalSlurm

    if local_slurm is None:
        pytest.skip(LocalSlurm.unavailable())
    return local_slurm


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, local_slurm):
    """Working directory of one complete demo run (every model, then the report), shared by every demo-level test.

    Where a local SLURM cluster can start (root with slurm-wlm and munge, as in CI), the run goes through the SLURM
    profile on it (issue 8: the demo on a real SLURM; the transcript is kept in DEMO_SLURM_LOG for the placement
    tests); elsewhere, or with HAPEXPR_DEMO_LOCAL=1, it runs locally on 2 cores like `make demo`.
    """
    reuse = os.environ.get("HAPEXPR_DEMO_DIR")  # a finished demo run to reuse while developing tests
    if reuse:
        return Path(reuse)
    workdir = tmp_path_factory.mktemp("demo")
    if local_slurm is None or os.environ.get("HAPEXPR_DEMO_LOCAL") == "1":
        run_snakemake(workdir, *DEMO_ARGS, "--cores", "2")
    else:
        from slurm_cluster import CLUSTER_ENV, write_test_profile

        profile = write_test_profile(tmp_path_factory.mktemp("profile"))
        cmd = [SNAKEMAKE, "-s", str(ROOT / "workflow" / "Snakefile"), "-d", str(workdir), "--profile", str(profile),
               "--configfile", str(ROOT / "config" / "demo.yaml")]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, timeout=3600,
                              env={**os.environ, **local_slurm.env, **CLUSTER_ENV})
        (workdir / DEMO_SLURM_LOG).write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            raise AssertionError(f"the demo through SLURM failed ({proc.returncode}):\n{proc.stderr[-8000:]}")
    run_snakemake(workdir, *DEMO_ARGS, "--report", str(workdir / "results" / "report.html"))
    return workdir
