"""`snakemake -n` builds the DAG of each config without running anything."""

import pytest
from conftest import ROOT, run_snakemake

PROFILE = ("--profile", str(ROOT / "profiles" / "default"))


def test_demo_dry_run_plans_simulate_then_individuals_then_genes(tmp_path):
    proc = run_snakemake(tmp_path, *PROFILE, "--configfile", str(ROOT / "config" / "demo.yaml"), "-n")
    out = proc.stdout + proc.stderr
    for rule in ("simulate", "individuals", "genes", "all"):
        assert f"rule {rule}:" in out, rule
    assert not (tmp_path / "resources").exists()


def test_real_config_dry_run(tmp_path):
    if not (ROOT / "workflow" / "rules" / "download.smk").exists():
        pytest.skip("the download rules (workflow/rules/download.smk) are not in this checkout yet")
    proc = run_snakemake(tmp_path, *PROFILE, "--configfile", str(ROOT / "config" / "config.yaml"), "-n")
    out = proc.stdout + proc.stderr
    for rule in ("individuals", "genes", "all"):
        assert f"rule {rule}:" in out, rule
    assert "rule simulate:" not in out

