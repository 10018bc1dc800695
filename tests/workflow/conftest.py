"""The demo runs once per test session; every demo-level test reads the same working directory."""

import pytest

from conftest import ROOT, run_snakemake

DEMO_ARGS = ("--profile", str(ROOT / "profiles" / "default"), "--configfile", str(ROOT / "config" / "demo.yaml"))


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """Working directory of one complete demo run on 2 cores (every model, then the report)."""
    workdir = tmp_path_factory.mktemp("demo")
    run_snakemake(workdir, *DEMO_ARGS, "--cores", "2")
    run_snakemake(workdir, *DEMO_ARGS, "--report", str(workdir / "results" / "report.html"))
    return workdir
