"""gc_cpg and kmer_ridge: fits with known answers, shuffled-target controls, the two protocols, save/load."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hapexpr.evaluate import PREDICTION_COLUMNS, evaluate_predictions
from hapexpr.models import (
    GcCpgRegressor,
    KmerRidge,
    load_model,
    make_model,
    predict_cross_gene,
    predict_cross_individual,
    train_cross_gene,
)

W = 200


def random_windows(n: int, seed: int, gc: np.ndarray | None = None) -> list[str]:
    rng = np.random.default_rng(seed)
    gc = np.full(n, 0.5) if gc is None else gc
    out = []
    for g in gc:
        p = [(1 - g) / 2, g / 2, g / 2, (1 - g) / 2]
        out.append("".join(rng.choice(list("ACGT"), size=W, p=p)))
    return out


def planted_motif_data(n: int, seed: int):
    """y = 0.5 * (occurrences of TATAAA) + noise: a 6-mer signal that GC and CpG cannot see."""
    rng = np.random.default_rng(seed)
    windows = random_windows(n, seed)
    copies = rng.integers(0, 5, size=n)
    for i, c in enumerate(copies):
        w = list(windows[i])
        for j in range(c):
            w[20 + 30 * j : 26 + 30 * j] = "TATAAA"
        windows[i] = "".join(w)
    y = 0.5 * copies + rng.normal(scale=0.3, size=n)
    return windows, y


def test_gc_cpg_recovers_a_linear_gc_effect():
    gc = np.linspace(0.2, 0.8, 120)
    windows = random_windows(120, 1, gc)
    y = 3.0 * gc + 1.0
    model = GcCpgRegressor().fit(windows, y)
    assert stats.pearsonr(model.predict(windows), y)[0] > 0.95


def test_kmer_ridge_finds_a_planted_motif_and_beats_gc_cpg_and_a_shuffled_control():
    windows, y = planted_motif_data(300, 2)
    test_windows, test_y = planted_motif_data(150, 3)
    ridge = KmerRidge(ks=(1, 2, 3, 4, 5, 6)).fit(windows, y)
    r_ridge = stats.pearsonr(ridge.predict(test_windows), test_y)[0]
    r_gc = stats.pearsonr(GcCpgRegressor().fit(windows, y).predict(test_windows), test_y)[0]
    shuffled = KmerRidge(ks=(1, 2, 3, 4, 5, 6)).fit(windows, np.random.default_rng(0).permutation(y))
    r_shuffled = stats.pearsonr(shuffled.predict(test_windows), test_y)[0]
    assert r_ridge > 0.6
    assert r_ridge > r_gc + 0.3
    assert r_ridge > r_shuffled + 0.4


def test_kmer_ridge_gcv_matches_explicit_leave_one_out():
    rng = np.random.default_rng(5)
    windows = random_windows(25, 5)
    y = rng.normal(size=25)
    model = KmerRidge(ks=(1, 2), alphas=(1.0, 10.0)).fit(windows, y)
    x = np.nan_to_num(model._standardise(model._features(windows)))
    for alpha, mse in zip(model.alphas, model.cv_mse_):
        errors = []
        for i in range(25):
            keep = np.arange(25) != i
            xk, yk = x[keep], y[keep]
            # with x standardised on all rows, LOO of the centred ridge includes the intercept's leverage
            xm, ym = xk.mean(axis=0), yk.mean()
            coef = np.linalg.solve((xk - xm).T @ (xk - xm) + alpha * np.eye(x.shape[1]), (xk - xm).T @ (yk - ym))
            errors.append(y[i] - ((x[i] - xm) @ coef + ym))
        assert mse == pytest.approx(np.mean(np.square(errors)), rel=0.05)


def test_kmer_ridge_uses_validation_genes_when_given():
    windows, y = planted_motif_data(120, 6)
    valid_windows, valid_y = planted_motif_data(60, 7)
    model = KmerRidge(ks=(2, 6), alphas=(1e-3, 1e2, 1e9)).fit(windows, y, valid=(valid_windows, valid_y))
    assert model.alpha_selection_ == "validation genes"
    assert model.alpha_ != 1e9


def test_fit_refuses_nan_targets():
    with pytest.raises(ValueError, match="finite targets"):
        GcCpgRegressor().fit(random_windows(5, 0), [1, 2, np.nan, 4, 5])


@pytest.mark.parametrize("name", ["gc_cpg", "kmer_ridge"])
def test_save_and_load_give_identical_predictions(tmp_path, name):
    windows, y = planted_motif_data(60, 8)
    model = make_model(name, {"k": [1, 3], "alphas": [1.0, 100.0]}).fit(windows, y)
    model.save_pretrained(tmp_path / name)
    assert (tmp_path / name / "model.safetensors").exists() and (tmp_path / name / "config.json").exists()
    loaded = load_model(name, tmp_path / name)
    np.testing.assert_allclose(loaded.predict(windows), model.predict(windows))


def genes_and_windows(n_genes=60, seed=9):
    windows, y = planted_motif_data(n_genes, seed)
    split = np.array(["train"] * (n_genes - 20) + ["valid"] * 10 + ["test"] * 10)
    genes = pd.DataFrame({"gene_id": [f"G{i}" for i in range(n_genes)], "split": split, "y_cross_gene": y,
                          "chrom": "chr1", "strand": "+"})
    ref = pd.DataFrame({"gene_id": genes["gene_id"], "hap_id": 0, "window": windows})
    return genes, ref


def test_cross_gene_protocol_trains_on_train_and_predicts_every_gene():
    genes, ref = genes_and_windows()
    genes.loc[3, "y_cross_gene"] = np.nan  # a training gene without target is left out, not a crash
    model = train_cross_gene(KmerRidge(ks=(6,), alphas=(1.0, 10.0, 100.0)), genes, ref)
    assert model.alpha_selection_ == "validation genes"
    pred = predict_cross_gene(model, genes, ref)
    assert list(pred.columns) == PREDICTION_COLUMNS
    assert len(pred) == len(genes) and set(pred["individual"]) == {"reference"}
    assert pred.loc[3, "status"] == "skipped: NaN target" and np.isnan(pred.loc[3, "y_pred"])
    metrics, _ = evaluate_predictions(pred, "kmer_ridge", n_boot=50, seed=0)
    assert set(metrics["split"]) == {"valid", "test"}


def test_cross_gene_refuses_a_gene_without_reference_window():
    genes, ref = genes_and_windows()
    with pytest.raises(ValueError, match="no reference window"):
        train_cross_gene(GcCpgRegressor(), genes, ref[ref["gene_id"] != "G0"])


def test_cross_individual_averages_two_haplotypes_once_per_unique_window():
    windows = pd.DataFrame({"gene_id": ["G1"] * 3 + ["G2"], "hap_id": [0, 1, 2, 0],
                            "window": ["AAAA", "CCCC", "GGGG", "ACGT"]})

    class Counting(GcCpgRegressor):
        calls = []

        def predict(self, sequences):
            self.calls.append(list(sequences))
            return np.array([{"A": 0.0, "C": 1.0, "G": 2.0}.get(s[0], 5.0) if len(set(s)) == 1 else 7.0
                             for s in sequences])

    model = Counting()
    hap_map = pd.DataFrame({
        "gene_id": ["G1"] * 6 + ["G2"] * 6,
        "individual": ["I1", "I1", "I2", "I2", "I3", "I3"] * 2,
        "haplotype": [1, 2] * 6,
        "hap_id": [0, 1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 0],
    })
    expression = pd.DataFrame({"gene_id": ["G1", "G2", "G3"], "I1": [1.0, 2.0, 3.0], "I2": [np.nan, 1.0, 1.0],
                               "I3": [3.0, 3.0, 3.0], "I4": [0.0, 0.0, 0.0]})
    individuals = pd.DataFrame({"individual": ["I1", "I2", "I3", "I4", "I5"],
                                "split": ["train", "test", "test", "valid", "none"]})
    pred = predict_cross_individual(model, windows, hap_map, expression, individuals, ["G1", "G2", "G3"])
    assert len(model.calls) == 1 and len(model.calls[0]) == 4  # each unique window predicted once
    assert list(pred.columns) == PREDICTION_COLUMNS
    got = pred.set_index(["gene_id", "individual"])
    assert got.loc[("G1", "I1"), "y_pred"] == 0.5
    assert got.loc[("G1", "I3"), "y_pred"] == 2.0
    assert got.loc[("G1", "I2"), "status"] == "skipped: NaN target" and np.isnan(got.loc[("G1", "I2"), "y_pred"])
    assert got.loc[("G1", "I4"), "status"] == "skipped: no haplotypes"  # I4 missing from the map
    assert got.loc[("G3", "I1"), "status"] == "skipped: no haplotypes"  # G3 has no windows
    assert got.loc[("G2", "I3"), "split"] == "test" and got.loc[("G2", "I3"), "y_true"] == 3.0
    assert "I5" not in pred["individual"].values
    assert set(pred["protocol"]) == {"cross_individual"}


def test_cross_individual_with_a_hand_written_haplotype_store():
    haplotypes = pytest.importorskip("hapexpr.haplotypes", reason="the haplotypes stage (branch haplotypes) is not merged")
    W_store = 8
    genes = pd.DataFrame({"gene_id": ["G1", "G2"], "gene_name": ["A", "B"], "biotype": "protein_coding",
                          "chrom": "chr1", "tss": [100, 500], "strand": ["+", "-"], "split": "train",
                          "y_cross_gene": [1.0, 2.0]})
    sequences = pd.DataFrame({
        "gene_id": ["G1", "G1", "G2"], "hap_id": [0, 1, 0],
        "sequence": ["AAAACGCGAAAA", "AAAACGCGCGAAAA", "TTTTGGGGTTTT"],
        "tss_offset": [4, 4, 6],
    })
    windows = haplotypes.fixed_windows(sequences, genes, W_store)
    assert set(windows.columns) >= {"gene_id", "hap_id", "window"}
    assert (windows["window"].str.len() == W_store).all()
    hap_map = pd.DataFrame({"gene_id": ["G1", "G1", "G2", "G2"], "individual": ["I1"] * 4,
                            "haplotype": [1, 2, 1, 2], "hap_id": [0, 1, 0, 0]})
    model = GcCpgRegressor().fit(["AAAA", "CCGG", "ACGT", "ATAT"], [0.0, 2.0, 1.0, 0.0])
    expression = pd.DataFrame({"gene_id": ["G1", "G2"], "I1": [1.0, 2.0]})
    individuals = pd.DataFrame({"individual": ["I1"], "split": ["test"]})
    pred = predict_cross_individual(model, windows, hap_map, expression, individuals, ["G1", "G2"])
    by_hap = dict(zip(zip(windows["gene_id"], windows["hap_id"]), model.predict(windows["window"].tolist())))
    g1 = pred.set_index("gene_id").loc["G1", "y_pred"]
    assert g1 == pytest.approx((by_hap[("G1", 0)] + by_hap[("G1", 1)]) / 2)
