"""Sequence baselines `gc_cpg` and `kmer_ridge` (scikit-learn estimators on window strings).

Both are trained once, cross-gene, on the reference windows of the training genes, and give the rows of every
protocol from that one model (hapexpr.protocols: reference windows for cross_gene, each unique personal haplotype
window once and an individual's two haplotypes averaged for the others). Weights are saved as safetensors plus a
config.json.
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

from hapexpr.io import atomic_path
from hapexpr.kmers import DEFAULT_KS, gc_cpg, kmer_frequencies
from hapexpr.protocols import predict_store, window_examples

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


def train_cross_gene(model: _LinearOnFeatures, train: pd.DataFrame, valid: pd.DataFrame):
    """Fit on the training examples (gene_id, hap_id, y, weight, window: hapexpr.protocols.window_examples,
    reference windows of the `train` genes); the `valid` genes tune the penalty when there are any."""
    if len(train) < 3:
        raise ValueError(f"only {len(train)} training genes with a cross-gene target (split 'train' in genes.tsv): "
                         f"cannot fit")
    log.info("training on %d genes, %d validation genes", len(train), len(valid))
    model.fit(train["window"].tolist(), train["y"].to_numpy(float),
              valid=(valid["window"].tolist(), valid["y"].to_numpy(float)) if len(valid) else None)
    return model


def train_sequence_model(name: str, params: dict, genes: pd.DataFrame, store_paths: Sequence[str],
                         window: int) -> _LinearOnFeatures:
    """The train rule: a `name` model fitted cross-gene on the reference windows of the training genes."""
    train, valid = (window_examples("cross_gene", split, genes, store_paths, window) for split in ("train", "valid"))
    return train_cross_gene(make_model(name, params), train, valid)


def predict_chromosome(model: _LinearOnFeatures, protocols: Sequence[str], genes: pd.DataFrame, store_path: str,
                       map_path: str, expression: pd.DataFrame, individuals: pd.DataFrame,
                       window: int) -> pd.DataFrame:
    """The predict rule of one chromosome: the rows of every protocol from the one cross-gene model."""
    return predict_store(model.predict, protocols, genes, store_path, map_path, window, expression, individuals)
