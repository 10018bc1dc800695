"""From predicted expression to traits: the phenotype table, gene-level association (TWAS), polygenic scores and
individual risk (config/README.md, "Traits").

Who is used for what:
- association: per model, the individuals it predicted without training on them: the rows of protocol
  cross_individual with split test and of protocol cross_population (a held-out population), on the genes of those
  protocols (the training genes). Per gene and trait, trait ~ 1 + covariates + standardised predicted expression:
  least squares for a quantitative trait (z = beta / se, p from Student's t with n - k degrees of freedom), logistic
  regression (Newton-Raphson; Wald z, normal p) for a binary one; Benjamini-Hochberg q over the genes of a model and
  trait.
- risk: a score is a penalised linear model (scikit-learn ElasticNetCV, the trait as 0/1 for a binary trait) fitted
  on the individuals of split train (those the expression models trained on): on all genes' predicted expression of
  one model, or on the genotypes (the polygenic score, PGS). Train individuals get out-of-fold scores (the chosen
  penalty refitted without their fold), the others the score of the model fitted on every train individual. A risk
  model then regresses the trait on the covariates plus scores (least squares, or logistic for binary traits) on
  the train individuals and is scored on split test (protocol cross_individual) and on split test_population
  (cross_population): squared Pearson r (r2) for quantitative, AUROC for binary traits, with bootstrap CIs over
  the test individuals (the same resamples for every model of a trait and protocol).
"""

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from hapexpr.evaluate import rowwise_pearson, statistic_with_ci
from hapexpr.genes import InputError, numeric_table, refuse_repeated_columns
from hapexpr.ids import validate_ids

log = logging.getLogger(__name__)

TRAIT_TYPES = ("quantitative", "binary")
ASSOCIATION_COLUMNS = ["model", "trait", "gene_id", "gene_name", "chrom", "tss", "n", "beta", "se", "z", "p", "q",
                       "status"]
DISCOVERY_COLUMNS = ["model", "trait", "n_tested", "n_discoveries", "n_causal", "n_causal_tested",
                     "true_discoveries", "power", "fdp"]
RISK_COLUMNS = ["model", "trait", "protocol", "metric", "value", "n", "ci_low", "ci_high", "note"]
SCORE_COLUMNS = ["individual", "split", "trait", "score"]
WEIGHT_COLUMNS = ["trait", "chrom", "pos", "ref", "alt", "weight"]
#: Splits whose individuals each risk protocol is scored on.
RISK_PROTOCOLS = {"cross_individual": "test", "cross_population": "test_population"}
OK = "ok"
PGS = "pgs"
COVARIATES = "covariates"
MIN_EXTRA = 3  # individuals beyond the number of coefficients needed to test a gene


# ---------------------------------------------------------------------------------------------- the phenotype table


def read_phenotypes(path: str, traits: Mapping[str, str], covariates: Sequence[str]) -> pd.DataFrame:
    """The phenotype table (TSV: `individual`, then columns), indexed by individual: the covariates and traits asked
    for, as floats (NaN where empty or NA). Errors name the file, the line and the fix: a repeated column, an unsafe
    or repeated id, a column the config names that is absent, a non-number, a binary trait that is not 0/1, a
    constant covariate."""
    refuse_repeated_columns(path, "every trait and covariate must have one column")
    table = pd.read_csv(path, sep="\t", dtype=str)
    if table.columns[0] != "individual":
        raise InputError(f"{path}: the first column must be 'individual' (the ids of the VCF and the expression "
                         f"matrix), found {table.columns[0]!r}; rename it or put the ids first.")
    ids = table["individual"].fillna("").astype(str)
    validate_ids(ids, "individual", path)
    repeated = ids[ids.duplicated(keep=False)]
    if len(repeated):
        lines = [i + 2 for i in repeated.index[:4]]
        raise InputError(f"{path}, lines {lines}: individual {repeated.iloc[0]!r} has more than one row; keep one "
                         f"row per individual.")
    bad_types = {t: kind for t, kind in traits.items() if kind not in TRAIT_TYPES}
    if bad_types:
        raise InputError(f"traits.traits: type(s) {bad_types} unknown; use one of {list(TRAIT_TYPES)}")
    wanted = list(dict.fromkeys([*covariates, *traits]))
    missing = [c for c in wanted if c not in table.columns]
    if missing:
        raise InputError(f"{path}: no column(s) {missing}, which the config names (traits.traits, "
                         f"traits.covariates); the file has {list(table.columns[1:])}. Fix the config or the file.")
    values = numeric_table(table[wanted], path, ids, "phenotype", "individual",
                           "Leave missing values empty or NA; code categories as numbers (e.g. sex 0/1).")
    values.index = pd.Index(ids, name="individual")
    for trait, kind in traits.items():
        column = values[trait]
        wrong = column.notna() & ~column.isin([0.0, 1.0])
        if kind == "binary" and wrong.any():
            line = int(np.flatnonzero(wrong.to_numpy())[0]) + 2
            raise InputError(f"{path}, line {line}: binary trait {trait!r} has value {column[wrong].iloc[0]:g} for "
                             f"individual {column[wrong].index[0]}; code cases 1 and controls 0, or declare it "
                             f"quantitative in traits.traits.")
    for covariate in covariates:
        if values[covariate].nunique() < 2:
            raise InputError(f"{path}: covariate {covariate!r} is constant (or empty); remove it from "
                             f"traits.covariates.")
    return values


def make_phenotypes(path: str, individuals: pd.DataFrame, traits: Mapping[str, str],
                    covariates: Sequence[str]) -> pd.DataFrame:
    """The checked phenotypes of the individuals with a split (genotypes and expression): individual, population,
    split, covariates, traits. Who is in only one of the phenotype table and results/individuals.tsv is logged, as
    the individuals stage logs the VCF / expression mismatches."""
    values = read_phenotypes(path, traits, covariates)
    used = individuals[individuals["split"] != "none"].set_index("individual")
    known = set(individuals["individual"])
    unknown = sorted(set(values.index) - known)
    unusable = sorted(set(values.index) & known - set(used.index))
    lacking = sorted(set(used.index) - set(values.index))
    if unknown:
        log.warning("%d individuals of %s are in no VCF and no expression matrix: %s", len(unknown), path,
                    " ".join(unknown))
    if unusable:
        log.warning("%d individuals of %s lack genotypes or expression (split none) and are left out: %s",
                    len(unusable), path, " ".join(unusable))
    if lacking:
        log.warning("%d individuals with genotypes and expression have no row in %s: %s", len(lacking), path,
                    " ".join(lacking))
    both = [i for i in used.index if i in values.index]
    if not both:
        raise InputError(f"{path}: none of its {len(values)} individuals (e.g. {list(values.index[:3])}) has "
                         f"genotypes and expression (results/individuals.tsv, e.g. {list(used.index[:3])}); check "
                         f"that the files use the same ids.")
    table = pd.concat([used.loc[both, ["population", "split"]], values.loc[both]], axis=1).reset_index()
    incomplete = table.loc[table[list(covariates)].isna().any(axis=1), "individual"]
    if len(incomplete):
        log.warning("%d individuals lack a covariate value and are left out of every analysis: %s", len(incomplete),
                    " ".join(incomplete))
    for trait, kind in traits.items():
        for split, part in table.groupby("split")[trait]:
            cases = f", {int(part.sum())} cases" if kind == "binary" else ""
            log.info("%s (%s): %d individuals of split %s with a value%s", trait, kind, part.notna().sum(), split,
                     cases)
    return table


def read_phenotype_table(path: str) -> pd.DataFrame:
    """results/traits/phenotypes.tsv as later rules read it: ids, populations and splits as strings."""
    return pd.read_csv(path, sep="\t", dtype={"individual": str, "population": str, "split": str},
                       keep_default_na=False, na_values=["", "NA", "nan", "NaN"])


def read_personal_predictions(path: str) -> pd.DataFrame:
    """The rows of the individual protocols that association and risk read (cross_individual, every split, and
    cross_population) of a predictions file; none for a model without personal predictions."""
    from hapexpr.io import read_parquet

    return read_parquet(path, columns=["gene_id", "individual", "protocol", "split", "y_pred", "status"],
                        filters=[("protocol", "in", ["cross_individual", "cross_population"])])


# ---------------------------------------------------------------------------------------------- regressions


def _design(covariates: np.ndarray, x: np.ndarray | None = None) -> np.ndarray:
    n = len(covariates)
    parts = [np.ones((n, 1)), covariates.reshape(n, -1)]
    if x is not None:
        parts.append(np.asarray(x, float).reshape(n, -1))
    return np.hstack(parts)


def ols_wald(y: np.ndarray, design: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(coefficients, standard errors, degrees of freedom) of least squares of y on `design`; NaN standard errors
    when the design is rank-deficient or leaves no degree of freedom."""
    n, k = design.shape
    coef, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    dof = n - k
    if rank < k or dof <= 0:
        return coef, np.full(k, np.nan), dof
    resid = y - design @ coef
    cov = np.linalg.inv(design.T @ design) * (resid @ resid / dof)
    return coef, np.sqrt(np.clip(np.diag(cov), 0, None)), dof


def logistic_fit(y: np.ndarray, design: np.ndarray, max_iter: int = 50,
                 tol: float = 1e-8) -> tuple[np.ndarray, np.ndarray, bool]:
    """(coefficients, Wald standard errors, converged) of the unpenalised logistic regression of 0/1 `y` on
    `design`, by Newton-Raphson from the intercept-only fit. Separation does not converge (False): the steps do not
    shrink, or the fitted log-odds reach |30| (probabilities within 1e-13 of 0 or 1). The test is on the log-odds, not
    on the coefficients, whose size depends on each column's scale (a score with SD 0.03 takes a coefficient of 30
    for an odds ratio of 2.5 per SD)."""
    n, k = design.shape
    coef = np.zeros(k)
    mean = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    coef[0] = np.log(mean / (1 - mean))
    hessian = None
    for _ in range(max_iter):
        mu = special.expit(design @ coef)
        weight = mu * (1 - mu)
        hessian = design.T @ (design * weight[:, None])
        try:
            step = np.linalg.solve(hessian, design.T @ (y - mu))
        except np.linalg.LinAlgError:
            return coef, np.full(k, np.nan), False
        coef = coef + step
        if np.max(np.abs(step)) < tol:
            eta = design @ coef
            mu = special.expit(eta)
            hessian = design.T @ (design * (mu * (1 - mu))[:, None])
            try:
                se = np.sqrt(np.clip(np.diag(np.linalg.inv(hessian)), 0, None))
            except np.linalg.LinAlgError:
                return coef, np.full(k, np.nan), False
            return coef, se, bool(np.all(np.isfinite(se)) and np.max(np.abs(eta)) < 30)
    return coef, np.full(k, np.nan), False


def association_test(y: np.ndarray, covariates: np.ndarray, x: np.ndarray, kind: str) -> tuple[float, float, float,
                                                                                                 float, str]:
    """(beta, se, z, p, status) of x (standardised here) in trait ~ 1 + covariates + x."""
    sd = x.std()
    if not sd > 1e-12 * max(1.0, float(np.abs(x).max())):
        return np.nan, np.nan, np.nan, np.nan, "skipped: constant prediction"
    design = _design(covariates, (x - x.mean()) / sd)
    if len(y) < design.shape[1] + MIN_EXTRA:
        return np.nan, np.nan, np.nan, np.nan, "skipped: too few individuals"
    if kind == "binary":
        if y.min() == y.max():
            return np.nan, np.nan, np.nan, np.nan, "skipped: one class only"
        coef, se, converged = logistic_fit(y, design)
        if not converged:
            return np.nan, np.nan, np.nan, np.nan, "skipped: logistic fit did not converge (separation)"
        z = coef[-1] / se[-1]
        return float(coef[-1]), float(se[-1]), float(z), float(2 * stats.norm.sf(abs(z))), OK
    coef, se, dof = ols_wald(y, design)
    if not np.isfinite(se[-1]) or se[-1] == 0:
        return np.nan, np.nan, np.nan, np.nan, "skipped: collinear with the covariates"
    z = coef[-1] / se[-1]
    return float(coef[-1]), float(se[-1]), float(z), float(2 * stats.t.sf(abs(z), dof)), OK


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q) of the finite entries of `p`; NaN stays NaN."""
    p = np.asarray(p, float)
    q = np.full_like(p, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        q[finite] = stats.false_discovery_control(p[finite], method="bh")
    return q


# ---------------------------------------------------------------------------------------------- association


def held_out_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    """individual x gene matrix of a model's predictions for the individuals it did not train on: rows of
    cross_individual with split test and of cross_population, status ok (NaN where a pair has none)."""
    rows = predictions[(((predictions["protocol"] == "cross_individual") & (predictions["split"] == "test"))
                        | (predictions["protocol"] == "cross_population")) & (predictions["status"] == OK)]
    rows = rows[np.isfinite(rows["y_pred"].astype(float))]
    return rows.pivot_table(index="individual", columns="gene_id", values="y_pred", aggfunc="first",
                            observed=True)


def associate_model(matrix: pd.DataFrame, phenotypes: pd.DataFrame, trait: str, kind: str,
                    covariates: Sequence[str]) -> pd.DataFrame:
    """gene_id, n, beta, se, z, p, status of every gene of `matrix` (individuals x genes) with one trait."""
    table = phenotypes.set_index("individual")
    people = [i for i in matrix.index if i in table.index]
    part = table.loc[people, [*covariates, trait]].dropna()
    x_all = matrix.loc[part.index]
    y_all = part[trait].to_numpy(float)
    cov_all = part[list(covariates)].to_numpy(float)
    rows = []
    for gene in matrix.columns:
        x = x_all[gene].to_numpy(float)
        ok = np.isfinite(x)
        rows.append((gene, int(ok.sum()), *association_test(y_all[ok], cov_all[ok], x[ok], kind)))
    return pd.DataFrame(rows, columns=["gene_id", "n", "beta", "se", "z", "p", "status"])


def discoveries(association: pd.DataFrame, fdr: float, truth: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per model and trait: genes tested and discovered (q < fdr) and, against a planted truth (trait, gene_id of
    the causal genes), power (share of the tested causal genes discovered) and the false discovery proportion."""
    rows = []
    for (model, trait), part in association.groupby(["model", "trait"], sort=False):
        tested = part[part["status"] == OK]
        found = set(tested.loc[tested["q"] < fdr, "gene_id"])
        if truth is None:
            rows.append((model, trait, len(tested), len(found), np.nan, np.nan, np.nan, np.nan, np.nan))
            continue
        causal = set(truth.loc[truth["trait"] == trait, "gene_id"])
        causal_tested = causal & set(tested["gene_id"])
        true = len(found & causal)
        rows.append((model, trait, len(tested), len(found), len(causal), len(causal_tested), true,
                     true / len(causal_tested) if causal_tested else np.nan,
                     (len(found) - true) / len(found) if found else np.nan))
    return pd.DataFrame(rows, columns=DISCOVERY_COLUMNS)


def associate_traits(predictions: Mapping[str, pd.DataFrame], phenotypes: pd.DataFrame, traits: Mapping[str, str],
                     covariates: Sequence[str], genes: pd.DataFrame, fdr: float,
                     truth: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(association, discoveries) of every model with held-out personal predictions and every trait."""
    parts = []
    for name, table in predictions.items():
        matrix = held_out_predictions(table)
        if matrix.empty:
            log.info("%s: no personal predictions of held-out individuals, not associated", name)
            continue
        for trait, kind in traits.items():
            result = associate_model(matrix, phenotypes, trait, kind, covariates)
            ok = result["status"] == OK
            result.loc[ok, "q"] = benjamini_hochberg(result.loc[ok, "p"].to_numpy())
            parts.append(result.assign(model=name, trait=trait))
            log.info("%s, %s: %d genes tested in %d individuals, %d with q < %g", name, trait, ok.sum(),
                     len(matrix), int((result["q"] < fdr).sum()), fdr)
    if not parts:
        raise ValueError("no model has personal predictions of held-out individuals (protocols cross_individual, "
                         "cross_population): gene-level association needs them; enable the elastic net")
    out = pd.concat(parts, ignore_index=True)
    annotation = genes.set_index("gene_id")[["gene_name", "chrom", "tss"]]
    out = out.join(annotation, on="gene_id")
    return out[ASSOCIATION_COLUMNS], discoveries(out, fdr, truth)


# ---------------------------------------------------------------------------------------------- scores and risk


def penalised_scores(x_train: np.ndarray, y_train: np.ndarray, x_other: np.ndarray, l1_ratio: float, folds: int,
                     seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(out-of-fold scores of the train rows, scores of the other rows, coefficients per input column) of the
    workflow's elastic net (hapexpr.elastic_net.fit_gene: lambda by seeded K-fold CV on a glmnet path) on inputs
    standardised over the train rows. Columns constant there get weight 0; missing values (NaN) take the train
    mean. The out-of-fold score of a train row comes from the model of the other folds at the chosen lambda."""
    from hapexpr.elastic_net import ElasticNetConfig, fit_gene, make_folds

    mean = np.nanmean(x_train, axis=0) if len(x_train) else np.zeros(x_train.shape[1])
    mean = np.where(np.isfinite(mean), mean, 0.0)
    x_train = np.where(np.isfinite(x_train), x_train, mean)
    x_other = np.where(np.isfinite(x_other), x_other, mean)
    sd = x_train.std(axis=0)
    keep = sd > 0
    coef = np.zeros(x_train.shape[1])
    if not keep.any() or len(y_train) < 2 * folds or np.ptp(y_train) == 0:
        return np.full(len(x_train), y_train.mean()), np.full(len(x_other), y_train.mean()), coef
    z_train = (x_train[:, keep] - mean[keep]) / sd[keep]
    z_other = (x_other[:, keep] - mean[keep]) / sd[keep]
    fit = fit_gene(z_train, y_train, make_folds(len(y_train), folds, seed),
                   ElasticNetConfig(l1_ratio=l1_ratio, folds=folds, seed=seed), out_of_fold=True)
    coef[keep] = fit.coef / sd[keep]
    return fit.oof, z_other @ fit.coef + fit.intercept, coef


def polygenic_scores(vcf_paths: Sequence[str], chromosomes: Sequence[str], phenotypes: pd.DataFrame,
                     traits: Mapping[str, str], maf: float, l1_ratio: float, folds: int,
                     seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores, weights): the PGS of every trait for every individual of `phenotypes` (out-of-fold for split train),
    an elastic net on the biallelic variants of every chromosome (MAF >= `maf` among these individuals) fitted on the
    train individuals with a value of the trait; weights per ALT allele of the variants it selected."""
    from hapexpr.elastic_net import read_dosages

    people = phenotypes["individual"].tolist()
    blocks = [read_dosages(path, chrom, people, maf) for path, chrom in zip(vcf_paths, chromosomes)]
    order = {s: i for i, s in enumerate(blocks[0].samples)} if blocks else {}
    people = [p for p in people if p in order]
    dosage = np.vstack([b.values[:, [b.samples.index(p) for p in people]] for b in blocks]).T.astype(float)
    dosage[dosage < 0] = np.nan
    variants = pd.DataFrame({
        "chrom": np.concatenate([[b.chrom] * len(b.positions) for b in blocks]),
        "pos": np.concatenate([b.positions + 1 for b in blocks]),
        "ref": np.concatenate([b.ref for b in blocks]), "alt": np.concatenate([b.alt for b in blocks])})
    table = phenotypes.set_index("individual").loc[people]
    log.info("PGS: %d variants of %d chromosomes, %d individuals", dosage.shape[1], len(blocks), len(people))
    scores, weights = [], []
    for trait in traits:
        train = ((table["split"] == "train") & table[trait].notna()).to_numpy()
        oof, other, coef = penalised_scores(dosage[train], table.loc[train, trait].to_numpy(float),
                                            dosage[~train], l1_ratio, folds, seed)
        score = np.empty(len(people))
        score[train], score[~train] = oof, other
        scores.append(pd.DataFrame({"individual": people, "split": table["split"].to_numpy(), "trait": trait,
                                    "score": score}))
        chosen = coef != 0
        weights.append(variants[chosen].assign(trait=trait, weight=coef[chosen]))
        log.info("PGS %s: %d of %d variants selected on %d train individuals", trait, chosen.sum(), len(coef),
                 train.sum())
    return pd.concat(scores, ignore_index=True)[SCORE_COLUMNS], pd.concat(weights, ignore_index=True)[WEIGHT_COLUMNS]


def auroc_rows(y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """AUROC of each row pair (Mann-Whitney from ranks, ties counted half); NaN where a row has one class."""
    y, score = np.atleast_2d(y), np.atleast_2d(score)
    ranks = stats.rankdata(score, axis=-1)
    positives = y.sum(axis=-1)
    negatives = y.shape[-1] - positives
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * y).sum(axis=-1) - positives * (positives + 1) / 2) / (positives * negatives)
    return np.where((positives > 0) & (negatives > 0), auc, np.nan)


def risk_metric(y: np.ndarray, prediction: np.ndarray, kind: str, n_boot: int, seed: int):
    """(name, (value, ci_low, ci_high)): r2 (squared Pearson r) or AUROC of a prediction over test individuals,
    with a bootstrap CI resampling individuals (evaluate.statistic_with_ci: the same resamples for the same seed)."""
    y, prediction = np.asarray(y, float), np.asarray(prediction, float)

    def statistic(index):
        index = np.asarray(index, dtype=np.int64)
        if kind == "binary":
            return auroc_rows(y[index], prediction[index])
        return rowwise_pearson(y[index], prediction[index]) ** 2

    name = "risk_auroc" if kind == "binary" else "risk_r2"
    return name, statistic_with_ci(np.arange(len(y), dtype=float), statistic, n_boot, seed)


def _final_model(y: np.ndarray, design: np.ndarray, kind: str) -> np.ndarray | None:
    """Coefficients of the risk model (least squares, or logistic for binary); None when logistic does not
    converge."""
    if kind == "binary":
        coef, _, converged = logistic_fit(y, design)
        return coef if converged else None
    return np.linalg.lstsq(design, y, rcond=None)[0]


def expression_matrix(predictions: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{split: individual x gene predictions} of a model: cross_individual rows by the individual's split, and
    cross_population rows as split test_population."""
    rows = predictions[(predictions["status"] == OK) & predictions["protocol"].isin(["cross_individual",
                                                                                     "cross_population"])]
    rows = rows.assign(split=np.where(rows["protocol"] == "cross_population", "test_population",
                                      rows["split"].astype(str)))
    return {split: part.pivot_table(index="individual", columns="gene_id", values="y_pred", aggfunc="first",
                                    observed=True)
            for split, part in rows.groupby("split", observed=True)}


def risk_models(predictions: Mapping[str, pd.DataFrame], phenotypes: pd.DataFrame, traits: Mapping[str, str],
                covariates: Sequence[str], pgs: pd.DataFrame, l1_ratio: float, folds: int, n_boot: int,
                seed: int) -> pd.DataFrame:
    """Risk metrics (RISK_COLUMNS) of every trait: the covariates alone, the PGS, each model's predicted expression,
    and each model's expression with the PGS ("<model>+pgs"), each with the covariates; see the module docstring."""
    table = phenotypes.set_index("individual")
    matrices = {name: expression_matrix(df) for name, df in predictions.items()}
    matrices = {name: m for name, m in matrices.items() if "train" in m and any(s in m for s in RISK_PROTOCOLS.values())}
    rows = []
    for trait, kind in traits.items():
        usable = table[[*covariates, trait, "split"]].dropna()
        train = usable[usable["split"] == "train"]
        pgs_score = pgs[pgs["trait"] == trait].set_index("individual")["score"]
        scores = {COVARIATES: {}, PGS: {PGS: pgs_score}}
        for name, matrix in matrices.items():
            x_train = matrix["train"].reindex(index=train.index)
            genes = x_train.columns
            others = pd.concat([matrix[s].reindex(columns=genes) for s in RISK_PROTOCOLS.values() if s in matrix])
            others = others[others.index.isin(usable.index)]
            oof, other, coef = penalised_scores(x_train.to_numpy(float), train[trait].to_numpy(float),
                                                others.to_numpy(float), l1_ratio, folds, seed)
            score = pd.concat([pd.Series(oof, index=x_train.index), pd.Series(other, index=others.index)])
            scores[name] = {name: score}
            scores[f"{name}+{PGS}"] = {name: score, PGS: pgs_score}
            log.info("%s, %s: expression score on %d genes (%d non-zero), %d train individuals", name, trait,
                     len(genes), int((coef != 0).sum()), len(train))
        for model, parts in scores.items():
            columns = [*covariates, *parts]
            frame = usable[list(covariates) + ["split", trait]].join(pd.DataFrame(parts), how="left").dropna()
            fit = frame[frame["split"] == "train"]
            coef = _final_model(fit[trait].to_numpy(float), _design(fit[columns].to_numpy(float)), kind)
            for protocol, split in RISK_PROTOCOLS.items():
                test = frame[frame["split"] == split]
                if test.empty:
                    continue
                note = (f"trained on {len(fit)} train individuals; covariates {list(covariates)}"
                        + (f" + score(s) {list(parts)}" if parts else ""))
                if coef is None:
                    rows.append((model, trait, protocol, "risk_auroc", np.nan, len(test), np.nan, np.nan,
                                 note + "; logistic fit did not converge (separation)"))
                    continue
                linear = _design(test[columns].to_numpy(float)) @ coef
                metric, (value, low, high) = risk_metric(test[trait].to_numpy(float), linear, kind, n_boot, seed)
                rows.append((model, trait, protocol, metric, value, len(test), low, high, note))
                log.info("risk %s %s %s %s = %.3f [%.3f, %.3f] (n %d)", model, trait, protocol, metric, value, low,
                         high, len(test))
    return pd.DataFrame(rows, columns=RISK_COLUMNS)
