"""Elastic net: dosages from a hand-written VCF, exact paths, planted coefficients, skip reasons, controls."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import enet_path

from hapexpr.elastic_net import (
    Dosages,
    ElasticNetConfig,
    enet_path_screened,
    fit_chromosome,
    fit_gene,
    lambda_grid,
    make_folds,
    read_dosages,
)
from hapexpr.evaluate import evaluate_predictions
from hapexpr.protocols import PREDICTION_COLUMNS

VCF_TEXT = """##fileformat=VCFv4.2
##contig=<ID=22,length=100000>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3\tS4
22\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0|0\t0|1\t1|1\t1|0
22\t200\t.\tC\tT,G\t.\tPASS\t.\tGT\t0|0\t0|1\t2|1\t1|0
22\t300\t.\tA\t<DEL>\t.\tPASS\t.\tGT\t0|0\t0|1\t1|1\t1|0
22\t400\t.\tAT\tA\t.\tPASS\t.\tGT\t.|.\t0|1\t0|0\t0|0
22\t500\t.\tG\tC\t.\tPASS\t.\tGT\t0|0\t0|0\t0|0\t0|0
"""


def test_read_dosages_keeps_biallelic_counts_alt_alleles_and_skips_the_rest(tmp_path):
    path = tmp_path / "22.vcf"
    path.write_text(VCF_TEXT)
    dos = read_dosages(str(path), "chr22", ["S4", "S2", "S1", "NOTTHERE"])
    assert dos.samples == ["S4", "S2", "S1"]
    assert dos.positions.tolist() == [99, 399, 499]  # 0-based
    assert dos.values.tolist() == [[1, 1, 0], [0, 1, -1], [0, 0, 0]]
    assert dos.skipped["multiallelic"] == 1 and dos.skipped["symbolic"] == 1
    assert dos.ref.tolist() == ["A", "AT", "G"] and dos.alt.tolist() == ["G", "A", "C"]
    filtered = read_dosages(str(path), "chr22", ["S1", "S2", "S3", "S4"], maf=0.05)
    assert filtered.positions.tolist() == [99, 399] and filtered.skipped["below maf"] == 1


def test_read_dosages_refuses_a_vcf_without_our_individuals(tmp_path):
    path = tmp_path / "22.vcf"
    path.write_text(VCF_TEXT)
    with pytest.raises(ValueError, match="same ids"):
        read_dosages(str(path), "22", ["X1", "X2"])


def synthetic(n=300, p=400, causal=(10, 150, 333), effects=(0.8, -0.6, 0.5), noise=0.7, seed=0):
    rng = np.random.default_rng(seed)
    freqs = rng.uniform(0.05, 0.5, size=p)
    geno = rng.binomial(2, freqs, size=(n, p)).astype(float)
    x = (geno - geno.mean(axis=0)) / geno.std(axis=0)
    y = x[:, [c % p for c in causal]] @ np.array(effects) + rng.normal(scale=noise, size=n)
    return geno, x, y


def test_screened_path_equals_the_full_coordinate_descent_path():
    _, x, y = synthetic(n=120, p=300, seed=1)
    xc, yc = x - x.mean(axis=0), y - y.mean()
    lambdas = lambda_grid(x, y, 0.5, 30, 0.01)
    ours = enet_path_screened(xc, yc, lambdas, 0.5, tol=1e-8, max_iter=100_000)
    _, reference, _ = enet_path(xc, yc, l1_ratio=0.5, alphas=lambdas, tol=1e-8, max_iter=100_000)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    assert (ours[:, 0] == 0).all()  # lambda_max: every coefficient zero


def test_fit_gene_recovers_planted_coefficients():
    causal = (10, 150, 333)
    _, x, y = synthetic(causal=causal)
    fit = fit_gene(x, y, make_folds(len(y), 5, 0), ElasticNetConfig())
    top = set(np.argsort(-np.abs(fit.coef))[:3])
    assert top == set(causal)
    assert np.sign(fit.coef[list(causal)]).tolist() == [1, -1, 1]
    assert fit.cv_r2 > 0.4


def test_patience_does_not_change_the_chosen_lambda_on_a_clear_signal():
    _, x, y = synthetic(seed=3)
    folds = make_folds(len(y), 5, 0)
    early = fit_gene(x, y, folds, ElasticNetConfig(patience=20))
    full = fit_gene(x, y, folds, ElasticNetConfig(patience=0))
    assert early.lambda_index == full.lambda_index
    np.testing.assert_allclose(early.coef, full.coef)


def test_folds_are_seeded_and_balanced():
    folds = make_folds(23, 5, 4)
    assert np.bincount(folds).tolist() == [5, 5, 5, 4, 4]
    assert (folds == make_folds(23, 5, 4)).all() and not (folds == make_folds(23, 5, 5)).all()


def chromosome_case(n=200, p=300, seed=5):
    """Dosages of p variants 100 bp apart; gene G1 at the start has planted effects; people split 75/10/15 %."""
    geno, _, _ = synthetic(n=n, p=p, seed=seed)
    rng = np.random.default_rng(seed + 1)
    people = [f"P{i:03d}" for i in range(n)]
    n_train, n_valid = int(0.75 * n), int(0.1 * n)
    split = ["train"] * n_train + ["valid"] * n_valid + ["test"] * (n - n_train - n_valid)
    dos = Dosages("chr1", np.arange(p) * 100, np.array(["A"] * p, dtype=object), np.array(["G"] * p, dtype=object),
                  people, geno.T.astype(np.int8), {})
    y = geno[:, [5, 40]] @ np.array([1.0, -1.0]) + rng.normal(scale=0.6, size=n)
    genes = pd.DataFrame({"gene_id": ["G1"], "tss": [0], "split": "train"})
    expression = pd.DataFrame([["G1", *y]], columns=["gene_id", *people])
    individuals = pd.DataFrame({"individual": people, "split": split})
    return dos, genes, expression, individuals


def test_fit_chromosome_predicts_held_out_people_and_beats_a_shuffled_target():
    dos, genes, expression, individuals = chromosome_case()
    config = ElasticNetConfig(cis_window=100_000)
    pred, weights, summary = fit_chromosome(dos, genes, expression, individuals, config)
    assert list(pred.columns) == PREDICTION_COLUMNS and len(pred) == 200
    assert summary.loc[0, "status"] == "ok" and summary.loc[0, "n_cis_variants"] == 300
    assert {"chr1:501:A:G", "chr1:4001:A:G"} <= set(weights["variant_id"])  # the planted variants (1-based pos)
    top2 = weights.reindex(weights["weight"].abs().sort_values(ascending=False).index).head(2)
    assert set(top2["pos"]) == {501, 4001}
    metrics, _ = evaluate_predictions(pred, "elastic_net", n_boot=0, seed=0)
    r = metrics.query("split == 'test' and metric == 'mean_r'")["value"].iloc[0]
    shuffled = expression.copy()
    values = shuffled.iloc[0, 1:].to_numpy(float)
    train = (individuals["split"] == "train").to_numpy()
    values[train] = np.random.default_rng(0).permutation(values[train])  # break only the training signal
    shuffled.iloc[0, 1:] = values
    pred_s, _, _ = fit_chromosome(dos, genes, shuffled, individuals, config)
    metrics_s, per_gene_s = evaluate_predictions(pred_s, "shuffled", n_boot=0, seed=0)
    r_s = per_gene_s.query("split == 'test'")["r"].fillna(0).iloc[0]
    assert r > 0.6
    assert r > r_s + 0.4


@pytest.mark.parametrize("strand, first, last", [("+", 9000, 10900), ("-", 9100, 11000)])
def test_window_restriction_uses_only_the_variants_inside_the_sequence_window(strand, first, last):
    dos, genes, expression, individuals = chromosome_case()  # effects planted at positions 500 and 4000
    genes = genes.assign(tss=10_000, strand=strand)
    # window_bounds: forward [tss - W//2, tss - W//2 + W), minus [tss - (W - W//2 - 1), tss + W//2 + 1)
    pred, weights, summary = fit_chromosome(dos, genes, expression, individuals,
                                            ElasticNetConfig(cis_window=100_000, window=2000))
    assert summary.loc[0, "n_cis_variants"] == 20  # variants every 100 bp, 20 of them in the 2-kb window
    if len(weights):
        assert weights["pos"].between(first + 1, last + 1).all()  # 1-based positions in the window
    full, full_weights, _ = fit_chromosome(dos, genes, expression, individuals, ElasticNetConfig(cis_window=100_000))
    assert {501, 4001} <= set(full_weights["pos"]) and not {501, 4001} & set(weights["pos"])
    with pytest.raises(ValueError, match="strand"):
        fit_chromosome(dos, genes.drop(columns="strand"), expression, individuals,
                       ElasticNetConfig(window=2000))


def test_bad_genes_are_skipped_with_a_reason_never_dropped():
    dos, genes, expression, individuals = chromosome_case(n=60, p=50)
    people = list(expression.columns[1:])
    y = expression.iloc[0, 1:].to_numpy(float)
    rows = [
        ["G_const", *np.full(60, 3.0)],
        ["G_far", *y],
        ["G_nan", *np.where(np.arange(60) % 7 == 0, np.nan, y)],
    ]
    expression = pd.concat([expression, pd.DataFrame(rows, columns=expression.columns)], ignore_index=True)
    genes = pd.DataFrame({"gene_id": ["G1", "G_const", "G_far", "G_nan", "G_missing"],
                          "tss": [0, 0, 10_000_000, 0, 0], "split": "train"})
    pred, weights, summary = fit_chromosome(dos, genes, expression, individuals, ElasticNetConfig(cis_window=10_000))
    status = summary.set_index("gene_id")["status"]
    assert status["G1"] == "ok"
    assert status["G_const"] == "skipped: constant expression"
    assert status["G_far"] == "skipped: no cis variants"
    assert status["G_missing"] == "skipped: no target"
    assert status["G_nan"] == "ok"
    assert set(pred["gene_id"]) == set(genes["gene_id"])  # every gene has its rows
    assert len(pred) == 5 * 60
    nan_rows = pred[(pred["gene_id"] == "G_nan") & pred["y_true"].isna()]
    assert len(nan_rows) == 9 and (nan_rows["status"] == "skipped: no target").all()
    assert nan_rows["y_pred"].isna().all()
    const = pred[pred["gene_id"] == "G_const"]
    assert (const["status"] == "skipped: constant expression").all() and const["y_pred"].isna().all()
    few = individuals.assign(split=["train"] * 4 + ["test"] * 56)
    _, _, summary_few = fit_chromosome(dos, genes.head(1), expression, few, ElasticNetConfig(folds=5))
    assert summary_few.loc[0, "status"] == "skipped: too few training individuals"
    assert summary_few.loc[0, "n_train"] == 4


def test_individual_without_genotypes_gets_a_skipped_row():
    dos, genes, expression, individuals = chromosome_case(n=80, p=60)
    expression["EXTRA"] = 1.0
    individuals = pd.concat([individuals, pd.DataFrame({"individual": ["EXTRA"], "split": ["test"]})])
    pred, _, _ = fit_chromosome(dos, genes, expression, individuals, ElasticNetConfig())
    extra = pred[pred["individual"] == "EXTRA"].iloc[0]
    assert extra["status"] == "skipped: no haplotypes" and np.isnan(extra["y_pred"])


def test_rows_cover_training_genes_only_and_the_held_out_population():
    dos, genes, expression, individuals = chromosome_case(n=120, p=80)
    genes = pd.concat([genes, genes.assign(gene_id="G_test", split="test")], ignore_index=True)
    expression = pd.concat([expression, expression.assign(gene_id="G_test")], ignore_index=True)
    individuals.loc[individuals.index[-20:], "split"] = "test_population"
    pred, _, summary = fit_chromosome(dos, genes, expression, individuals, ElasticNetConfig(cis_window=100_000))
    assert summary["gene_id"].tolist() == ["G1"]  # never fitted on a gene it has no rows for
    assert set(pred["gene_id"]) == {"G1"}
    assert set(pred["protocol"]) == {"cross_individual", "cross_population"}
    population = pred[pred["protocol"] == "cross_population"]
    assert set(population["individual"]) == set(individuals["individual"].iloc[-20:])
    assert set(population["split"]) == {"test"} and (population["status"] == "ok").all()
    trained = individuals.loc[individuals["split"] == "train", "individual"]
    assert not set(trained) & set(population["individual"])
