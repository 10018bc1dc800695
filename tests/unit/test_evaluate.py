"""The evaluate stage on hand-made prediction tables with known answers."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hapexpr.evaluate import (
    PREDICTION_COLUMNS,
    PUBLISHED,
    PredictionFormatError,
    correlation_with_ci,
    evaluate_predictions,
    per_gene_correlations,
    statistic_with_ci,
    summarise,
)


def cross_gene_table(y_true, y_pred, split="test", status=None):
    n = len(y_true)
    return pd.DataFrame({
        "gene_id": [f"G{i}" for i in range(n)], "individual": "reference", "protocol": "cross_gene",
        "y_true": y_true, "y_pred": y_pred, "split": split, "status": status or ["ok"] * n,
    })[PREDICTION_COLUMNS]


def cross_individual_table(per_gene: dict[str, tuple[list, list]], split="test"):
    rows = []
    for gene, (y_true, y_pred) in per_gene.items():
        for i, (t, p) in enumerate(zip(y_true, y_pred)):
            status = "ok" if np.isfinite(p) else "skipped: constant expression"
            rows.append((gene, f"I{i}", "cross_individual", t, p, split, status))
    return pd.DataFrame(rows, columns=PREDICTION_COLUMNS)


def metric(metrics, protocol, name, split="test"):
    row = metrics[(metrics["protocol"] == protocol) & (metrics["metric"] == name) & (metrics["split"] == split)]
    assert len(row) == 1
    return row.iloc[0]


def test_cross_gene_pearson_and_spearman_match_scipy():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    pred = y + rng.normal(size=200)
    metrics, _ = evaluate_predictions(cross_gene_table(y, pred), "m", n_boot=200, seed=1)
    pearson, spearman = metric(metrics, "cross_gene", "pearson"), metric(metrics, "cross_gene", "spearman")
    assert pearson["value"] == pytest.approx(stats.pearsonr(y, pred)[0])
    assert spearman["value"] == pytest.approx(stats.spearmanr(y, pred)[0])
    assert pearson["n"] == 200 and spearman["n"] == 200
    for row in (pearson, spearman):
        assert row["ci_low"] < row["value"] < row["ci_high"]
        assert row["ci_high"] - row["ci_low"] < 0.3


def test_bootstrap_is_seeded_and_contains_the_estimate():
    rng = np.random.default_rng(3)
    y = rng.normal(size=50)
    pred = 0.3 * y + rng.normal(size=50)
    first = correlation_with_ci(y, pred, "pearson", 500, seed=11)
    assert first == correlation_with_ci(y, pred, "pearson", 500, seed=11)
    assert first != correlation_with_ci(y, pred, "pearson", 500, seed=12)
    assert first[1] <= first[0] <= first[2]
    value, low, high = statistic_with_ci(np.array([0.1, 0.2, 0.3, 0.4, 0.5]), lambda v: v.mean(axis=-1), 400, 5)
    assert value == pytest.approx(0.3) and low < 0.3 < high and 0.1 <= low and high <= 0.5


def test_no_bootstrap_gives_nan_interval():
    value, low, high = correlation_with_ci([1, 2, 3, 4], [1, 3, 2, 4], "pearson", 0, seed=1)
    assert np.isfinite(value) and np.isnan(low) and np.isnan(high)


def test_skipped_genes_are_counted_not_scored():
    y = np.arange(10, dtype=float)
    pred = y.copy()
    pred[0] = np.nan
    status = ["skipped: no cis variants"] + ["ok"] * 9
    metrics, _ = evaluate_predictions(cross_gene_table(y, pred, status=status), "m", n_boot=0, seed=1)
    row = metric(metrics, "cross_gene", "pearson")
    assert row["n"] == 9 and row["n_skipped"] == 1 and "no cis variants x1" in row["note"]
    assert row["value"] == pytest.approx(1.0)


def test_per_gene_r_mean_median_and_wrong_sign_share():
    rng = np.random.default_rng(4)
    base = rng.normal(size=40)
    genes = {
        "Gpos": (base, base + 0.1 * rng.normal(size=40)),      # r ~ +1, significant
        "Gneg": (base, -base + 0.1 * rng.normal(size=40)),     # r ~ -1, significant, wrong sign
        "Gweak": (base, rng.normal(size=40)),                  # r near 0
        "Gconst": (base, np.full(40, 2.0)),                    # constant prediction: r undefined
        "Gskip": (base, np.full(40, np.nan)),                  # every row skipped
    }
    table = cross_individual_table(genes)
    metrics, per_gene = evaluate_predictions(table, "m", n_boot=300, seed=2)
    per_gene = per_gene.set_index("gene_id")
    expected = {g: stats.pearsonr(t, p)[0] for g, (t, p) in genes.items() if g in ("Gpos", "Gneg", "Gweak")}
    for gene, r in expected.items():
        assert per_gene.loc[gene, "r"] == pytest.approx(r)
    assert per_gene.loc["Gconst", "status"] == "undefined: constant prediction"
    assert per_gene.loc["Gskip", "status"] == "skipped: constant expression"
    mean_r = metric(metrics, "cross_individual", "mean_r")
    assert mean_r["value"] == pytest.approx(np.mean(list(expected.values())))
    assert mean_r["n"] == 3 and mean_r["n_skipped"] == 2
    assert metric(metrics, "cross_individual", "median_r")["value"] == pytest.approx(np.median(list(expected.values())))
    wrong = metric(metrics, "cross_individual", "wrong_sign_share")
    p_weak = per_gene.loc["Gweak", "p"]
    assert wrong["value"] == pytest.approx((1 + (p_weak < 0.05 and expected["Gweak"] < 0)) / 3)
    assert wrong["ci_low"] <= wrong["value"] <= wrong["ci_high"]


def test_per_gene_needs_three_individuals():
    table = cross_individual_table({"G": ([1.0, 2.0], [1.0, 3.0])})
    per_gene = per_gene_correlations(table)
    assert per_gene.iloc[0]["status"].startswith("undefined: fewer than 3")


def test_train_rows_are_not_scored_and_valid_is_reported_separately():
    y = np.arange(6, dtype=float)
    table = pd.concat([cross_gene_table(y, y, split="train").assign(gene_id=lambda d: d["gene_id"] + "r"),
                       cross_gene_table(y, -y, split="valid"),
                       cross_gene_table(y, y, split="test").assign(gene_id=lambda d: d["gene_id"] + "t")])
    metrics, _ = evaluate_predictions(table, "m", n_boot=0, seed=0)
    assert set(metrics["split"]) == {"valid", "test"}
    assert metric(metrics, "cross_gene", "pearson", "valid")["value"] == pytest.approx(-1)
    assert metric(metrics, "cross_gene", "pearson", "test")["value"] == pytest.approx(1)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.drop(columns="status"), "missing column"),
        (lambda d: d.assign(protocol="other"), "unknown protocol"),
        (lambda d: d.assign(status="bad"), "status must be"),
        (lambda d: d.assign(y_pred=np.nan), "no finite y_pred"),
        (lambda d: d.assign(individual="NA1"), "individual 'reference'"),
        (lambda d: pd.concat([d, d]), "duplicated"),
    ],
)
def test_bad_prediction_tables_are_refused(change, message):
    table = cross_gene_table(np.arange(5.0), np.arange(5.0))
    with pytest.raises(PredictionFormatError, match=message):
        evaluate_predictions(change(table), "m", n_boot=0, seed=0, source="x.parquet")


def test_summary_lists_models_then_labelled_published_anchors():
    y = np.arange(10.0)
    m1, _ = evaluate_predictions(cross_gene_table(y, y), "kmer_ridge", n_boot=0, seed=0)
    m2, _ = evaluate_predictions(cross_gene_table(y, -y), "gc_cpg", n_boot=0, seed=0)
    summary = summarise([m1, m2])
    ours = summary[summary["source"] == "this run"]
    assert set(ours["model"]) == {"kmer_ridge", "gc_cpg"} and len(ours) == 4
    published = summary[summary["source"] == "published (other data)"]
    assert len(published) == len(PUBLISHED)
    anchors = {(r.model, r.metric): r.value for r in published.itertuples()}
    assert anchors[("DExTER", "pearson")] == 0.64 and anchors[("DNABERT-2", "pearson")] == 0.69
    assert anchors[("GTA", "spearman")] == 0.65
    assert anchors[("elastic net (PrediXcan)", "mean_r")] == 0.28 and anchors[("Enformer", "mean_r")] == 0.05
