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


def test_cross_gene_only_run_without_vcf_plans_no_individual_rules(tmp_path):
    """No sources.vcf: reference windows only; the VCF, elastic-net and cross-individual jobs leave the DAG; numeric
    contig names ("22") reach the per-chromosome rules; an empty validation split is allowed."""
    import yaml

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    del config["sources"]["vcf"]
    config["chromosomes"] = ["21", "22"]
    config["splits"]["genes"] = {"test_chromosomes": ["22"], "valid_chromosomes": []}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    out = run_snakemake(tmp_path, *PROFILE, "--configfile", str(path), "--replace-workflow-config", "-n",
                        "-p").stdout
    for rule in ("haplotypes", "train_gc_cpg", "predict_dexter", "train_dnabert2", "train_gta", "all"):
        assert f"rule {rule}:" in out, rule
    for absent in ("rule elastic_net:", "rule download_vcf", "resources/vcf/", "cross_individual",
                   "results/predictions/elastic_net"):
        assert absent not in out, absent
    assert "results/predictions/gc_cpg/22.parquet" in out
    assert "results/haplotypes/22.sequences.parquet" in out
