"""The evaluate stage: one way to score every model's predictions, each figure with its n and a bootstrap CI.

cross_gene: Pearson and Spearman across genes of a split (reference windows against y_cross_gene).
cross_individual: for each gene, Pearson r across the individuals of a split; then the mean and median r and the
share of genes whose r is significant (p < 0.05) with the wrong sign (r < 0). Confidence intervals resample genes
with a seeded generator (percentile interval, 95%).
"""

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = ["gene_id", "individual", "protocol", "y_true", "y_pred", "split", "status"]
PROTOCOLS = ("cross_gene", "cross_individual")
SPLITS = ("train", "valid", "test")
METRIC_COLUMNS = ["model", "protocol", "split", "metric", "value", "n", "ci_low", "ci_high", "n_skipped", "note"]
PER_GENE_COLUMNS = ["gene_id", "split", "n", "r", "p", "status"]
SUMMARY_COLUMNS = ["model", "protocol", "metric", "value", "n", "ci_low", "ci_high", "source", "data"]
MIN_INDIVIDUALS = 3
WRONG_SIGN_P = 0.05
CI_LEVEL = 0.95

# Published anchors: other data, other splits; shown for orientation, never compared as if measured here.
PUBLISHED = pd.DataFrame(
    [
        ("DExTER", "cross_gene", "pearson", 0.64, "GTEx pituitary, 4 kb windows (Menichelli et al. 2021)"),
        ("DNABERT-2", "cross_gene", "pearson", 0.69, "GTEx pituitary, 4 kb windows"),
        ("GTA", "cross_gene", "spearman", 0.65, "Geuvadis LCL"),
        ("Enformer", "cross_gene", "spearman", 0.59, "Geuvadis LCL"),
        ("elastic net (PrediXcan)", "cross_individual", "mean_r", 0.28, "Geuvadis LCL, seen genes"),
        ("Enformer", "cross_individual", "mean_r", 0.05, "Geuvadis LCL, seen genes"),
    ],
    columns=["model", "protocol", "metric", "value", "data"],
)


class PredictionFormatError(ValueError):
    """A predictions file that breaks the contract of results/predictions/{name}.parquet."""


def validate_predictions(predictions: pd.DataFrame, source: str) -> None:
    """Raise naming the file and the problem unless `predictions` follows the contract."""
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise PredictionFormatError(f"{source}: missing column(s) {missing}; expected {PREDICTION_COLUMNS}")
    bad_protocol = set(predictions["protocol"]) - set(PROTOCOLS)
    if bad_protocol:
        raise PredictionFormatError(f"{source}: unknown protocol(s) {sorted(bad_protocol)}; use {PROTOCOLS}")
    bad_split = set(predictions["split"]) - set(SPLITS)
    if bad_split:
        raise PredictionFormatError(f"{source}: unknown split(s) {sorted(bad_split)}; use {SPLITS}")
    status = predictions["status"].astype(str)
    bad_status = ~((status == "ok") | status.str.startswith("skipped"))
    if bad_status.any():
        raise PredictionFormatError(f"{source}: status must be 'ok' or 'skipped: <reason>', found "
                                    f"{sorted(set(status[bad_status]))[:5]}")
    ok = status == "ok"
    no_pred = ok & ~np.isfinite(predictions["y_pred"].astype(float))
    if no_pred.any():
        row = predictions[no_pred].iloc[0]
        raise PredictionFormatError(f"{source}: {no_pred.sum()} rows with status 'ok' have no finite y_pred "
                                    f"(first: gene {row['gene_id']}, individual {row['individual']})")
    cross_gene = predictions["protocol"] == "cross_gene"
    if (predictions.loc[cross_gene, "individual"] != "reference").any():
        raise PredictionFormatError(f"{source}: cross_gene rows must have individual 'reference'")
    dup = predictions.duplicated(["gene_id", "individual", "protocol"])
    if dup.any():
        raise PredictionFormatError(f"{source}: {dup.sum()} duplicated (gene_id, individual, protocol) rows")


def _interval(samples: np.ndarray) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if not len(samples):
        return np.nan, np.nan
    tail = (1 - CI_LEVEL) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def _rowwise_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair (NaN where a row is constant)."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    denom = np.sqrt((xc**2).sum(axis=-1) * (yc**2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (xc * yc).sum(axis=-1) / denom, np.nan)


def _resample(n: int, n_boot: int, seed: int) -> np.ndarray:
    """Gene indices of `n_boot` bootstrap resamples (rows), seeded."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def correlation_with_ci(y_true: np.ndarray, y_pred: np.ndarray, method: str, n_boot: int, seed: int):
    """(value, ci_low, ci_high): Pearson or Spearman across genes, CI by resampling genes."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    n = len(y_true)
    if n < MIN_INDIVIDUALS:
        return np.nan, np.nan, np.nan
    if method == "spearman":
        value = _rowwise_pearson(stats.rankdata(y_true), stats.rankdata(y_pred))
    else:
        value = _rowwise_pearson(y_true, y_pred)
    if not n_boot:
        return float(value), np.nan, np.nan
    samples = np.empty(n_boot)
    rng = np.random.default_rng(seed)
    for lo in range(0, n_boot, 100):  # blocks of 100 resamples bound the memory at large n
        idx = rng.integers(0, n, size=(min(100, n_boot - lo), n))
        a, b = y_true[idx], y_pred[idx]
        if method == "spearman":
            a, b = stats.rankdata(a, axis=1), stats.rankdata(b, axis=1)
        samples[lo : lo + 100] = _rowwise_pearson(a, b)
    return (float(value), *_interval(samples))


def statistic_with_ci(values: np.ndarray, statistic, n_boot: int, seed: int):
    """(value, ci_low, ci_high) of a statistic over per-gene values, CI by resampling genes."""
    values = np.asarray(values, float)
    if not len(values):
        return np.nan, np.nan, np.nan
    value = float(statistic(values[None, :])[0])
    if not n_boot:
        return value, np.nan, np.nan
    return (value, *_interval(statistic(values[_resample(len(values), n_boot, seed)])))


def _skip_note(status: pd.Series) -> str:
    counts = status[status != "ok"].value_counts()
    return "; ".join(f"{reason} x{n}" for reason, n in counts.items())


def cross_gene_metrics(predictions: pd.DataFrame, name: str, n_boot: int, seed: int) -> pd.DataFrame:
    """Pearson and Spearman across the genes of each held-out split (valid, test) present."""
    rows = []
    rows_cg = predictions[predictions["protocol"] == "cross_gene"]
    for split in ("valid", "test"):
        part = rows_cg[rows_cg["split"] == split]
        if part.empty:
            continue
        ok = part[part["status"] == "ok"]
        ok = ok[np.isfinite(ok["y_true"].astype(float))]
        for method in ("pearson", "spearman"):
            value, low, high = correlation_with_ci(ok["y_true"], ok["y_pred"], method, n_boot, seed)
            rows.append((name, "cross_gene", split, method, value, len(ok), low, high,
                         int((part["status"] != "ok").sum()), _skip_note(part["status"])))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def per_gene_correlations(predictions: pd.DataFrame, splits: Sequence[str] = ("valid", "test")) -> pd.DataFrame:
    """Per gene and held-out split: Pearson r (and its two-sided p) across the individuals with status ok.

    status is `ok`, the skip reason when no individual of the split has a prediction, or `undefined: ...` when
    fewer than 3 individuals remain or a side is constant (e.g. an elastic net that selected no variant).
    """
    rows = []
    ci = predictions[(predictions["protocol"] == "cross_individual") & predictions["split"].isin(splits)]
    for (gene, split), part in ci.groupby(["gene_id", "split"], sort=True):
        ok = part[(part["status"] == "ok") & np.isfinite(part["y_true"].astype(float))]
        n = len(ok)
        if n == 0:
            reasons = part["status"][part["status"] != "ok"]
            rows.append((gene, split, 0, np.nan, np.nan, reasons.mode().iloc[0] if len(reasons) else "skipped"))
            continue
        if n < MIN_INDIVIDUALS:
            rows.append((gene, split, n, np.nan, np.nan, f"undefined: fewer than {MIN_INDIVIDUALS} individuals"))
            continue
        y_true, y_pred = ok["y_true"].to_numpy(float), ok["y_pred"].to_numpy(float)
        if np.ptp(y_pred) == 0 or np.ptp(y_true) == 0:
            side = "prediction" if np.ptp(y_pred) == 0 else "expression"
            rows.append((gene, split, n, np.nan, np.nan, f"undefined: constant {side}"))
            continue
        r, p = stats.pearsonr(y_true, y_pred)
        rows.append((gene, split, n, float(r), float(p), "ok"))
    return pd.DataFrame(rows, columns=PER_GENE_COLUMNS)


def _mean(v):
    return v.mean(axis=-1)


def _median(v):
    return np.median(v, axis=-1)


def cross_individual_metrics(per_gene: pd.DataFrame, name: str, n_boot: int, seed: int) -> pd.DataFrame:
    """Mean and median per-gene r and the share of significant wrong-sign genes, per held-out split."""
    rows = []
    for split in ("valid", "test"):
        part = per_gene[per_gene["split"] == split]
        if part.empty:
            continue
        ok = part[part["status"] == "ok"]
        r = ok["r"].to_numpy(float)
        wrong = ((ok["p"] < WRONG_SIGN_P) & (ok["r"] < 0)).to_numpy(float)
        note = _skip_note(part["status"])
        n_skipped = int((part["status"] != "ok").sum())
        for metric, values, statistic in (("mean_r", r, _mean), ("median_r", r, _median),
                                          ("wrong_sign_share", wrong, _mean)):
            value, low, high = statistic_with_ci(values, statistic, n_boot, seed)
            rows.append((name, "cross_individual", split, metric, value, len(ok), low, high, n_skipped, note))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def evaluate_predictions(predictions: pd.DataFrame, name: str, n_boot: int, seed: int, source: str = ""):
    """(metrics, per_gene) of one predictions table: the two protocols, each held-out split present."""
    validate_predictions(predictions, source or name)
    per_gene = per_gene_correlations(predictions)
    parts = [cross_gene_metrics(predictions, name, n_boot, seed), cross_individual_metrics(per_gene, name, n_boot, seed)]
    parts = [p for p in parts if not p.empty]
    if not parts:
        raise PredictionFormatError(f"{source or name}: no valid or test rows to evaluate")
    metrics = pd.concat(parts, ignore_index=True)
    for row in metrics.itertuples():
        log.info("%s %s %s %s = %.4f (n %d, CI %.4f-%.4f)", name, row.protocol, row.split, row.metric, row.value,
                 row.n, row.ci_low, row.ci_high)
    return metrics, per_gene


def summarise(metrics: Sequence[pd.DataFrame], split: str = "test") -> pd.DataFrame:
    """Every model x protocol of this run on `split`, then the published anchors, labelled as other data."""
    metrics = [m for m in metrics if not m.empty]
    ours = pd.concat(metrics, ignore_index=True) if metrics else pd.DataFrame(columns=METRIC_COLUMNS)
    ours = ours[ours["split"] == split]
    ours = ours.assign(source="this run", data=f"this run, {split} split")[SUMMARY_COLUMNS]
    published = PUBLISHED.assign(n=np.nan, ci_low=np.nan, ci_high=np.nan, source="published (other data)")
    return pd.concat([ours.sort_values(["protocol", "metric", "model"]), published[SUMMARY_COLUMNS]],
                     ignore_index=True)


def concat_tables(paths: Sequence[str]) -> pd.DataFrame:
    """Per-chromosome tables (parquet or TSV) into one, in the given order; empty parts keep the columns."""
    parts = [pd.read_parquet(p) if str(p).endswith(".parquet") else pd.read_csv(p, sep="\t") for p in paths]
    non_empty = [p for p in parts if not p.empty]
    if not non_empty:
        return parts[0] if parts else pd.DataFrame()
    return pd.concat(non_empty, ignore_index=True)
