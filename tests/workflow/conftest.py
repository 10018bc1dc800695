"""Fixtures of the workflow tests: a real single-node SLURM cluster (tests/slurm_cluster.py), started once."""

import pytest

from slurm_cluster import LocalSlurm


@pytest.fixture(scope="session")
def slurm_cluster():
    """munged + slurmctld + slurmd on this machine with `cpu` and `gpu` partitions; torn down after the session."""
    reason = LocalSlurm.unavailable()
    if reason:
        pytest.skip(reason)
    cluster = LocalSlurm()
    cluster.start()
    yield cluster
    cluster.stop()
