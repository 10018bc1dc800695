"""Dry runs of DAG variants: GTA on the workflow's DNABERT-2 model, a cross-gene-only run without a VCF. (The dry
runs of both configs as given, with both profiles and overrides: tests/workflow/test_overrides.py.)"""

from conftest import ROOT, run_snakemake

PROFILE = ("--profile", str(ROOT / "profiles" / "default"))


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
                        "results/models/default/gta/gta/cross_gene/model.safetensors").stdout
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
                   "results/predictions/default/elastic_net"):
        assert absent not in out, absent
    assert "results/predictions/default/gc_cpg/22.parquet" in out
    assert "results/haplotypes/22.sequences.parquet" in out
