"""Issue 16 in the DAG (dry runs): the trait rules join a run only when `traits.traits` names traits and a phenotype
table exists; a traits section without one is an error at start naming the key."""

import yaml
from conftest import ROOT, real_config, run_snakemake

PROFILE = ("--profile", str(ROOT / "profiles" / "default"))
TRAIT_RULES = ("phenotypes", "polygenic_score", "associate_traits", "risk", "report_traits")


def test_real_config_without_phenotypes_has_no_trait_rules(tmp_path):
    out = run_snakemake(tmp_path, *PROFILE, "--configfile", str(ROOT / "config" / "config.yaml"), "-n").stdout
    assert "rule benchmark_summary:" in out
    for rule in TRAIT_RULES:
        assert f"rule {rule}:" not in out, rule


def test_real_config_with_a_phenotype_table_plans_every_trait_rule(tmp_path):
    table = tmp_path / "pheno.tsv"
    table.write_text("individual\tsex\tldl\nHG00096\t0\t1.2\n")
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["sources"]["phenotypes"] = {"url": str(table)}
    path = real_config(tmp_path, sources=config["sources"],
                       traits={"traits": {"ldl": {"type": "quantitative"}}, "covariates": ["sex"]})
    out = run_snakemake(tmp_path, *PROFILE, "--configfile", str(path), "--replace-workflow-config", "-n").stdout
    for rule in ("download_phenotypes", *TRAIT_RULES):
        assert f"rule {rule}:" in out, rule
    summary = out.split("rule benchmark_summary:")[1].split("output:")[0]
    assert "results/traits/risk.tsv" in summary


def test_traits_without_a_phenotype_table_stop_before_any_job(tmp_path):
    path = real_config(tmp_path, traits={"traits": {"ldl": {"type": "quantitative"}}})
    proc = run_snakemake(tmp_path, *PROFILE, "--configfile", str(path), "--replace-workflow-config", "-n",
                         check=False)
    assert proc.returncode != 0
    assert "sources.phenotypes" in proc.stdout + proc.stderr


def test_an_unknown_trait_type_is_a_schema_error(tmp_path):
    path = real_config(tmp_path, traits={"traits": {"ldl": {"type": "ordinal"}}})
    proc = run_snakemake(tmp_path, *PROFILE, "--configfile", str(path), "--replace-workflow-config", "-n",
                         check=False)
    assert proc.returncode != 0 and "ordinal" in proc.stdout + proc.stderr
