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



def test_gta_on_the_workflows_dnabert2_model_waits_for_it(tmp_path):
    """models.gta.encoder: dnabert2 with no path reads the workflow's DNABERT-2 model: pretrain_dna_lm runs first,
    also when the DNABERT-2 models themselves are off, and the GTA rules get its directory."""
    import yaml

    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    config["models"]["gta"]["encoder"] = "dnabert2"
    config["models"]["dnabert2"]["enabled"] = False
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    out = run_snakemake(tmp_path, *PROFILE, "--configfile", str(path), "-n", "-p",
                        "results/models/gta/gta/cross_gene/model.safetensors").stdout
    assert "rule pretrain_dna_lm:" in out and "rule train_gta:" in out
    assert "rule train_dnabert2:" not in out
    assert "results/models/dna_lm/model.safetensors" in out.split("rule train_gta:")[1].split("output:")[0]
