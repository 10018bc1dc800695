"""Issue 16 on the demo: the elastic net's predicted expression finds the planted causal genes of the quantitative
trait at FDR 5%, and the risk metrics are in the benchmark summary and the report."""

import numpy as np
import pandas as pd
from scipy import stats

FDR = 0.05
# Measured on the demo (config/demo.yaml, seed 7): 3 of the 4 planted causal genes of trait_quantitative (all on
# training chromosomes) are discovered at q < 0.05 from the elastic net's predictions in the 125 held-out
# individuals (power 0.75), with 1 other discovery (a gene whose prediction tags a causal gene's eQTLs). The margin:
POWER_MIN = 0.5


def table(demo_run, name):
    return pd.read_csv(demo_run / "results" / "traits" / name, sep="\t")


def test_elastic_net_finds_the_planted_causal_genes_of_the_quantitative_trait(demo_run):
    association = table(demo_run, "association.tsv")
    truth = pd.read_csv(demo_run / "resources/truth/trait_genes.tsv", sep="\t")
    causal = set(truth.loc[truth["trait"] == "trait_quantitative", "gene_id"])
    rows = association[(association["model"] == "elastic_net") & (association["trait"] == "trait_quantitative")
                       & (association["status"] == "ok")]
    tested = causal & set(rows["gene_id"])
    assert len(tested) >= 3, "too few planted causal genes tested to judge"
    found = set(rows.loc[rows["q"] < FDR, "gene_id"])
    power = len(found & tested) / len(tested)
    assert power >= POWER_MIN, (power, sorted(found), sorted(tested))
    # far more causal genes among the discoveries than chance would put there (hypergeometric tail)
    chance = stats.hypergeom.sf(len(found & tested) - 1, len(rows), len(tested), len(found))
    assert chance < 1e-3, chance
    # the workflow's own count agrees
    discoveries = table(demo_run, "discoveries.tsv").set_index(["model", "trait"])
    row = discoveries.loc[("elastic_net", "trait_quantitative")]
    assert row["power"] == power and row["n_causal_tested"] == len(tested)


def test_association_uses_only_held_out_individuals_and_the_covariates(demo_run):
    association = table(demo_run, "association.tsv")
    individuals = pd.read_csv(demo_run / "results/individuals.tsv", sep="\t")
    held_out = individuals["split"].isin(["test", "test_population"]).sum()
    ok = association[association["status"] == "ok"]
    assert ok["n"].max() <= held_out and ok["n"].max() >= held_out - 5
    assert {"elastic_net", "kmer_ridge"} <= set(association["model"])
    assert set(association["trait"]) == {"trait_quantitative", "trait_binary"}
    for (_, _), part in ok.groupby(["model", "trait"]):
        assert (part["q"] >= part["p"] - 1e-12).all()


def test_risk_metrics_are_in_the_summary_beside_the_polygenic_score(demo_run):
    summary = pd.read_csv(demo_run / "results/benchmark/summary.tsv", sep="\t")
    risk = summary[summary["source"] == "this run (trait risk)"]
    assert set(risk["protocol"]) == {"cross_individual", "cross_population"}
    assert {"covariates", "pgs", "elastic_net", "elastic_net+pgs"} <= set(risk["model"])
    assert set(risk.loc[risk["trait"] == "trait_quantitative", "metric"]) == {"risk_r2"}
    assert set(risk.loc[risk["trait"] == "trait_binary", "metric"]) == {"risk_auroc"}
    scored = risk[risk["value"].notna()]
    assert len(scored) == len(risk) and (scored["ci_low"] <= scored["value"]).all()
    assert (scored["value"] <= scored["ci_high"]).all()
    n = scored.groupby("protocol")["n"].max()
    assert n["cross_individual"] == 25 and n["cross_population"] == 100
    r2 = scored[(scored["trait"] == "trait_quantitative") & (scored["protocol"] == "cross_population")]
    r2 = r2.set_index("model")["value"]
    # the planted expression-mediated part carries over to the held-out population
    assert r2["elastic_net"] > r2["covariates"] + 0.03, r2
    assert (demo_run / "results/report/default/traits.html").stat().st_size > 0
    assert "elastic_net+pgs" in (demo_run / "results/report/default/traits.html").read_text()
    for figure in ("traits_association.png", "traits_risk.png"):
        assert (demo_run / "results/report/default" / figure).stat().st_size > 10_000
