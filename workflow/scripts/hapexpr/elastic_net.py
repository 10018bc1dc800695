"""PrediXcan-style per-gene elastic net on cis-variant dosages, all genes of a chromosome in one pass.

Per gene: the biallelic variants within +-cis_window bp of the TSS (or, with `window`, only those inside the
sequence models' W-bp window around the TSS: the `elastic_net_window` control), dosages (0/1/2 alternative
alleles) standardised over the training individuals; the objective is scikit-learn's (and glmnet's)
    1/(2n) ||y - Xb||^2 + lambda * (l1_ratio * |b|_1 + (1 - l1_ratio)/2 * |b|_2^2);
lambda is chosen on a glmnet-style path (n_lambdas from lambda_max down to lambda_min_ratio * lambda_max) by K-fold
cross-validation inside the training individuals (minimum mean squared error), then the model is refitted on all
training individuals. The test and validation individuals are never seen while fitting.

Why it is fast (benchmarks/elastic_net.py compares it with a plain ElasticNetCV loop at equal held-out r):
- the VCF is read once per chromosome into an int8 dosage matrix; each gene's variants are a slice of it;
- the folds are the same for every gene of a run (seeded), so the fold means and masks are computed once;
- a working set: the path is solved by scikit-learn's coordinate descent on the variants most correlated with the
  target only, then the KKT conditions of every other variant are checked for the whole path with one matrix
  product; violators join the working set and the path is solved again (exact solutions of the full problem);
- the path is warm-started along the lambdas, and the final refit stops at the chosen lambda.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import enet_path

from hapexpr.haplotypes import window_bounds
from hapexpr.protocols import (
    CONSTANT_EXPRESSION,
    INDIVIDUAL_SPLITS,
    NO_CIS_VARIANTS,
    NO_TARGET,
    OK,
    TOO_FEW_INDIVIDUALS,
    empty_predictions,
    individual_rows,
)
from hapexpr.reference import harmonise_chrom

log = logging.getLogger(__name__)

WEIGHT_COLUMNS = ["gene_id", "variant_id", "chrom", "pos", "ref", "alt", "weight", "weight_standardised"]
GENE_COLUMNS = ["gene_id", "n_train", "n_cis_variants", "n_selected", "lambda", "lambda_index", "cv_mse",
                "cv_r2", "status"]
_SYMBOLIC = ("<", "*", "[", "]", ".")
#: The elastic net predicts only genes it was trained on: no rows for unseen genes (cross_gene,
#: unseen_gene_individual).
PROTOCOLS = ("cross_individual", "cross_population")


@dataclass
class ElasticNetConfig:
    """Parameters of the per-gene fits (config models.elastic_net). With `window` (bp), the cis variants are those
    whose position lies in the gene's sequence window (haplotypes.window_bounds: what a sequence model of that W
    sees) instead of +-cis_window."""

    cis_window: int = 500_000
    window: int | None = None
    l1_ratio: float = 0.5
    folds: int = 5
    n_lambdas: int = 100
    lambda_min_ratio: float = 0.01
    maf: float = 0.01
    tol: float = 1e-4
    max_iter: int = 10_000
    patience: int = 20
    seed: int = 0


@dataclass
class Dosages:
    """Alternative-allele dosages of one chromosome: variants x samples (int8, -1 = missing), 0-based positions."""

    chrom: str
    positions: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    samples: list[str]
    values: np.ndarray
    skipped: dict[str, int]


def read_dosages(vcf_path: str, chrom: str, samples: Sequence[str], maf: float = 0.0) -> Dosages:
    """Read a chromosome's biallelic variants once (cyvcf2), for `samples` present in the VCF.

    Symbolic, breakend and multiallelic records are skipped and counted, as are variants under `maf` among the
    samples. A VCF spelling the chromosome differently (`22` vs `chr22`) is harmonised.
    """
    from cyvcf2 import VCF

    vcf = VCF(vcf_path, gts012=True, lazy=True, threads=1)
    in_vcf = set(vcf.samples)
    present = [s for s in samples if s in in_vcf]
    vcf.close()
    if not present:
        raise ValueError(f"{vcf_path}: none of the {len(samples)} individuals with a split is among its samples "
                         f"(e.g. {list(samples[:3])}); check that the VCF and the expression use the same ids")
    vcf = VCF(vcf_path, gts012=True, lazy=True, threads=1, samples=present)
    order = [vcf.samples.index(s) for s in present]
    skipped = {"multiallelic": 0, "symbolic": 0, "other chromosome": 0, "below maf": 0}
    positions, refs, alts, rows = [], [], [], []
    spelling: dict[str, bool] = {}
    for variant in vcf:
        c = variant.CHROM
        if c not in spelling:
            try:
                spelling[c] = harmonise_chrom(c, [chrom]) == chrom
            except ValueError:
                spelling[c] = False
        if not spelling[c]:
            skipped["other chromosome"] += 1
            continue
        if len(variant.ALT) != 1:
            skipped["multiallelic" if len(variant.ALT) > 1 else "symbolic"] += 1
            continue
        alt = variant.ALT[0]
        if not alt or alt.startswith(_SYMBOLIC) or "[" in alt or "]" in alt:
            skipped["symbolic"] += 1
            continue
        gt = variant.gt_types.astype(np.int8)
        gt[gt == 3] = -1
        called = gt >= 0
        if maf > 0:
            freq = gt[called].mean() / 2 if called.any() else 0.0
            if min(freq, 1 - freq) < maf:
                skipped["below maf"] += 1
                continue
        positions.append(variant.POS - 1)
        refs.append(variant.REF)
        alts.append(alt)
        rows.append(gt)
    vcf.close()
    values = np.vstack(rows)[:, order] if rows else np.zeros((0, len(present)), dtype=np.int8)
    log.info("%s: %d variants kept for %d samples; skipped %s", vcf_path, len(positions), len(present), skipped)
    positions = np.asarray(positions, dtype=np.int64)
    if len(positions) and np.any(np.diff(positions) < 0):
        raise ValueError(f"{vcf_path}: records are not sorted by position; sort it with bcftools sort")
    return Dosages(chrom, positions, np.asarray(refs, dtype=object), np.asarray(alts, dtype=object), present,
                   values, skipped)


def make_folds(n: int, k: int, seed: int) -> np.ndarray:
    """Seeded fold label (0..k-1) of each of n training individuals, balanced sizes."""
    labels = np.arange(n) % k
    return np.random.default_rng(seed).permutation(labels)


def lambda_grid(x: np.ndarray, y: np.ndarray, l1_ratio: float, n_lambdas: int, min_ratio: float) -> np.ndarray:
    """glmnet's path: n_lambdas log-spaced from lambda_max (all coefficients zero) to min_ratio * lambda_max."""
    xc = x - x.mean(axis=0)
    lam_max = np.max(np.abs(xc.T @ (y - y.mean()))) / (len(y) * l1_ratio)
    return np.geomspace(lam_max, lam_max * min_ratio, n_lambdas)


class _PathState:
    """One elastic-net path being walked down the lambdas with sequential strong rules and KKT checks.

    At each lambda, coordinate descent (scikit-learn's, warm-started) runs on the strong set only: the variables
    ever active plus those whose gradient at the previous lambda passes the strong rule |x_j'r|/n >= a(2l - l_prev)
    (Tibshirani et al. 2012). The KKT conditions of every other variable are then checked with one matrix-vector
    product; violators join and the lambda is solved again, so each solution is the full problem's.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, l1_ratio: float, tol: float, max_iter: int):
        self.x = np.asfortranarray(x)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.n, self.p = x.shape
        self.l1_ratio, self.tol, self.max_iter = l1_ratio, tol, max_iter
        self.coef = np.zeros(self.p)
        self.ever = np.zeros(self.p, dtype=bool)
        self.grad = np.abs(self.x.T @ self.y) / self.n
        self.lam_prev: float | None = None
        self.solves = 0

    def step(self, lam: float) -> np.ndarray:
        a = self.l1_ratio
        lam_prev = lam if self.lam_prev is None else self.lam_prev
        candidate = self.ever | (self.grad >= a * (2 * lam - lam_prev))
        while True:
            idx = np.flatnonzero(candidate)
            if len(idx):
                xa = np.asfortranarray(self.x[:, idx])
                _, coefs, _ = enet_path(xa, self.y, l1_ratio=a, alphas=np.array([lam]), coef_init=self.coef[idx],
                                        precompute=False, check_input=False, tol=self.tol, max_iter=self.max_iter)
                self.solves += 1
                coef_a = coefs[:, 0]
                residual = self.y - xa @ coef_a
            else:
                coef_a, residual = np.zeros(0), self.y
            self.coef[:] = 0.0
            self.coef[idx] = coef_a
            self.grad = np.abs(self.x.T @ residual) / self.n
            violators = ~candidate & (self.grad > a * lam * (1 + 1e-3))
            if not violators.any():
                break
            candidate |= violators
        self.ever |= self.coef != 0
        self.lam_prev = lam
        return self.coef


def enet_path_screened(x: np.ndarray, y: np.ndarray, lambdas: np.ndarray, l1_ratio: float, tol: float,
                       max_iter: int) -> np.ndarray:
    """Coefficients (p, n_lambdas) of the elastic-net path of centred x, y (strong rules + KKT checks)."""
    state = _PathState(x, y, l1_ratio, tol, max_iter)
    return np.column_stack([state.step(lam).copy() for lam in lambdas]) if len(lambdas) else np.zeros((x.shape[1], 0))


@dataclass
class GeneFit:
    coef: np.ndarray
    intercept: float
    lambda_: float
    lambda_index: int
    cv_mse: float
    cv_r2: float
    oof: np.ndarray | None = None  # with out_of_fold: each row's prediction by the other folds' model at lambda


def fit_gene(x: np.ndarray, y: np.ndarray, folds: np.ndarray, config: ElasticNetConfig,
             out_of_fold: bool = False) -> GeneFit:
    """Lambda by K-fold CV inside (x, y), then the path on all of (x, y) down to the chosen lambda.

    x: standardised dosages of the training individuals (n, p); folds: fold label per row. The folds walk the
    lambda path in lockstep, so the walk can stop `patience` lambdas after the CV error's minimum so far. With
    `out_of_fold`, GeneFit.oof holds each row's prediction by the model of the other folds at the chosen lambda
    (scores that a model fitted on top of them may use without in-sample optimism: hapexpr.traits).
    """
    lambdas = lambda_grid(x, y, config.l1_ratio, config.n_lambdas, config.lambda_min_ratio)
    k = int(folds.max()) + 1
    states, held_out = [], []
    for f in range(k):
        test = folds == f
        xm, ym = x[~test].mean(axis=0), y[~test].mean()
        states.append(_PathState(x[~test] - xm, y[~test] - ym, config.l1_ratio, config.tol, config.max_iter))
        held_out.append((x[test] - xm, y[test] - ym))
    cv_mse = np.full(len(lambdas), np.inf)
    best = 0
    oof, best_oof = np.empty(len(y)), None
    for i, lam in enumerate(lambdas):
        err = 0.0
        for f, (state, (xt, yt)) in enumerate(zip(states, held_out)):
            fitted = xt @ state.step(lam)
            err += float(((yt - fitted) ** 2).sum())
            if out_of_fold:
                oof[folds == f] = fitted + y[folds != f].mean()
        cv_mse[i] = err / len(y)
        if cv_mse[i] < cv_mse[best]:
            best = i
        if out_of_fold and best == i:
            best_oof = oof.copy()
        if config.patience and i - best >= config.patience:
            break
    xm, ym = x.mean(axis=0), y.mean()
    state = _PathState(x - xm, y - ym, config.l1_ratio, config.tol, config.max_iter)
    for lam in lambdas[: best + 1]:
        coef = state.step(lam)
    return GeneFit(coef.copy(), float(ym - xm @ coef), float(lambdas[best]), best, float(cv_mse[best]),
                   float(1 - cv_mse[best] / y.var()), best_oof)


def _skip(gene_id: str, status: str, n_train: int, n_cis: int) -> dict:
    return {"gene_id": gene_id, "n_train": n_train, "n_cis_variants": n_cis, "n_selected": 0, "lambda": np.nan,
            "lambda_index": -1, "cv_mse": np.nan, "cv_r2": np.nan, "status": status}


def cis_bounds(tss: int, strand: str | None, config: ElasticNetConfig) -> tuple[int, int]:
    """[start, end) (0-based) of the variants used for a gene: its sequence window, else +-cis_window."""
    if config.window:
        if strand not in ("+", "-"):
            raise ValueError(f"a gene at TSS {tss} has strand {strand!r}: the window of elastic_net_window needs the "
                             "strand column of results/genes/genes.tsv ('+' or '-')")
        return window_bounds(tss, strand, config.window)
    return tss - config.cis_window, tss + config.cis_window + 1


def fit_chromosome(
    dosages: Dosages,
    genes: pd.DataFrame,
    expression: pd.DataFrame,
    individuals: pd.DataFrame,
    config: ElasticNetConfig,
    protocols: Sequence[str] = PROTOCOLS,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(prediction rows, weights, gene summary) for the training genes (split train) of `genes` on this chromosome.

    Trains on the individuals with split `train`; predicts every individual of the rows of `protocols`
    (cross_individual: train/valid/test individuals; cross_population: test_population; hapexpr.protocols). A gene
    is skipped with a status of the one vocabulary (never a crash, never a silent drop): no expression, constant
    expression, no cis variants, fewer training individuals than folds. An individual without a target (NaN) or
    without genotypes gets a skipped row.
    """
    fit_genes = genes[genes["split"] == "train"]
    people = individuals.loc[individuals["split"].isin(INDIVIDUAL_SPLITS), ["individual", "split"]]
    people = people[people["individual"].isin(expression.columns)].reset_index(drop=True)
    column = {s: i for i, s in enumerate(dosages.samples)}
    has_geno = people["individual"].isin(column).to_numpy()
    if not has_geno.all():
        log.warning("%d individuals with a split have no genotypes in the VCF: %s", (~has_geno).sum(),
                    " ".join(people.loc[~has_geno, "individual"]))
    geno_cols = np.array([column.get(s, -1) for s in people["individual"]])
    is_train = (people["split"] == "train").to_numpy() & has_geno
    expr = expression.set_index("gene_id")
    fold_of_train = make_folds(int(is_train.sum()), config.folds, config.seed)
    preds, weights, summary = [], [], []
    for number, gene in enumerate(fit_genes.itertuples(index=False), 1):
        y_all = (expr.loc[gene.gene_id, people["individual"]].to_numpy(float) if gene.gene_id in expr.index
                 else np.full(len(people), np.nan))
        finite = np.isfinite(y_all)
        train = is_train & finite
        y_pred = np.full(len(people), np.nan)
        lo, hi = np.searchsorted(dosages.positions, cis_bounds(gene.tss, getattr(gene, "strand", None), config))
        n_train = int(train.sum())
        if gene.gene_id not in expr.index:
            row = _skip(gene.gene_id, NO_TARGET, n_train, hi - lo)
        elif n_train < max(config.folds, 3):
            row = _skip(gene.gene_id, TOO_FEW_INDIVIDUALS, n_train, hi - lo)
        elif np.ptp(y_all[train]) == 0:
            row = _skip(gene.gene_id, CONSTANT_EXPRESSION, n_train, hi - lo)
        else:
            raw = dosages.values[lo:hi][:, geno_cols[has_geno]].T.astype(np.float64)  # individuals with genotypes
            raw[raw < 0] = np.nan
            rows_geno = np.flatnonzero(has_geno)
            train_rows = train[has_geno]
            mean = np.nanmean(raw[train_rows], axis=0) if raw.shape[1] else np.zeros(0)
            raw = np.where(np.isnan(raw), mean, raw)  # missing genotype -> training mean dosage
            sd = raw[train_rows].std(axis=0)
            keep = sd > 0
            if not keep.any():
                row = _skip(gene.gene_id, NO_CIS_VARIANTS, n_train, int(keep.sum()))
            else:
                x = (raw[:, keep] - mean[keep]) / sd[keep]
                folds = fold_of_train[finite[is_train]]
                if np.bincount(folds, minlength=config.folds).min() == 0:
                    row = _skip(gene.gene_id, TOO_FEW_INDIVIDUALS, n_train, int(keep.sum()))
                else:
                    fit = fit_gene(x[train_rows], y_all[train], folds, config)
                    y_pred[rows_geno] = x @ fit.coef + fit.intercept
                    selected = np.flatnonzero(fit.coef)
                    idx = lo + np.flatnonzero(keep)[selected]
                    weights.append(pd.DataFrame({
                        "gene_id": gene.gene_id,
                        "variant_id": [f"{dosages.chrom}:{p + 1}:{r}:{a}" for p, r, a in
                                       zip(dosages.positions[idx], dosages.ref[idx], dosages.alt[idx])],
                        "chrom": dosages.chrom, "pos": dosages.positions[idx] + 1, "ref": dosages.ref[idx],
                        "alt": dosages.alt[idx], "weight": fit.coef[selected] / sd[keep][selected],
                        "weight_standardised": fit.coef[selected],
                    }))
                    row = {"gene_id": gene.gene_id, "n_train": n_train, "n_cis_variants": int(keep.sum()),
                           "n_selected": len(selected), "lambda": fit.lambda_, "lambda_index": fit.lambda_index,
                           "cv_mse": fit.cv_mse, "cv_r2": fit.cv_r2, "status": OK}
        summary.append(row)
        preds.append(pd.DataFrame({"gene_id": gene.gene_id, "individual": people["individual"], "y_pred": y_pred}))
        if number % 50 == 0 or number == len(fit_genes):
            log.info("%s: %d/%d genes fitted", dosages.chrom, number, len(fit_genes))
    per_individual = (pd.concat(preds, ignore_index=True) if preds
                      else pd.DataFrame({"gene_id": [], "individual": [], "y_pred": []}))
    summary_df = pd.DataFrame(summary, columns=GENE_COLUMNS)
    gene_status = dict(zip(summary_df["gene_id"], summary_df["status"]))
    rows = [individual_rows(p, per_individual, genes, expression, individuals, gene_status) for p in protocols]
    rows = [r for r in rows if len(r)]
    predictions = pd.concat(rows, ignore_index=True) if rows else empty_predictions()
    weights_df = pd.concat(weights, ignore_index=True) if weights else pd.DataFrame(columns=WEIGHT_COLUMNS)
    for status, n in summary_df.loc[summary_df["status"] != OK, "status"].value_counts().items():
        log.warning("%s: %d genes %s", dosages.chrom, n, status)
    return predictions, weights_df[WEIGHT_COLUMNS], summary_df


def run_chromosome(vcf_path: str, chrom: str, genes: pd.DataFrame, expression: pd.DataFrame,
                   individuals: pd.DataFrame, config: ElasticNetConfig, protocols: Sequence[str] = PROTOCOLS):
    """The elastic_net rule of one chromosome: read the VCF once, fit every training gene of `chrom`."""
    genes = genes[genes["chrom"] == chrom]
    people = individuals.loc[individuals["split"].isin(INDIVIDUAL_SPLITS), "individual"].tolist()
    dosages = read_dosages(vcf_path, chrom, people, config.maf)
    return fit_chromosome(dosages, genes, expression, individuals, config, protocols)
