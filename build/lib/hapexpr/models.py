"""Sequence baselines `gc_cpg` and `kmer_ridge` (scikit-learn estimators on window strings) and their protocols.

Both are trained once, cross-gene, on the reference windows of the training genes; `cross_gene` predicts the
reference window of every gene, `cross_individual` applies the same model to each unique personal haplotype window
and averages an individual's two haplotypes. Weights are saved as safetensors plus a config.json.
"""

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import load_file, save_file
from sklearn.base import BaseEstimator, RegressorMixin

from hapexpr.evaluate import PREDICTION_COLUMNS
from hapexpr.io import atomic_path
from hapexpr.kmers import DEFAULT_KS, gc_cpg, kmer_frequencies

log = logging.getLogger(__name__)

DEFAULT_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6)


class _LinearOnFeatures(RegressorMixin, BaseEstimator):
    """Standardised features -> linear model; subclasses define `_features` and `_solve`."""

    def _features(self, sequences: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def _standardise(self, features: np.ndarray) -> np.ndarray:
        return (features - self.mean_) / self.scale_

    def fit(self, sequences: Sequence[str], y: np.ndarray, valid: tuple[Sequence[str], np.ndarray] | None = None):
        y = np.asarray(y, dtype=np.float64)
        features = self._features(sequences)
        if len(features) != len(y):
            raise ValueError(f"{len(features)} sequences but {len(y)} targets")
        if len(y) < 3 or not np.isfinite(y).all():
            raise ValueError(f"need at least 3 finite targets to fit, got {len(y)} ({np.isnan(y).sum()} NaN)")
        self.mean_ = np.nanmean(features, axis=0)
        scale = features.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        x = np.nan_to_num(self._standardise(features))
        valid_xy = None
        if valid is not None and len(valid[1]) >= 3:
            valid_xy = (np.nan_to_num(self._standardise(self._features(valid[0]))), np.asarray(valid[1], float))
        self._solve(x, y, valid_xy)
        return self

    def predict(self, sequences: Sequence[str]) -> np.ndarray:
        x = np.nan_to_num(self._standardise(self._features(sequences)))
        return x @ self.coef_ + self.intercept_

    def _config(self) -> dict:
        return {"model": type(self).__name__, **self.get_params()}

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """config.json + model.safetensors (feature mean and scale, coefficients, intercept)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {"mean": self.mean_, "scale": self.scale_, "coef": self.coef_,
                   "intercept": np.array([self.intercept_])}
        with atomic_path(directory / "model.safetensors") as tmp:
            save_file({k: np.ascontiguousarray(v, dtype=np.float64) for k, v in tensors.items()}, str(tmp))
        with atomic_path(directory / "config.json") as tmp:
            tmp.write_text(json.dumps({**self._config(), **self._fitted_config()}, indent=2) + "\n")

    def _fitted_config(self) -> dict:
        return {}

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike):
        directory = Path(directory)
        config = json.loads((directory / "config.json").read_text())
        if config.pop("model") != cls.__name__:
            raise ValueError(f"{directory}/config.json is not a {cls.__name__}")
        fitted = {k: config.pop(k) for k in list(config) if k.endswith("_")}
        model = cls(**config)
        tensors = load_file(str(directory / "model.safetensors"))
        model.mean_, model.scale_, model.coef_ = tensors["mean"], tensors["scale"], tensors["coef"]
        model.intercept_ = float(tensors["intercept"][0])
        for k, v in fitted.items():
            setattr(model, k, v)
        return model


class GcCpgRegressor(_LinearOnFeatures):
    """Ordinary least squares on the window's GC fraction and CpG count: the floor a sequence model must beat."""

    def _features(self, sequences):
        return gc_cpg(list(sequences))

    def _solve(self, x, y, valid_xy):
        design = np.column_stack([np.ones(len(y)), x])
        beta, *_ = np.linalg.lstsq(design, y, rcond=None)
        self.intercept_, self.coef_ = float(beta[0]), beta[1:]


class KmerRidge(_LinearOnFeatures):
    """Ridge regression on standardised k-mer frequencies of the whole window.

    The penalty is chosen among `alphas` by the validation genes' squared error when they are given, otherwise
    by efficient leave-one-out (generalised) cross-validation over the training genes; one thin SVD serves all.
    """

    def __init__(self, ks: Sequence[int] = DEFAULT_KS, alphas: Sequence[float] = DEFAULT_ALPHAS):
        self.ks = ks
        self.alphas = alphas

    def _features(self, sequences):
        return kmer_frequencies(list(sequences), self.ks)

    def _config(self):
        return {"model": type(self).__name__, "ks": [int(k) for k in self.ks], "alphas": [float(a) for a in self.alphas]}

    def _fitted_config(self):
        return {"alpha_": self.alpha_, "alpha_selection_": self.alpha_selection_}

    def _solve(self, x, y, valid_xy):
        y_mean = y.mean()
        yc = y - y_mean
        u, s, vt = np.linalg.svd(x, full_matrices=False)
        uty = u.T @ yc
        scores = []
        for alpha in self.alphas:
            shrink = s / (s**2 + alpha)
            coef = vt.T @ (shrink * uty)
            if valid_xy is not None:
                err = valid_xy[1] - (valid_xy[0] @ coef + y_mean)
            else:
                hat = (u**2) @ (s**2 / (s**2 + alpha)) + 1.0 / len(y)
                err = (yc - x @ coef) / (1.0 - hat)
            scores.append(float(np.mean(err**2)))
        best = int(np.argmin(scores))
        self.alpha_ = float(self.alphas[best])
        self.alpha_selection_ = "validation genes" if valid_xy is not None else "leave-one-out (GCV)"
        self.cv_mse_ = scores
        self.coef_ = vt.T @ ((s / (s**2 + self.alpha_)) * uty)
        self.intercept_ = float(y_mean)
        log.info("kmer_ridge: alpha %g chosen by %s (MSE per alpha: %s)", self.alpha_, self.alpha_selection_,
                 ", ".join(f"{a:g}={m:.4g}" for a, m in zip(self.alphas, scores)))


SEQUENCE_MODELS = {"gc_cpg": GcCpgRegressor, "kmer_ridge": KmerRidge}


def make_model(name: str, params: dict | None = None) -> _LinearOnFeatures:
    """A sequence model by its config name, with the config's model properties (unknown keys are ignored)."""
    params = params or {}
    if name == "gc_cpg":
        return GcCpgRegressor()
    if name == "kmer_ridge":
        return KmerRidge(ks=params.get("k", DEFAULT_KS), alphas=params.get("alphas", DEFAULT_ALPHAS))
    raise ValueError(f"unknown sequence model {name!r}; known: {sorted(SEQUENCE_MODELS)}")


def load_model(name: str, directory: str | os.PathLike) -> _LinearOnFeatures:
    return SEQUENCE_MODELS[name].from_pretrained(directory)


def windows_from_store(sequences: pd.DataFrame, genes: pd.DataFrame, window: int) -> pd.DataFrame:
    """Fixed-length windows (gene_id, hap_id, window) of a haplotype store (the haplotypes stage's contract)."""
    from hapexpr.haplotypes import fixed_windows

    return fixed_windows(sequences, genes, window)


def train_cross_gene(model: _LinearOnFeatures, genes: pd.DataFrame, reference_windows: pd.DataFrame):
    """Fit on the reference windows of the `train` genes; the `valid` genes tune the penalty when present."""
    ref = reference_windows[reference_windows["hap_id"] == 0].set_index("gene_id")["window"]
    missing = genes.loc[~genes["gene_id"].isin(ref.index), "gene_id"]
    if len(missing):
        raise ValueError(f"{len(missing)} genes have no reference window (hap_id 0) in the haplotype store, "
                         f"e.g. {list(missing[:5])}; rebuild results/haplotypes")
    usable = genes[np.isfinite(genes["y_cross_gene"].astype(float))]
    if len(usable) < len(genes):
        log.warning("%d genes without a finite cross-gene target are left out of training", len(genes) - len(usable))
    train = usable[usable["split"] == "train"]
    valid = usable[usable["split"] == "valid"]
    if len(train) < 3:
        raise ValueError(f"only {len(train)} training genes (split 'train' in genes.tsv): cannot fit")
    log.info("training on %d genes, %d validation genes", len(train), len(valid))
    model.fit(ref.loc[train["gene_id"]].tolist(), train["y_cross_gene"].to_numpy(float),
              valid=(ref.loc[valid["gene_id"]].tolist(), valid["y_cross_gene"].to_numpy(float)) if len(valid) else None)
    return model


def predict_cross_gene(model: _LinearOnFeatures, genes: pd.DataFrame, windows: pd.DataFrame) -> pd.DataFrame:
    """One row per gene: the reference window's prediction against y_cross_gene."""
    ref = windows[windows["hap_id"] == 0].set_index("gene_id")["window"]
    genes = genes[genes["gene_id"].isin(ref.index)]
    y_pred = model.predict(ref.loc[genes["gene_id"]].tolist()) if len(genes) else np.array([])
    y_true = genes["y_cross_gene"].to_numpy(float)
    status = np.where(np.isfinite(y_true), "ok", "skipped: NaN target")
    return pd.DataFrame({
        "gene_id": genes["gene_id"].to_numpy(), "individual": "reference", "protocol": "cross_gene",
        "y_true": y_true, "y_pred": np.where(status == "ok", y_pred, np.nan), "split": genes["split"].to_numpy(),
        "status": status,
    })[PREDICTION_COLUMNS]


def predict_cross_individual(
    model: _LinearOnFeatures,
    windows: pd.DataFrame,
    haplotype_map: pd.DataFrame,
    expression: pd.DataFrame,
    individuals: pd.DataFrame,
    gene_ids: Sequence[str],
) -> pd.DataFrame:
    """One row per (gene of `gene_ids`, individual with a split): mean of the predictions of the individual's two haplotypes.

    Each unique haplotype window is predicted once. `expression` has gene_id + one column per individual.
    An individual without expression for the gene gets status `skipped: NaN target`; one missing from the map
    (or a gene without windows) gets `skipped: no haplotypes`.
    """
    hap_pred = windows[["gene_id", "hap_id"]].copy()
    hap_pred["y_hap"] = model.predict(windows["window"].tolist()) if len(windows) else np.array([])
    per_hap = haplotype_map.merge(hap_pred, on=["gene_id", "hap_id"], how="left")
    lost = per_hap["y_hap"].isna()
    if lost.any():
        raise ValueError(f"{lost.sum()} map rows point at hap_ids absent from the sequences, e.g. "
                         f"{per_hap.loc[lost, ['gene_id', 'hap_id']].head(3).to_dict('records')}; rebuild the store")
    counts = per_hap.groupby(["gene_id", "individual"])["y_hap"].agg(["mean", "size"])
    if (counts["size"] != 2).any():
        bad = counts[counts["size"] != 2].head(3)
        raise ValueError(f"individuals without exactly two haplotypes in the map: {bad.index.tolist()}")
    people = individuals.loc[individuals["split"].isin(["train", "valid", "test"]), ["individual", "split"]]
    long = (expression[expression["gene_id"].isin(list(gene_ids))]
            .melt(id_vars="gene_id", var_name="individual", value_name="y_true"))
    long = long.merge(people, on="individual", how="inner")
    out = long.merge(counts["mean"].rename("y_pred").reset_index(), on=["gene_id", "individual"], how="left")
    out["status"] = "ok"
    out.loc[out["y_pred"].isna(), "status"] = "skipped: no haplotypes"
    out.loc[out["y_true"].isna(), "status"] = "skipped: NaN target"
    out.loc[out["status"] != "ok", "y_pred"] = np.nan
    out["protocol"] = "cross_individual"
    return out[PREDICTION_COLUMNS].sort_values(["gene_id", "individual"]).reset_index(drop=True)


def read_store_windows(sequence_paths: Sequence[str], genes: pd.DataFrame, window: int,
                       reference_only: bool = False) -> pd.DataFrame:
    """Fixed-length windows of the genes in `genes` from haplotype stores (hap_id 0 only with `reference_only`)."""
    filters = [("hap_id", "==", 0)] if reference_only else None
    parts = []
    for path in sequence_paths:
        sequences = pd.read_parquet(path, filters=filters)
        sequences = sequences[sequences["gene_id"].isin(genes["gene_id"])]
        if len(sequences):
            parts.append(windows_from_store(sequences, genes, window))
    if not parts:
        raise ValueError(f"no haplotype sequences of the {len(genes)} genes in {list(sequence_paths)[:3]}...; "
                         f"rebuild results/haplotypes")
    return pd.concat(parts, ignore_index=True)


def train_sequence_model(name: str, params: dict, genes: pd.DataFrame, sequence_paths: Sequence[str],
                         window: int) -> _LinearOnFeatures:
    """The train rule: a `name` model fitted cross-gene on the reference windows of the training genes."""
    used = genes[genes["split"].isin(["train", "valid"])]
    windows = read_store_windows(sequence_paths, used, window, reference_only=True)
    return train_cross_gene(make_model(name, params), used, windows)


def predict_chromosome(
    model: _LinearOnFeatures,
    genes: pd.DataFrame,
    sequences_path: str,
    map_path: str,
    expression: pd.DataFrame,
    individuals: pd.DataFrame,
    window: int,
) -> pd.DataFrame:
    """The predict rule of one chromosome: cross_gene rows (reference windows) and cross_individual rows."""
    if genes.empty:
        log.warning("%s: no genes on this chromosome", sequences_path)
        return pd.DataFrame(columns=PREDICTION_COLUMNS)
    windows = read_store_windows([sequences_path], genes, window)
    haplotype_map = pd.read_parquet(map_path, columns=["gene_id", "individual", "haplotype", "hap_id"])
    log.info("%s: %d genes, %d unique haplotype windows, %d map rows", sequences_path, len(genes), len(windows),
             len(haplotype_map))
    cross_gene = predict_cross_gene(model, genes, windows)
    cross_individual = predict_cross_individual(model, windows, haplotype_map, expression, individuals,
                                                genes["gene_id"].tolist())
    return pd.concat([cross_gene, cross_individual], ignore_index=True)
