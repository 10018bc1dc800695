"""Classical models and the evaluate stage on the demo (config/demo.yaml): they must find the planted signal.

The demo runs once per session (fixture `demo_run`); the assertions read results/ and resources/truth/ of that run.

Margins stated here:
- shuffled-target control: a model's test figure minus the 95th percentile of the same figure after shuffling
  y_true (across test genes for cross_gene, across test individuals within each gene for cross_individual,
  200 seeded shuffles) must exceed 0.15 (cross_gene Pearson) or 0.05 (cross_individual mean r);
- elastic_net beats kmer_ridge cross-individual (test mean r) by at least 0.05;
- kmer_ridge beats gc_cpg cross-gene (test Pearson) by at least 0.05 (the planted motifs are invisible to GC/CpG);
- elastic net selects at least one planted causal variant for at least 70% of the fitted genes whose planted
  heritability is at least 0.3, and at least 50% of those genes' causal variants with alt frequency in [0.05, 0.95].
"""

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow

SEQUENCE_MODELS = ("gc_cpg", "kmer_ridge")
N_SHUFFLES = 200



def metric(workdir, name, protocol, which, split="test"):
    table = pd.read_csv(workdir / f"results/metrics/default/{name}.tsv", sep="\t")
    row = table[(table["protocol"] == protocol) & (table["metric"] == which) & (table["split"] == split)]
    assert len(row) == 1, f"{name}: no {protocol} {which} on {split}"
    return row.iloc[0]


def predictions(workdir, name):
    return pd.read_parquet(workdir / f"results/predictions/default/{name}.parquet")


def shuffled_cross_gene_pearson(pred: pd.DataFrame, rng) -> np.ndarray:
    test = pred[(pred["protocol"] == "cross_gene") & (pred["split"] == "test") & (pred["status"] == "ok")]
    y, p = test["y_true"].to_numpy(float), test["y_pred"].to_numpy(float)
    return np.array([np.corrcoef(rng.permutation(y), p)[0, 1] for _ in range(N_SHUFFLES)])


def shuffled_mean_r(pred: pd.DataFrame, rng) -> np.ndarray:
    test = pred[(pred["protocol"] == "cross_individual") & (pred["split"] == "test") & (pred["status"] == "ok")]
    groups = [(g["y_true"].to_numpy(float), g["y_pred"].to_numpy(float)) for _, g in test.groupby("gene_id")]
    groups = [(y, p) for y, p in groups if len(y) >= 3 and np.ptp(p) > 0 and np.ptp(y) > 0]
    return np.array([np.mean([np.corrcoef(rng.permutation(y), p)[0, 1] for y, p in groups])
                     for _ in range(N_SHUFFLES)])


def test_every_enabled_model_has_predictions_metrics_and_a_summary_row(demo_run):
    summary = pd.read_csv(demo_run / "results/benchmark/summary.tsv", sep="\t")
    ours = summary[summary["source"] == "this run"]
    for name in (*SEQUENCE_MODELS, "elastic_net"):
        assert (demo_run / f"results/predictions/default/{name}.parquet").is_file()
        assert (demo_run / f"results/metrics/default/{name}.per_gene.tsv").is_file()
        assert name in set(ours["model"])
    assert (summary["source"] == "published (other data)").sum() >= 5
    assert set(ours.loc[ours["model"] == "elastic_net", "protocol"]) >= {"cross_individual", "cross_population"}
    assert set(ours.loc[ours["model"] == "kmer_ridge", "protocol"]) >= {"cross_gene", "cross_individual"}
    assert "unseen_gene_individual" not in set(predictions(demo_run, "elastic_net")["protocol"])
    assert set(predictions(demo_run, "kmer_ridge")["protocol"]) == {
        "cross_gene", "cross_individual", "cross_population", "unseen_gene_individual"}


# Margins over the 95th percentile of shuffled-target Pearson: the demo plants most cross-gene signal in motifs,
# so GC/CpG (the floor) explains little of it (test r about 0.27), the k-mer model much more (about 0.51).
MARGIN = {"gc_cpg": 0.05, "kmer_ridge": 0.15}


@pytest.mark.parametrize("name", SEQUENCE_MODELS)
def test_sequence_model_beats_a_shuffled_target_cross_gene(demo_run, name):
    observed = metric(demo_run, name, "cross_gene", "pearson")["value"]
    null = shuffled_cross_gene_pearson(predictions(demo_run, name), np.random.default_rng(1))
    assert observed > np.quantile(null, 0.95) + MARGIN[name], (observed, np.quantile(null, 0.95))


def test_elastic_net_beats_a_shuffled_target_cross_individual(demo_run):
    observed = metric(demo_run, "elastic_net", "cross_individual", "mean_r")["value"]
    null = shuffled_mean_r(predictions(demo_run, "elastic_net"), np.random.default_rng(2))
    assert observed > np.quantile(null, 0.95) + 0.05, (observed, np.quantile(null, 0.95))


def test_elastic_net_beats_kmer_ridge_cross_individual(demo_run):
    en = metric(demo_run, "elastic_net", "cross_individual", "mean_r")
    kr = metric(demo_run, "kmer_ridge", "cross_individual", "mean_r")
    assert en["value"] > kr["value"] + 0.05, (en["value"], kr["value"])


@pytest.mark.parametrize("name", ["kmer_ridge", "dexter"])
def test_motif_aware_model_beats_gc_cpg_cross_gene(demo_run, name):
    """The planted motifs carry signal beyond composition: k-mer ridge and DExTER must beat GC/CpG."""
    model = metric(demo_run, name, "cross_gene", "pearson")
    gc = metric(demo_run, "gc_cpg", "cross_gene", "pearson")
    assert model["value"] > gc["value"] + 0.05, (model["value"], gc["value"])


def test_elastic_net_finds_the_planted_causal_variants(demo_run):
    truth_genes = pd.read_csv(demo_run / "resources/truth/genes.tsv", sep="\t")
    causal = pd.read_csv(demo_run / "resources/truth/causal_variants.tsv", sep="\t")
    weights = pd.read_csv(demo_run / "results/models/default/elastic_net/weights.tsv", sep="\t")
    fitted = pd.read_csv(demo_run / "results/models/default/elastic_net/genes.tsv", sep="\t")
    strong = set(truth_genes.loc[truth_genes["h2"] >= 0.3, "gene_id"]) & set(fitted.loc[fitted["status"] == "ok",
                                                                                          "gene_id"])
    assert len(strong) >= 10, "too few high-heritability genes to judge"
    selected = set(zip(weights["gene_id"], weights["chrom"], weights["pos"]))
    causal = causal[causal["gene_id"].isin(strong)]
    causal = causal.assign(found=[(g, c, p) in selected for g, c, p in zip(causal["gene_id"], causal["chrom"],
                                                                           causal["pos"])])
    per_gene = causal.groupby("gene_id")["found"].any()
    assert per_gene.mean() >= 0.7, per_gene.mean()
    common = causal[causal["alt_frequency"].between(0.05, 0.95)]
    assert common["found"].mean() >= 0.5, common["found"].mean()


PROTOCOLS = ("cross_gene", "cross_individual", "cross_population", "unseen_gene_individual")
CONTROLS = ("gta_prompt_only", "gta_shuffled", "cnn", "elastic_net_window")


def test_summary_scores_every_protocol_and_control_on_one_gene_set_per_protocol(demo_run):
    """Issue 11: rows for the four protocols, the controls among the models, and one n per protocol."""
    summary = pd.read_csv(demo_run / "results/benchmark/summary.tsv", sep="\t")
    ours = summary[(summary["source"] == "this run") & (summary["metric"] != "not_applicable")]
    assert set(ours["protocol"]) == set(PROTOCOLS)
    assert set(CONTROLS) <= set(ours["model"])
    for protocol, metric_name in [("cross_gene", "pearson"), *((p, "mean_r") for p in PROTOCOLS[1:])]:
        rows = ours[(ours["protocol"] == protocol) & (ours["metric"] == metric_name)]
        assert len(rows) >= 3 and rows["n"].nunique() == 1, rows[["model", "n"]]
    for metric_name in ("median_r", "mean_abs_r", "share_positive_r", "significant_wrong_sign_share",
                        "paired_diff_vs_elastic_net", "share_better_than_elastic_net"):
        assert metric_name in set(ours.loc[ours["protocol"] == "cross_individual", "metric"]), metric_name
    na = summary[(summary["model"] == "elastic_net") & (summary["metric"] == "not_applicable")]
    assert "unseen_gene_individual" in set(na["protocol"])


def test_elastic_net_beats_every_sequence_model_cross_individual_and_the_report_says_so(demo_run):
    """The pattern the literature reports for personal genomes, on the demo; the report's grid states it."""
    summary = pd.read_csv(demo_run / "results/benchmark/summary.tsv", sep="\t")
    mean_r = summary[(summary["source"] == "this run") & (summary["protocol"] == "cross_individual")
                     & (summary["metric"] == "mean_r")].set_index("model")["value"]
    sequence_models = [m for m in mean_r.index if not m.startswith("elastic_net")]
    assert len(sequence_models) >= 5, sequence_models
    assert (mean_r["elastic_net"] > mean_r[sequence_models] + 0.1).all(), mean_r
    grid = (demo_run / "results/report/default/benchmark_grid.html").read_text()
    assert "beats every sequence model" in grid
