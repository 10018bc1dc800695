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
    NOT_APPLICABLE,
    evaluate_models,
    evaluate_predictions,
    per_gene_correlations,
    read_predictions,
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
    assert row["n"] == 9 and row["n_missing"] == 1 and row["n_skipped"] == 1 and "no cis variants x1" in row["note"]
    assert row["value"] == pytest.approx(1.0)


def test_personal_metrics_match_a_hand_computed_case():
    y = [1.0, 2.0, 3.0, 4.0, 5.0]
    genes = {
        "Gpos": (y, [1.0, 2.0, 3.0, 4.0, 5.0]),    # r = 1
        "Gneg": (y, [5.0, 4.0, 3.0, 2.0, 1.0]),    # r = -1, p = 0: a significant wrong sign
        "Gswap": (y, [1.0, 2.0, 3.0, 5.0, 4.0]),   # r = 1 - 6 * 2 / (5 * 24) = 0.9, p = 0.037 > 0 (right sign)
        "Gconst": (y, [2.0] * 5),                  # constant prediction: counted as r = 0
    }
    metrics, per_gene = evaluate_predictions(cross_individual_table(genes), "m", n_boot=0, seed=0)
    per_gene = per_gene.set_index("gene_id")
    assert per_gene.loc["Gswap", "r"] == pytest.approx(0.9)
    assert per_gene.loc["Gconst", "r"] == 0 and per_gene.loc["Gconst", "status"] == "missing: constant prediction"
    expected = {"mean_r": (1 - 1 + 0.9 + 0) / 4, "median_r": (0 + 0.9) / 2, "mean_abs_r": (1 + 1 + 0.9) / 4,
                "share_positive_r": 2 / 4, "significant_wrong_sign_share": 1 / 4}
    for name, value in expected.items():
        row = metric(metrics, "cross_individual", name)
        assert row["value"] == pytest.approx(value), name
        assert row["n"] == 4 and row["n_missing"] == 1


def test_personal_metrics_have_bootstrap_intervals_around_the_estimate():
    rng = np.random.default_rng(4)
    base = rng.normal(size=40)
    genes = {f"G{i}": (base, base * rng.normal() + rng.normal(size=40)) for i in range(30)}
    metrics, _ = evaluate_predictions(cross_individual_table(genes), "m", n_boot=300, seed=2)
    for name in ("mean_r", "median_r", "mean_abs_r", "share_positive_r", "significant_wrong_sign_share"):
        row = metric(metrics, "cross_individual", name)
        assert row["ci_low"] <= row["value"] <= row["ci_high"], name
        assert row["ci_high"] > row["ci_low"] or row["value"] in (0, 1), name


def test_per_gene_needs_three_individuals_and_a_varying_target():
    table = cross_individual_table({"G": ([1.0, 2.0], [1.0, 3.0]), "Gflat": ([2.0] * 4, [1.0, 2.0, 3.0, 4.0])})
    assert per_gene_correlations(table).empty  # neither gene has an evaluable target
    two_predicted = cross_individual_table({"G": ([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, np.nan, np.nan])})
    row = per_gene_correlations(two_predicted).iloc[0]
    assert row["status"] == "missing: fewer than 3 individuals with a prediction" and row["r"] == 0


def two_models():
    """Model A predicts every gene; model B has no rows for G3 and skips G2; G4's target is constant."""
    y = [1.0, 2.0, 3.0, 4.0, 5.0]
    a = cross_individual_table({"G1": (y, y), "G2": (y, y[::-1]), "G3": (y, y), "G4": ([3.0] * 5, y)})
    b = cross_individual_table({"G1": (y, [1.0, 2.0, 3.0, 5.0, 4.0]), "G2": (y, [np.nan] * 5),
                                "G4": ([3.0] * 5, y)})
    return a, b


def test_models_share_one_gene_set_with_missing_genes_counted_as_zero():
    a, b = two_models()
    metrics, per_gene = evaluate_models({"a": a, "b": b}, n_boot=0, seed=0)
    assert list(per_gene["b"]["gene_id"]) == ["G1", "G2", "G3"]  # G4 (constant target) is no one's gene
    assert per_gene["b"].set_index("gene_id").loc["G3", "status"] == "missing: no prediction rows"
    assert per_gene["b"].set_index("gene_id").loc["G2", "status"] == "missing: skipped: constant expression"
    row_a = metric(metrics["a"], "cross_individual", "mean_r")
    row_b = metric(metrics["b"], "cross_individual", "mean_r")
    assert row_a["n"] == row_b["n"] == 3
    assert row_a["n_missing"] == 0 and row_b["n_missing"] == 2
    assert row_a["value"] == pytest.approx((1 - 1 + 1) / 3)
    assert row_b["value"] == pytest.approx((0.9 + 0 + 0) / 3)
    assert row_b["n_skipped"] == 5  # the five skipped rows of G2


def test_every_model_of_a_protocol_has_the_same_n():
    a, b = two_models()
    cg_a = cross_gene_table(np.arange(10.0), np.arange(10.0))
    cg_b = cross_gene_table(np.arange(10.0), -np.arange(10.0)).iloc[1:]
    metrics, _ = evaluate_models({"a": pd.concat([a, cg_a]), "b": pd.concat([b, cg_b]), "elastic_net": a},
                                 n_boot=0, seed=0)
    rows = pd.concat(metrics.values())
    scored = rows[rows["metric"] != NOT_APPLICABLE]
    assert (scored.groupby(["protocol", "split"])["n"].nunique() == 1).all()
    cg = rows[(rows["protocol"] == "cross_gene") & (rows["metric"] == "pearson")].set_index("model")
    assert cg.loc["a", "n"] == 9 and cg.loc["a", "n_missing"] == 0 and cg.loc["b", "n_missing"] == 1
    assert "left out for every model" in cg.loc["a", "note"]


def test_paired_comparison_with_the_elastic_net_on_the_same_genes():
    a, b = two_models()
    metrics, _ = evaluate_models({"elastic_net": a, "b": b}, n_boot=200, seed=0)
    diff = metric(metrics["b"], "cross_individual", "paired_diff_vs_elastic_net")
    # r of b minus r of the elastic net per gene: G1 0.9 - 1, G2 0 - (-1), G3 0 - 1
    assert diff["value"] == pytest.approx(((0.9 - 1) + 1 - 1) / 3) and diff["n"] == 3
    assert diff["ci_low"] <= diff["value"] <= diff["ci_high"]
    better = metric(metrics["b"], "cross_individual", "share_better_than_elastic_net")
    assert better["value"] == pytest.approx(1 / 3)
    assert not (metrics["elastic_net"]["metric"].str.contains("vs_elastic_net")).any()


def test_models_that_cannot_do_a_protocol_get_a_not_applicable_row_with_the_reason():
    a, _ = two_models()
    unseen = a.assign(protocol="unseen_gene_individual")
    cross_gene_only = cross_gene_table(np.arange(5.0), np.arange(5.0))
    metrics, _ = evaluate_models({"elastic_net": a, "cnn": pd.concat([a, unseen]), "gc_cpg": cross_gene_only},
                                 n_boot=0, seed=0)
    na = metric(metrics["elastic_net"], "unseen_gene_individual", NOT_APPLICABLE)
    assert na["note"].startswith("cannot predict an unseen gene") and np.isnan(na["value"])
    assert metric(metrics["elastic_net"], "cross_gene", NOT_APPLICABLE)["note"].startswith("cannot predict")
    for protocol in ("cross_individual", "unseen_gene_individual"):
        assert "no personal predictions" in metric(metrics["gc_cpg"], protocol, NOT_APPLICABLE)["note"]
    assert set(metrics["cnn"].loc[metrics["cnn"]["metric"] == NOT_APPLICABLE, "protocol"]) == {"cross_gene"}
    # cross_population: no model has it, so no one gets a row for it
    assert not any((m["protocol"] == "cross_population").any() for m in metrics.values())


def test_full_gta_is_compared_with_its_prompt_only_control():
    a, b = two_models()
    y = np.arange(10.0)
    gta = pd.concat([a, cross_gene_table(y, y)])
    prompt = pd.concat([b, cross_gene_table(y, y[::-1])])
    metrics, _ = evaluate_models({"gta": gta, "gta_prompt_only": prompt}, n_boot=100, seed=0)
    assert metric(metrics["gta"], "cross_gene", "pearson_diff_vs_gta_prompt_only")["value"] == pytest.approx(2.0)
    ci = metric(metrics["gta"], "cross_individual", "paired_diff_vs_gta_prompt_only")
    assert ci["value"] == pytest.approx(((1 - 0.9) + (-1 - 0) + (1 - 0)) / 3)
    assert not metrics["gta_prompt_only"]["metric"].str.contains("_vs_").any()


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
    anchors = {(r.model, r.protocol): r for r in published.itertuples()}
    assert anchors[("elastic net (PrediXcan)", "cross_individual")].value == 0.283
    assert anchors[("elastic net (PrediXcan)", "cross_population")].value == 0.160
    assert anchors[("Enformer", "cross_individual")].value == 0.055
    assert anchors[("every published model", "unseen_gene_individual")].value == 0.05
    assert published["citation"].str.len().min() > 0 and published["data"].str.len().min() > 0
    assert set(published["protocol"]) <= {"cross_gene", "cross_individual", "cross_population",
                                          "unseen_gene_individual"}


def test_scoring_from_files_reads_held_out_rows_as_categoricals_with_the_same_result(tmp_path):
    a, b = two_models()
    a = pd.concat([a, a.assign(split="train", individual=a["individual"] + "t")])
    paths = {}
    for name, table in {"elastic_net": a, "b": b}.items():
        paths[name] = tmp_path / f"{name}.parquet"
        table.to_parquet(paths[name])
    read = {name: read_predictions(str(path)) for name, path in paths.items()}
    assert set(read["elastic_net"]["split"]) == {"test"} and read["b"]["gene_id"].dtype == "category"
    from_files, per_gene = evaluate_models(read, n_boot=50, seed=0)
    in_memory, _ = evaluate_models({"elastic_net": a, "b": b}, n_boot=50, seed=0)
    for name in in_memory:
        pd.testing.assert_frame_equal(from_files[name], in_memory[name])
    assert per_gene["b"].set_index("gene_id").loc["G3", "status"] == "missing: no prediction rows"
