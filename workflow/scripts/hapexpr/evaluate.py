"""The evaluate stage: one way to score every model's predictions, each figure with its n and a bootstrap CI.

Every model of a run is scored together, on ONE gene set per protocol and held-out split:
- cross_gene: Pearson and Spearman across genes (reference windows against y_cross_gene), on the genes with a finite
  target that every model of the protocol predicted (a gene one model lacks is left out for all; n_missing counts
  the genes each model lacks).
- cross_individual, cross_population, unseen_gene_individual: for each gene, Pearson r across the individuals of the
  split. The gene set is the genes with an evaluable target: at least MIN_INDIVIDUALS individuals with a finite
  y_true that is not constant (in the rows of any model; the target is the same for all). A model with no usable
  prediction for such a gene (no rows, skipped, fewer than MIN_INDIVIDUALS predictions, a constant prediction such
  as an elastic net that selected no variant) counts as r = 0 there; n_missing counts those genes. Then the mean,
  median and mean |r|, the share of genes with r > 0, and the significant wrong-sign share (r < 0 with two-sided
  p < 0.05), and paired comparisons with `elastic_net` on the same genes.
A model without any row of a protocol that other models have gets a `not_applicable` row with the reason.
Confidence intervals resample genes with a seeded generator (percentile interval, 95%); with the same seed and gene
set every model sees the same resamples, so intervals of a protocol are paired.
"""

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from hapexpr.io import read_parquet
from hapexpr.protocols import INDIVIDUAL_PROTOCOLS as PERSONAL_PROTOCOLS
from hapexpr.protocols import PREDICTION_COLUMNS, PROTOCOLS, SPLITS, STATUSES, by_tissue, stack_tissues

log = logging.getLogger(__name__)

HELD_OUT = ("valid", "test")
METRIC_COLUMNS = ["model", "protocol", "split", "metric", "value", "n", "ci_low", "ci_high", "n_missing",
                  "n_skipped", "note"]
PER_GENE_COLUMNS = ["protocol", "gene_id", "split", "n", "r", "p", "status"]
SUMMARY_COLUMNS = ["tissue", "model", "protocol", "metric", "value", "n", "ci_low", "ci_high", "n_missing", "note", "source",
                   "data", "citation", "trait"]
#: The source of the summary's trait risk rows (hapexpr.traits.risk_models): a section apart from the expression
#: benchmark, which the grid and verdict (source "this run") do not read.
RISK_SOURCE = "this run (trait risk)"
MIN_INDIVIDUALS = 3
WRONG_SIGN_P = 0.05
CI_LEVEL = 0.95
NOT_APPLICABLE = "not_applicable"
PERSONAL_METRICS = ("mean_r", "median_r", "mean_abs_r", "share_positive_r", "significant_wrong_sign_share")
# Paired comparisons: (model, baseline, protocols); every model is compared with the elastic net across individuals,
# full GTA with its prompt-only control on every protocol (what the DNA adds over the prompt).
BASELINE = "elastic_net"
COMPARISONS = ((None, BASELINE, PERSONAL_PROTOCOLS), ("gta", "gta_prompt_only", PROTOCOLS))

# Published anchors: other data, other splits; shown for orientation, never compared as if measured here.
# A published range is shown as its midpoint, with the range in the note.
PUBLISHED = pd.DataFrame(
    [
        ("DExTER", "cross_gene", "pearson", 0.64, "", "GTEx pituitary, 4 kb windows", "Menichelli et al. 2021"),
        ("DNABERT-2", "cross_gene", "pearson", 0.69, "", "GTEx pituitary, 4 kb windows (DExTER's setup)",
         "Zhou et al. 2024 (DNABERT-2), as used in this project's seeds"),
        ("GTA", "cross_gene", "spearman", 0.65, "", "Geuvadis LCL", "Honig et al. 2024 (arXiv 2410.01858)"),
        ("Enformer", "cross_gene", "spearman", 0.59, "about 0.59", "Geuvadis LCL",
         "as reported by Honig et al. 2024"),
        ("elastic net (PrediXcan)", "cross_individual", "mean_r", 0.283, "", "Geuvadis LCL, random held-out "
         "individuals", "Rastogi et al. 2024"),
        ("elastic net (PrediXcan)", "cross_population", "mean_r", 0.160, "", "Geuvadis LCL, held-out YRI",
         "Rastogi et al. 2024"),
        ("Enformer fine-tuned on personal genomes", "cross_individual", "mean_r", 0.285,
         "published as a range 0.28-0.29; midpoint shown", "Geuvadis LCL, random held-out individuals",
         "Rastogi et al. 2024"),
        ("Enformer fine-tuned on personal genomes", "cross_population", "mean_r", 0.165,
         "published as a range 0.16-0.17; midpoint shown", "Geuvadis LCL, held-out YRI", "Rastogi et al. 2024"),
        ("Enformer", "cross_individual", "mean_r", 0.055, "", "Geuvadis LCL, held-out individuals",
         "Rastogi et al. 2024"),
        ("every published model", "unseen_gene_individual", "mean_r", 0.05, "about 0.05 for every model",
         "Geuvadis LCL, held-out genes in held-out individuals", "Huang et al. 2023; Sasse et al. 2023"),
    ],
    columns=["model", "protocol", "metric", "value", "note", "data", "citation"],
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
    bad_status = ~status.isin(STATUSES)
    if bad_status.any():
        raise PredictionFormatError(f"{source}: status must be one of hapexpr.protocols.STATUSES {list(STATUSES)}, "
                                    f"found {sorted(set(status[bad_status]))[:5]}")
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


def read_predictions(path: str) -> pd.DataFrame:
    """The held-out rows (valid, test) of a predictions file, text columns as categoricals: every model of a run is
    held in memory at once for scoring on common gene sets."""
    table = read_parquet(path, columns=PREDICTION_COLUMNS, filters=[("split", "in", list(HELD_OUT))])
    for column in ("gene_id", "individual", "protocol", "split", "status"):
        table[column] = table[column].astype("category")
    return table


def _interval(samples: np.ndarray) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if not len(samples):
        return np.nan, np.nan
    tail = (1 - CI_LEVEL) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def rowwise_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair (NaN where a row is constant)."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    denom = np.sqrt((xc**2).sum(axis=-1) * (yc**2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (xc * yc).sum(axis=-1) / denom, np.nan)


def _resample(n: int, n_boot: int, seed: int) -> np.ndarray:
    """Gene indices of `n_boot` bootstrap resamples (rows), seeded."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _correlation(y_true: np.ndarray, y_pred: np.ndarray, method: str) -> np.ndarray:
    if method == "spearman":
        y_true, y_pred = stats.rankdata(y_true, axis=-1), stats.rankdata(y_pred, axis=-1)
    return rowwise_pearson(y_true, y_pred)


def _correlation_samples(y_true: np.ndarray, y_pred: np.ndarray, method: str, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap samples of the correlation (genes resampled; the same resamples for the same seed and n)."""
    n = len(y_true)
    samples = np.empty(n_boot)
    rng = np.random.default_rng(seed)
    for lo in range(0, n_boot, 100):  # blocks of 100 resamples bound the memory at large n
        idx = rng.integers(0, n, size=(min(100, n_boot - lo), n))
        samples[lo : lo + 100] = _correlation(y_true[idx], y_pred[idx], method)
    return samples


def correlation_with_ci(y_true: np.ndarray, y_pred: np.ndarray, method: str, n_boot: int, seed: int):
    """(value, ci_low, ci_high): Pearson or Spearman across genes, CI by resampling genes."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    if len(y_true) < MIN_INDIVIDUALS:
        return np.nan, np.nan, np.nan
    value = float(_correlation(y_true, y_pred, method))
    if not n_boot:
        return value, np.nan, np.nan
    return (value, *_interval(_correlation_samples(y_true, y_pred, method, n_boot, seed)))


def correlation_difference_with_ci(y_true: np.ndarray, y_a: np.ndarray, y_b: np.ndarray, method: str, n_boot: int,
                                   seed: int):
    """(value, ci_low, ci_high) of corr(y_true, y_a) - corr(y_true, y_b), both on the same gene resamples."""
    y_true, y_a, y_b = (np.asarray(v, float) for v in (y_true, y_a, y_b))
    if len(y_true) < MIN_INDIVIDUALS:
        return np.nan, np.nan, np.nan
    value = float(_correlation(y_true, y_a, method) - _correlation(y_true, y_b, method))
    if not n_boot:
        return value, np.nan, np.nan
    diff = (_correlation_samples(y_true, y_a, method, n_boot, seed)
            - _correlation_samples(y_true, y_b, method, n_boot, seed))
    return (value, *_interval(diff))


def statistic_with_ci(values: np.ndarray, statistic, n_boot: int, seed: int):
    """(value, ci_low, ci_high) of a statistic over per-gene values, CI by resampling genes."""
    values = np.asarray(values, float)
    if not len(values):
        return np.nan, np.nan, np.nan
    value = float(statistic(values[None, :])[0])
    if not n_boot:
        return value, np.nan, np.nan
    return (value, *_interval(statistic(values[_resample(len(values), n_boot, seed)])))


def _mean(v):
    return v.mean(axis=-1)


def _median(v):
    return np.median(v, axis=-1)


def _skip_note(status: pd.Series) -> str:
    counts = status[status != "ok"].value_counts()
    counts = counts[counts > 0]  # a categorical column counts its unused categories too
    return "; ".join(f"{reason} x{n}" for reason, n in counts.items())


def not_applicable_reason(name: str, protocol: str) -> str:
    """Why model `name` has no rows of `protocol`."""
    if name.startswith("elastic_net") and protocol in ("cross_gene", "unseen_gene_individual"):
        return "cannot predict an unseen gene (one model per gene, fitted on that gene's cis variants)"
    if protocol in PERSONAL_PROTOCOLS:
        return "no personal predictions: the model was not run on this protocol"
    return "no cross-gene predictions: the model was not run on this protocol"


def _rows(predictions: pd.DataFrame, protocol: str, split: str) -> pd.DataFrame:
    return predictions[(predictions["protocol"] == protocol) & (predictions["split"] == split)]


def evaluable_genes(predictions: Mapping[str, pd.DataFrame], protocol: str, split: str) -> pd.Index:
    """The common gene set of a protocol and split, sorted: genes whose target can be scored.

    Cross-individual protocols: >= MIN_INDIVIDUALS individuals with a finite, non-constant y_true in any model's rows.
    cross_gene: genes with a finite y_true (the intersection with each model's predictions is taken by the caller).
    """
    parts = [_rows(p, protocol, split)[["gene_id", "individual", "y_true"]] for p in predictions.values()]
    target = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["gene_id", "individual", "y_true"])
    target = target[np.isfinite(target["y_true"].astype(float))].drop_duplicates(["gene_id", "individual"])
    if protocol == "cross_gene":
        return pd.Index(sorted(target["gene_id"].unique()), name="gene_id")
    y = target.groupby("gene_id", observed=True)["y_true"].agg(["count", "min", "max"])
    keep = (y["count"] >= MIN_INDIVIDUALS) & (y["max"] > y["min"])
    return pd.Index(sorted(y.index[keep]), name="gene_id")


def per_gene_correlations(predictions: pd.DataFrame, genes: Mapping[tuple[str, str], pd.Index] | None = None
                          ) -> pd.DataFrame:
    """Per cross-individual protocol, held-out split and common gene: Pearson r (two-sided p) across individuals.

    `genes` maps (protocol, split) to the common gene set (default: this table's own evaluable genes). status is
    `ok`, or `missing: <why>` where the model has no usable prediction; r is then 0 (counted as no skill) and p NaN.
    """
    if genes is None:
        genes = {(protocol, split): evaluable_genes({"": predictions}, protocol, split)
                 for protocol in PERSONAL_PROTOCOLS for split in HELD_OUT}
    rows = []
    for (protocol, split), gene_set in genes.items():
        part = _rows(predictions, protocol, split)
        groups = dict(tuple(part.groupby("gene_id", sort=False, observed=True)))
        for gene in gene_set:
            rows_g = groups.get(gene)
            if rows_g is None:
                rows.append((protocol, gene, split, 0, 0.0, np.nan, "missing: no prediction rows"))
                continue
            ok = rows_g[(rows_g["status"] == "ok") & np.isfinite(rows_g["y_true"].astype(float))]
            n = len(ok)
            if n == 0:
                reasons = rows_g["status"][rows_g["status"] != "ok"]
                why = reasons.mode().iloc[0] if len(reasons) else "no individual with a target"
                rows.append((protocol, gene, split, 0, 0.0, np.nan, f"missing: {why}"))
                continue
            y_true, y_pred = ok["y_true"].to_numpy(float), ok["y_pred"].to_numpy(float)
            if n < MIN_INDIVIDUALS or np.ptp(y_true) == 0:
                why = f"fewer than {MIN_INDIVIDUALS} individuals with a prediction" if n < MIN_INDIVIDUALS else \
                    "constant expression among the individuals with a prediction"
                rows.append((protocol, gene, split, n, 0.0, np.nan, f"missing: {why}"))
                continue
            if np.ptp(y_pred) == 0:
                rows.append((protocol, gene, split, n, 0.0, np.nan, "missing: constant prediction"))
                continue
            r, p = stats.pearsonr(y_true, y_pred)
            rows.append((protocol, gene, split, n, float(r), float(p), "ok"))
    return pd.DataFrame(rows, columns=PER_GENE_COLUMNS)


def _metric_row(name, protocol, split, metric, stat, n, n_missing, n_skipped, note):
    value, low, high = stat
    return (name, protocol, split, metric, value, n, low, high, n_missing, n_skipped, note)


def cross_individual_metrics(per_gene: pd.DataFrame, name: str, n_boot: int, seed: int,
                             n_skipped: Mapping[tuple[str, str], int] | None = None) -> pd.DataFrame:
    """Mean, median and mean |r|, share r > 0 and significant wrong-sign share per protocol and split, r = 0 for
    missing genes."""
    rows = []
    for (protocol, split), part in per_gene.groupby(["protocol", "split"], sort=False):
        part = part.sort_values("gene_id")
        r = part["r"].to_numpy(float)
        wrong = ((part["status"] == "ok") & (part["p"] < WRONG_SIGN_P) & (part["r"] < 0)).to_numpy(float)
        missing = part["status"] != "ok"
        note = _skip_note(part["status"])
        note = f"r = 0 for {int(missing.sum())} genes without a usable prediction ({note})" if missing.any() else ""
        values = {"mean_r": (r, _mean), "median_r": (r, _median), "mean_abs_r": (np.abs(r), _mean),
                  "share_positive_r": ((r > 0).astype(float), _mean), "significant_wrong_sign_share": (wrong, _mean)}
        for metric in PERSONAL_METRICS:
            v, statistic = values[metric]
            rows.append(_metric_row(name, protocol, split, metric, statistic_with_ci(v, statistic, n_boot, seed),
                                    len(part), int(missing.sum()), (n_skipped or {}).get((protocol, split), 0), note))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def _cross_gene_scored(predictions: Mapping[str, pd.DataFrame], split: str):
    """(common genes, {model: (y_true, y_pred, n_missing, n_skipped, note)}) of cross_gene on `split`."""
    evaluable = evaluable_genes(predictions, "cross_gene", split)
    usable = {}
    for name, df in predictions.items():
        part = _rows(df, "cross_gene", split)
        ok = part[(part["status"] == "ok") & np.isfinite(part["y_true"].astype(float))]
        usable[name] = (ok.drop_duplicates("gene_id").set_index("gene_id"), part)
    common = evaluable
    for ok, _ in usable.values():
        common = common[common.isin(ok.index)]
    scored = {}
    for name, (ok, part) in usable.items():
        n_missing = int((~evaluable.isin(ok.index)).sum())
        dropped = len(evaluable) - len(common)
        note = _skip_note(part["status"])
        if dropped:
            note = "; ".join(filter(None, [f"{dropped} genes left out for every model: some model has no "
                                           f"prediction there", note]))
        scored[name] = (ok.loc[common, "y_true"].to_numpy(float), ok.loc[common, "y_pred"].to_numpy(float),
                        n_missing, int((part["status"] != "ok").sum()), note)
    return common, scored


def cross_gene_metrics(predictions: Mapping[str, pd.DataFrame], n_boot: int, seed: int) -> pd.DataFrame:
    """Pearson and Spearman across the common genes of each held-out split, for every model with cross_gene rows."""
    rows = []
    for split in HELD_OUT:
        common, scored = _cross_gene_scored(predictions, split)
        if not len(common) and not any(len(_rows(df, "cross_gene", split)) for df in predictions.values()):
            continue
        for name, (y_true, y_pred, n_missing, n_skipped, note) in scored.items():
            for method in ("pearson", "spearman"):
                rows.append(_metric_row(name, "cross_gene", split, method,
                                        correlation_with_ci(y_true, y_pred, method, n_boot, seed), len(common),
                                        n_missing, n_skipped, note))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def paired_metrics(per_gene: Mapping[str, pd.DataFrame], name: str, baseline: str, n_boot: int, seed: int,
                   protocols: Sequence[str] = PERSONAL_PROTOCOLS) -> pd.DataFrame:
    """Model vs baseline on the same genes: mean difference in r with CI and the share of genes where the model's r
    is higher (ties, e.g. both 0, count as not better)."""
    rows = []
    ours, theirs = per_gene[name], per_gene[baseline]
    for (protocol, split), part in ours.groupby(["protocol", "split"], sort=False):
        if protocol not in protocols:
            continue
        base = theirs[(theirs["protocol"] == protocol) & (theirs["split"] == split)]
        if base.empty:
            continue
        joined = part.merge(base, on="gene_id", suffixes=("", "_base")).sort_values("gene_id")
        diff = joined["r"].to_numpy(float) - joined["r_base"].to_numpy(float)
        better = (diff > 0).astype(float)
        n_missing = int((joined["status"] != "ok").sum())
        note = f"paired over the same {len(joined)} genes; r = 0 where a model has no usable prediction"
        rows.append(_metric_row(name, protocol, split, f"paired_diff_vs_{baseline}",
                                statistic_with_ci(diff, _mean, n_boot, seed), len(joined), n_missing, 0, note))
        rows.append(_metric_row(name, protocol, split, f"share_better_than_{baseline}",
                                statistic_with_ci(better, _mean, n_boot, seed), len(joined), n_missing, 0, note))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def cross_gene_paired_metrics(predictions: Mapping[str, pd.DataFrame], name: str, baseline: str, n_boot: int,
                              seed: int) -> pd.DataFrame:
    """Difference in cross-gene Pearson and Spearman between two models on the common genes, paired resamples."""
    rows = []
    for split in HELD_OUT:
        common, scored = _cross_gene_scored(predictions, split)
        if name not in scored or baseline not in scored or not len(common):
            continue
        y_true, y_a, n_missing = scored[name][:3]
        y_b = scored[baseline][1]
        for method in ("pearson", "spearman"):
            rows.append(_metric_row(name, "cross_gene", split, f"{method}_diff_vs_{baseline}",
                                    correlation_difference_with_ci(y_true, y_a, y_b, method, n_boot, seed),
                                    len(common), n_missing, 0, f"paired over the same {len(common)} genes"))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def evaluate_models(predictions: Mapping[str, pd.DataFrame], n_boot: int, seed: int,
                    sources: Mapping[str, str] | None = None):
    """({model: metrics}, {model: per_gene}) of every model of a run, scored on common gene sets per protocol.

    Not-applicable rows are written for protocols that some model predicted and this model did not.
    """
    for name, df in predictions.items():
        validate_predictions(df, (sources or {}).get(name, name))
    present = {name: set(df["protocol"]) for name, df in predictions.items()}
    run_protocols = [p for p in PROTOCOLS if any(p in s for s in present.values())]
    cg_models = {n: df for n, df in predictions.items() if "cross_gene" in present[n]}
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in predictions}
    if cg_models:
        cg = cross_gene_metrics(cg_models, n_boot, seed)
        for name in cg_models:
            parts[name].append(cg[cg["model"] == name])
    common = {}
    for protocol in PERSONAL_PROTOCOLS:
        models = {n: df for n, df in predictions.items() if protocol in present[n]}
        for split in HELD_OUT:
            if any(len(_rows(df, protocol, split)) for df in models.values()):
                common[(protocol, split)] = evaluable_genes(models, protocol, split)
    per_gene = {}
    for name, df in predictions.items():
        genes = {key: g for key, g in common.items() if key[0] in present[name]}
        per_gene[name] = per_gene_correlations(df, genes)
        skipped = {key: int((_rows(df, *key)["status"] != "ok").sum()) for key in genes}
        parts[name].append(cross_individual_metrics(per_gene[name], name, n_boot, seed, skipped))
    for model, baseline, protocols in COMPARISONS:
        if baseline not in predictions:
            continue
        for name in ([model] if model else list(predictions)):
            if name == baseline or name not in predictions:
                continue
            parts[name].append(paired_metrics(per_gene, name, baseline, n_boot, seed, protocols))
            if "cross_gene" in protocols and name in cg_models and baseline in cg_models:
                parts[name].append(cross_gene_paired_metrics(cg_models, name, baseline, n_boot, seed))
    for name in predictions:
        absent = [p for p in run_protocols if p not in present[name]]
        parts[name].append(pd.DataFrame(
            [(name, p, "test", NOT_APPLICABLE, np.nan, np.nan, np.nan, np.nan, np.nan, 0,
              not_applicable_reason(name, p)) for p in absent], columns=METRIC_COLUMNS))
    metrics = {}
    for name, frames in parts.items():
        frames = [f for f in frames if not f.empty]
        if not frames:
            raise PredictionFormatError(f"{(sources or {}).get(name, name)}: no valid or test rows to evaluate")
        metrics[name] = pd.concat(frames, ignore_index=True)
        for row in metrics[name].itertuples():
            log.info("%s %s %s %s = %.4f (n %s, missing %s, CI %.4f-%.4f) %s", name, row.protocol, row.split,
                     row.metric, row.value, row.n, row.n_missing, row.ci_low, row.ci_high, row.note)
    return metrics, per_gene


def evaluate_tissues(paths: Mapping[tuple[str, str], str], n_boot: int, seed: int):
    """`evaluate_models` for each tissue on its own, from the predictions files of each (tissue, prediction name)
    (one tissue's files in memory at a time); each metrics table starts with a `tissue` column."""
    metrics, per_gene = {}, {}
    for tissue, files in by_tissue(paths).items():
        m, g = evaluate_models({n: read_predictions(path) for n, path in files.items()}, n_boot, seed, files)
        for n in files:
            metrics[(tissue, n)] = stack_tissues({tissue: m[n]})
            per_gene[(tissue, n)] = g[n]
    return metrics, per_gene


def evaluate_predictions(predictions: pd.DataFrame, name: str, n_boot: int, seed: int, source: str = ""):
    """(metrics, per_gene) of one predictions table on its own (the gene sets are its own evaluable genes)."""
    metrics, per_gene = evaluate_models({name: predictions}, n_boot, seed, {name: source or name})
    return metrics[name], per_gene[name]


def summarise(metrics: Sequence[pd.DataFrame], split: str = "test", risk: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every tissue x model x protocol of this run on `split` (not-applicable rows included), then the trait risk
    metrics (source RISK_SOURCE, column `trait`; n counts individuals), then the published anchors, labelled as
    other data with their data set and citation (and no tissue). Expression rows leave `trait` empty."""
    metrics = [m if "tissue" in m.columns else m.assign(tissue="") for m in metrics if not m.empty]
    ours = pd.concat(metrics, ignore_index=True) if metrics else pd.DataFrame(columns=["tissue", *METRIC_COLUMNS])
    ours = ours[ours["split"] == split]
    ours = ours.assign(source="this run", data=f"this run, {split} split", citation="")
    ours = ours.assign(protocol_order=ours["protocol"].map({p: i for i, p in enumerate(PROTOCOLS)}), trait="",
                       tissue_order=ours["tissue"].map({t: i for i, t in enumerate(dict.fromkeys(ours["tissue"]))}))
    ours = ours.sort_values(["tissue_order", "protocol_order", "metric", "model"], kind="stable")[SUMMARY_COLUMNS]
    parts = [ours]
    if risk is not None and len(risk):
        risk = risk if "tissue" in risk.columns else risk.assign(tissue="")
        parts.append(risk.assign(n_missing=np.nan, source=RISK_SOURCE, citation="",
                                 data="this run, held-out individuals (split test; the held-out population)")[SUMMARY_COLUMNS])
    # published rows belong to no tissue of this run: every tissue's report shows them
    published = PUBLISHED.assign(n=np.nan, ci_low=np.nan, ci_high=np.nan, n_missing=np.nan,
                                 source="published (other data)", trait="", tissue="")
    return pd.concat([*parts, published[SUMMARY_COLUMNS]], ignore_index=True)


def concat_tables(paths: Sequence[str]) -> pd.DataFrame:
    """Per-chromosome tables (parquet or TSV) into one, in the given order; empty parts keep the columns."""
    parts = [read_parquet(p) if str(p).endswith(".parquet") else pd.read_csv(p, sep="\t") for p in paths]
    non_empty = [p for p in parts if not p.empty]
    if not non_empty:
        return parts[0] if parts else pd.DataFrame()
    return pd.concat(non_empty, ignore_index=True)
