"""Shared fixtures: paths of the project, the Snakemake executable, the real data beside the project."""

import functools
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
    """Run the project's Snakefile with `workdir` as working directory; output is kept for the assertion message.

    A run expected to succeed (`check`) retries a failed job once, as profiles/slurm does twice: pyarrow can abort
    a finished job at interpreter exit ("terminate called without an active exception", apache/arrow#34314; seen
    once in this suite's CI, in gather_predictions). A job that fails for a reason of its own fails again."""
    retry = ["--retries", "1"] if check else []
    cmd = [SNAKEMAKE, "-s", str(ROOT / "workflow" / "Snakefile"), "-d", str(workdir), *retry, *args]
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


DEMO_CONFIG = ROOT / "config" / "demo.yaml"
# The small run: tests/config/small.yaml merged onto the demo's config (the demo's rules on a smaller data set).
SMALL_CONFIG = ROOT / "tests" / "config" / "small.yaml"
# The Snakemake arguments of `make demo` (the Makefile's demo target); the tests add --cores or a dry run to them.
DEMO_ARGS = ("--profile", str(ROOT / "profiles" / "default"), "--max-threads", "1", "--configfile", str(DEMO_CONFIG))
# The small run's arguments (each rule at its own threads, as on a cluster). --configfile takes every word up to the
# next option: put an option before any target.
SMALL_ARGS = ("--profile", str(ROOT / "profiles" / "default"), "--configfile", str(DEMO_CONFIG), str(SMALL_CONFIG))


def real_config(workdir: Path, **changes) -> Path:
    """config/config.yaml with top-level keys replaced by `changes`, written to workdir/config.yaml (use with
    --replace-workflow-config, for dry runs of variants of the real run)."""
    import yaml

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config.update(changes)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def small_config() -> dict:
    """The small run's config as one dict (config/demo.yaml with tests/config/small.yaml merged in, as Snakemake
    merges two --configfile), for tests that write a variant of it."""
    import yaml
    from snakemake.utils import update_config

    config = yaml.safe_load(DEMO_CONFIG.read_text())
    update_config(config, yaml.safe_load(SMALL_CONFIG.read_text()))
    return config


@pytest.fixture(scope="session")
def slurm_cluster():
    """A local single-node SLURM cluster (tests/slurm_cluster.py) for the session; the test skips where none can
    start (not root, or slurm-wlm and munge missing)."""
    from slurm_cluster import LocalSlurm

    reason = LocalSlurm.unavailable()
    if reason:
        pytest.skip(reason)
    cluster = LocalSlurm()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """Working directory of one complete demo run, made exactly as `make demo` makes it (every model on 2 cores,
    then the report); shared by every demo-level test (the scientific margins). The SLURM placement tests run a
    smaller DAG of the same rules on the local cluster instead (tests/workflow/test_slurm.py, `small_on_slurm`).
    """
    reuse = os.environ.get("HAPEXPR_DEMO_DIR")  # a finished demo run to reuse while developing tests
    if reuse:
        return Path(reuse)
    workdir = tmp_path_factory.mktemp("demo")
    run_snakemake(workdir, *DEMO_ARGS, "--cores", "2")
    run_snakemake(workdir, *DEMO_ARGS, "--report", str(workdir / "results" / "report.html"))
    return workdir


# pytest-xdist (`-n 3 --dist loadscope --no-loadscope-reorder` in pyproject.toml) with groups of our own: each group
# runs in one worker. The modules that use the demo run form one group, collected first, so that the demo (most of
# the suite's CPU) starts at once; the modules that use the local SLURM cluster form another (one cluster per
# session), collected second: it mostly waits on the cluster's jobs, whose CPU the third worker's modules share;
# every other module is a group of its own, so that its module fixtures are built once. (xdist's own `loadgroup` marks do not reach its scheduler under
# pytest 9: it renames items through an attribute that pytest 9 no longer reads.)
@functools.cache
def _module_group(module: str) -> str:
    text = (ROOT / module).read_text()
    if "demo_run" in text:
        return "demo"
    if "slurm_cluster" in text:
        return "slurm"
    return module


def xdist_group(nodeid: str) -> str:
    """The xdist group of a test, from its node id (module path relative to the project, then `::`...)."""
    return _module_group(nodeid.split("::")[0])


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid)

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # stable sort: the demo's group first (one worker), the SLURM group next (another worker: the longest after the
    # demo's), so that the many short modules come last and fill the workers to the end
    first = {"demo": 0, "slurm": 1}
    items.sort(key=lambda item: first.get(xdist_group(item.nodeid), 2))


# The demo's worker is the suite's critical path (its fixture is most of the suite's CPU, then its tests run); the
# other workers' modules have time to spare. They run at a lower CPU priority (nice), so that under contention the
# demo's jobs get the cores first and the others fill what the demo leaves idle. Children (Snakemake runs, the local
# SLURM cluster's daemons and jobs) inherit it. Only raising niceness: any user may.
DEMO_FIRST_NICENESS = 5


@functools.cache
def _yield_to_the_demo() -> None:
    os.nice(DEMO_FIRST_NICENESS)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER") and xdist_group(item.nodeid) != "demo":
        _yield_to_the_demo()
