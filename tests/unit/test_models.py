"""gc_cpg and kmer_ridge: fits with known answers, shuffled-target controls, training and prediction through the
haplotype store and the contract module, save/load."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hapdata import write_store
from hapexpr.evaluate import evaluate_predictions
from hapexpr.models import (
    GcCpgRegressor,
    KmerRidge,
    load_model,
    make_model,
    predict_chromosome,
    train_sequence_model,
)
from hapexpr.protocols import PREDICTION_COLUMNS

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


def genes_and_store(tmp_path, n_genes=60, seed=9):
    """Genes with a planted-motif target and a store holding their reference windows (W bp, TSS at W // 2)."""
    windows, y = planted_motif_data(n_genes, seed)
    split = np.array(["train"] * (n_genes - 20) + ["valid"] * 10 + ["test"] * 10)
    genes = pd.DataFrame({"gene_id": [f"G{i}" for i in range(n_genes)], "split": split, "y_cross_gene": y,
                          "chrom": "chr1", "tss": 1000 * np.arange(n_genes), "strand": "+"})
    sequences = pd.DataFrame({"gene_id": genes["gene_id"], "hap_id": 0, "sequence": windows, "tss_offset": W // 2})
    hap_map = pd.DataFrame({"gene_id": [], "individual": [], "haplotype": [], "hap_id": []})
    return genes, write_store(tmp_path, "chr1", sequences, hap_map, W)


def test_cross_gene_model_trains_on_train_genes_and_predicts_every_gene(tmp_path):
    genes, store = genes_and_store(tmp_path)
    genes.loc[3, "y_cross_gene"] = np.nan  # a training gene without target is left out, not a crash
    model = train_sequence_model("kmer_ridge", {"k": [6], "alphas": [1.0, 10.0, 100.0]}, genes,
                                 [store["sequences"]], W)
    assert model.alpha_selection_ == "validation genes"
    pred = predict_chromosome(model, ["cross_gene"], genes, store["sequences"], store["map"], None, None, W)
    assert list(pred.columns) == PREDICTION_COLUMNS
    assert len(pred) == len(genes) and set(pred["individual"]) == {"reference"}
    row = pred.set_index("gene_id").loc["G3"]
    assert row["status"] == "skipped: no target" and np.isnan(row["y_pred"])
    metrics, _ = evaluate_predictions(pred, "kmer_ridge", n_boot=50, seed=0)
    assert set(metrics["split"]) == {"valid", "test"}


def test_cross_gene_model_trains_with_an_empty_validation_split(tmp_path):
    genes, store = genes_and_store(tmp_path)
    genes["split"] = genes["split"].replace("valid", "train")
    model = train_sequence_model("kmer_ridge", {"k": [6], "alphas": [1.0, 10.0]}, genes, [store["sequences"]], W)
    assert model.alpha_selection_ == "leave-one-out (GCV)"


def test_cross_gene_model_refuses_a_store_without_a_training_gene(tmp_path):
    genes, store = genes_and_store(tmp_path)
    genes = pd.concat([genes, genes.iloc[:1].assign(gene_id="ABSENT")], ignore_index=True)
    with pytest.raises(ValueError, match="gene ABSENT, hap_id 0"):
        train_sequence_model("gc_cpg", {}, genes, [store["sequences"]], W)


def test_a_model_asking_for_a_wider_window_than_the_store_is_refused(tmp_path):
    genes, store = genes_and_store(tmp_path)
    with pytest.raises(ValueError, match=f"built at {W} bp"):
        train_sequence_model("gc_cpg", {}, genes, [store["sequences"]], 2 * W)
