"""From predicted expression to traits (hapexpr.traits): the phenotype table's checks, the association regressions
against independent computations (scipy, scikit-learn), Benjamini-Hochberg, power/FDP, scores and risk metrics."""

import logging

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special, stats
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import roc_auc_score

from hapexpr.elastic_net import ElasticNetConfig, enet_path_screened, fit_gene, lambda_grid, make_folds
from hapexpr.evaluate import RISK_SOURCE, summarise
from hapexpr.genes import InputError
from hapexpr.ids import UnsafeIdError
from hapexpr.report import summary_page, traits_page
from hapexpr.traits import (
    association_test,
    associate_traits,
    auroc_rows,
    benjamini_hochberg,
    discoveries,
    logistic_fit,
    make_phenotypes,
    penalised_scores,
    read_phenotypes,
    risk_metric,
    risk_models,
)

TRAITS = {"height": "quantitative", "disease": "binary"}
COVARIATES = ["sex", "PC1"]


def write(path, text):
    path.write_text(text)
    return str(path)


GOOD = "individual\tsex\tPC1\theight\tdisease\nA\t0\t0.1\t170.5\t1\nB\t1\t-0.2\t\t0\nC\t1\t0.3\t160\tNA\n"


def test_phenotype_table_is_read_with_missing_values_as_nan(tmp_path):
    table = read_phenotypes(write(tmp_path / "p.tsv", GOOD), TRAITS, COVARIATES)
    assert list(table.index) == ["A", "B", "C"] and list(table.columns) == ["sex", "PC1", "height", "disease"]
    assert np.isnan(table.loc["B", "height"]) and np.isnan(table.loc["C", "disease"])


@pytest.mark.parametrize("text, message", [
    (GOOD.replace("\tPC1\t", "\tPC2\t"), r"no column\(s\) \['PC1'\].*the file has"),
    (GOOD.replace("160", "tall"), r"line 4: non-numeric phenotype value 'tall' for individual C in column 'height'"),
    (GOOD.replace("\t1\nB", "\t2\nB"), r"line 2: binary trait 'disease' has value 2 for individual A; code cases 1"),
    (GOOD.replace("C\t1", "A\t1"), r"lines \[2, 4\]: individual 'A' has more than one row"),
    (GOOD.replace("height\tdisease", "height\theight"), r"column\(s\) \['height'\] occur more than once"),
    (GOOD.replace("individual\t", "sample\t"), r"first column must be 'individual'"),
    (GOOD.replace("\t0.1\t", "\t0.3\t").replace("\t-0.2\t", "\t0.3\t"), r"covariate 'PC1' is constant"),
])
def test_bad_phenotype_tables_name_the_file_line_and_fix(tmp_path, text, message):
    path = write(tmp_path / "pheno.tsv", text)
    with pytest.raises(InputError, match=message) as err:
        read_phenotypes(path, TRAITS, COVARIATES)
    assert "pheno.tsv" in str(err.value)


def test_unsafe_individual_ids_are_refused_as_in_the_expression(tmp_path):
    with pytest.raises(UnsafeIdError, match="p.tsv"):
        read_phenotypes(write(tmp_path / "p.tsv", GOOD.replace("\nB\t", "\nB;rm\t")), TRAITS, COVARIATES)


def individuals_table(splits):
    return pd.DataFrame({"individual": list(splits), "population": "POP", "in_vcf": True, "in_expression": True,
                         "split": list(splits.values())})


def test_mismatched_individuals_are_logged_and_kept_apart(tmp_path, caplog):
    path = write(tmp_path / "p.tsv", GOOD + "Z\t0\t0.2\t150\t0\n")
    individuals = individuals_table({"A": "train", "B": "test", "C": "none", "D": "train"})
    with caplog.at_level(logging.WARNING):
        table = make_phenotypes(path, individuals, TRAITS, COVARIATES)
    assert list(table["individual"]) == ["A", "B"] and list(table["split"]) == ["train", "test"]
    text = caplog.text
    assert "are in no VCF and no expression matrix: Z" in text
    assert "lack genotypes or expression (split none) and are left out: C" in text
    assert "have no row in" in text and text.rstrip().endswith("D")
    with pytest.raises(InputError, match="none of its 4 individuals"):
        make_phenotypes(path, individuals_table({"X": "train"}), TRAITS, COVARIATES)


# --- regressions against independent computations ---


def test_least_squares_without_covariates_is_scipy_linregress():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=40), rng.normal(size=40)
    y = y + 0.5 * x
    beta, se, z, p, status = association_test(y, np.zeros((40, 0)), x, "quantitative")
    ref = stats.linregress((x - x.mean()) / x.std(), y)
    assert status == "ok"
    assert beta == pytest.approx(ref.slope, rel=1e-10) and se == pytest.approx(ref.stderr, rel=1e-10)
    assert p == pytest.approx(ref.pvalue, rel=1e-8) and z == pytest.approx(ref.slope / ref.stderr)


def test_least_squares_with_covariates_matches_the_partial_regression():
    """Frisch-Waugh-Lovell with scikit-learn's least squares: residualise y and x on the covariates, then regress."""
    rng = np.random.default_rng(1)
    n = 60
    cov = rng.normal(size=(n, 3))
    x = cov @ [0.5, -0.2, 0.1] + rng.normal(size=n)
    y = cov @ [1.0, 0.3, -0.5] + 0.4 * x + rng.normal(size=n)
    beta, se, z, p, _ = association_test(y, cov, x, "quantitative")
    xs = (x - x.mean()) / x.std()
    rx = xs - LinearRegression().fit(cov, xs).predict(cov)
    ry = y - LinearRegression().fit(cov, y).predict(cov)
    slope = (rx @ ry) / (rx @ rx)
    dof = n - 5
    se_ref = np.sqrt(((ry - slope * rx) @ (ry - slope * rx)) / dof / (rx @ rx))
    assert beta == pytest.approx(slope, rel=1e-9) and se == pytest.approx(se_ref, rel=1e-9)
    assert p == pytest.approx(2 * stats.t.sf(abs(slope / se_ref), dof), rel=1e-7)


def _negative_log_likelihood(coef, design, y):
    eta = design @ coef
    return -(y * special.log_expit(eta) + (1 - y) * special.log_expit(-eta)).sum()


def test_logistic_fit_matches_scikit_learn_and_the_numerical_information():
    rng = np.random.default_rng(2)
    n = 300
    cov = rng.normal(size=(n, 2))
    x = rng.normal(size=n)
    y = (rng.random(n) < special.expit(-0.5 + cov @ [0.4, -0.3] + 0.8 * x)).astype(float)
    design = np.column_stack([np.ones(n), cov, x])
    coef, se, converged = logistic_fit(y, design)
    assert converged
    ref = LogisticRegression(C=1e10, tol=1e-12, max_iter=10000).fit(design[:, 1:], y)
    np.testing.assert_allclose(coef, [ref.intercept_[0], *ref.coef_[0]], atol=1e-5)
    # Wald SE from a central-difference Hessian of the log-likelihood (no IRLS involved)
    h = 1e-4
    hess = np.empty((4, 4))
    for j in range(4):
        e = np.eye(4)[j] * h
        grad = lambda c: optimize.approx_fprime(c, _negative_log_likelihood, 1e-6, design, y)  # noqa: E731
        hess[:, j] = (grad(coef + e) - grad(coef - e)) / (2 * h)
    np.testing.assert_allclose(se, np.sqrt(np.diag(np.linalg.inv((hess + hess.T) / 2))), rtol=2e-3)
    beta, se_x, z, p, status = association_test(y, cov, x, "binary")
    assert status == "ok" and p == pytest.approx(2 * stats.norm.sf(abs(beta / se_x)))


def test_a_score_on_a_small_scale_is_not_taken_for_separation():
    """A column with SD 0.02 needs a coefficient of about 50 for a modest effect: the fit converges (as scikit-learn's
    does) and is not reported as separation (the demo's risk model of one score hit this)."""
    rng = np.random.default_rng(5)
    n = 200
    x = rng.normal(size=n)
    y = (rng.random(n) < special.expit(-1.0 + x)).astype(float)
    design = np.column_stack([np.ones(n), 0.02 * x])
    coef, se, converged = logistic_fit(y, design)
    ref = LogisticRegression(C=1e10, tol=1e-12, max_iter=10000).fit(design[:, 1:], y)
    assert converged and abs(coef[1]) > 30
    np.testing.assert_allclose(coef, [ref.intercept_[0], *ref.coef_[0]], rtol=1e-4)


def test_separated_or_constant_cases_are_skipped_with_a_status():
    x = np.arange(20.0)
    y = (x > 9).astype(float)
    assert association_test(y, np.zeros((20, 0)), x, "binary")[-1].startswith("skipped: logistic fit did not converge")
    assert association_test(y, np.zeros((20, 0)), np.ones(20), "binary")[-1] == "skipped: constant prediction"
    assert association_test(np.zeros(20), np.zeros((20, 0)), x, "binary")[-1] == "skipped: one class only"
    assert association_test(y[:4], np.zeros((4, 0)), x[:4], "quantitative")[-1] == "skipped: too few individuals"


def test_benjamini_hochberg_is_scipys_and_keeps_nan():
    p = np.array([0.01, np.nan, 0.04, 0.03, 0.5, 0.001, 0.04])
    q = benjamini_hochberg(p)
    finite = np.isfinite(p)
    np.testing.assert_allclose(q[finite], stats.false_discovery_control(p[finite]))
    assert np.isnan(q[1])


def test_auroc_rows_is_roc_auc_score_with_ties():
    rng = np.random.default_rng(3)
    y = (rng.random((5, 40)) < 0.4).astype(float)
    score = np.round(rng.normal(size=(5, 40)) + y, 1)  # ties
    np.testing.assert_allclose(auroc_rows(y, score), [roc_auc_score(a, b) for a, b in zip(y, score)])
    assert np.isnan(auroc_rows(np.zeros(5), np.arange(5.0))[0])


# --- association of synthetic predictions ---


def synthetic(n=200, seed=4):
    """Two populations; gene G1's predicted expression drives the quantitative trait, G2's differs by population
    only (as a trait with a population shift does), G3 is noise."""
    rng = np.random.default_rng(seed)
    people = [f"I{i:03d}" for i in range(n)]
    popb = np.arange(n) >= n // 2
    pc1 = popb + rng.normal(0, 0.1, n)
    sex = rng.integers(0, 2, n)
    g1, g2, g3 = rng.normal(size=n), 3.0 * popb + rng.normal(size=n), rng.normal(size=n)
    height = 0.6 * g1 + 1.5 * popb + 0.3 * sex + rng.normal(0, 0.7, n)
    disease = (0.8 * g1 + rng.normal(size=n) > 0.5).astype(float)
    split = np.where(popb, "test_population", np.where(np.arange(n) % 2 == 0, "test", "train"))
    phenotypes = pd.DataFrame({"individual": people, "population": np.where(popb, "B", "A"), "split": split,
                               "sex": sex, "PC1": pc1, "height": height, "disease": disease})
    rows = []
    for gene, values in (("G1", g1), ("G2", g2), ("G3", g3)):
        for person, s, v in zip(people, split, values):
            protocol = "cross_population" if s == "test_population" else "cross_individual"
            rows.append((gene, person, protocol, "test" if protocol == "cross_population" else s, v, "ok"))
    predictions = pd.DataFrame(rows, columns=["gene_id", "individual", "protocol", "split", "y_pred", "status"])
    genes = pd.DataFrame({"gene_id": ["G1", "G2", "G3"], "gene_name": ["a", "b", "c"], "chrom": "1",
                          "tss": [100, 200, 300]})
    return phenotypes, predictions, genes


def test_association_finds_the_causal_gene_and_the_covariates_remove_population_confounding():
    phenotypes, predictions, genes = synthetic()
    adjusted, found = associate_traits({"m": predictions}, phenotypes, TRAITS, COVARIATES, genes, 0.05,
                                       pd.DataFrame({"trait": ["height", "disease"], "gene_id": ["G1", "G1"]}))
    naive, _ = associate_traits({"m": predictions}, phenotypes, TRAITS, [], genes, 0.05)
    height = adjusted[adjusted["trait"] == "height"].set_index("gene_id")
    assert height.loc["G1", "q"] < 1e-6 and height.loc["G3", "q"] > 0.05
    assert height.loc["G2", "p"] > 0.01  # population-driven: PC1 absorbs it
    assert naive.set_index(["trait", "gene_id"]).loc[("height", "G2"), "p"] < 1e-6  # ... which the naive test lacks
    assert set(height["n"]) == {len(phenotypes.query("split != 'train'"))}  # held-out individuals only
    assert list(adjusted.columns[:3]) == ["model", "trait", "gene_id"] and (adjusted["gene_name"] == "a").sum() == 2
    row = found.set_index("trait").loc["height"]
    assert row["power"] == 1.0 and row["n_causal_tested"] == 1 and row["n_tested"] == 3


def test_discoveries_count_power_and_false_discovery_proportion():
    association = pd.DataFrame({
        "model": "m", "trait": "t", "gene_id": ["A", "B", "C", "D", "E"], "status": ["ok"] * 4 + ["skipped: x"],
        "q": [0.01, 0.02, 0.5, 0.04, np.nan]})
    truth = pd.DataFrame({"trait": "t", "gene_id": ["A", "C", "E", "Z"]})
    row = discoveries(association, 0.05, truth).iloc[0]
    assert (row["n_tested"], row["n_discoveries"], row["n_causal"], row["n_causal_tested"]) == (4, 3, 4, 2)
    assert row["true_discoveries"] == 1 and row["power"] == 0.5 and row["fdp"] == pytest.approx(2 / 3)
    assert np.isnan(discoveries(association, 0.05).iloc[0]["power"])


# --- scores and risk ---


def test_out_of_fold_predictions_of_the_elastic_net_are_those_of_the_other_folds():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(50, 30))
    y = x[:, 0] - x[:, 1] + rng.normal(size=50)
    folds = make_folds(50, 5, 0)
    config = ElasticNetConfig(patience=0)
    fit = fit_gene(x, y, folds, config, out_of_fold=True)
    assert fit_gene(x, y, folds, config).oof is None
    lambdas = lambda_grid(x, y, config.l1_ratio, config.n_lambdas, config.lambda_min_ratio)
    for f in range(5):
        train = folds != f
        xm, ym = x[train].mean(axis=0), y[train].mean()
        coef = enet_path_screened(x[train] - xm, y[train] - ym, lambdas[: fit.lambda_index + 1], config.l1_ratio,
                                  config.tol, config.max_iter)[:, -1]
        np.testing.assert_allclose(fit.oof[~train], (x[~train] - xm) @ coef + ym, atol=1e-6)


def test_penalised_scores_predict_held_out_rows_and_impute_missing_inputs():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(120, 40))
    y = 2 * x[:, 3] + rng.normal(size=120)
    x[5, 3] = np.nan
    oof, other, coef = penalised_scores(x[:80], y[:80], x[80:], 0.5, 5, 0)
    assert np.corrcoef(other, y[80:])[0, 1] > 0.8 and np.corrcoef(oof, y[:80])[0, 1] > 0.7
    assert np.argmax(np.abs(coef)) == 3 and np.isfinite(oof).all()


def test_risk_metric_and_its_bootstrap_interval():
    rng = np.random.default_rng(7)
    y = rng.normal(size=50)
    pred = y + rng.normal(size=50)
    name, (value, low, high) = risk_metric(y, pred, "quantitative", 200, 0)
    assert name == "risk_r2" and value == pytest.approx(np.corrcoef(y, pred)[0, 1] ** 2) and low < value < high
    cases = (y > 0).astype(float)
    name, (value, low, high) = risk_metric(cases, pred, "binary", 200, 0)
    assert name == "risk_auroc" and value == pytest.approx(roc_auc_score(cases, pred)) and low < value < high


def test_risk_models_score_each_predictor_on_both_held_out_splits():
    phenotypes, predictions, _ = synthetic(n=300)
    pgs = pd.DataFrame({"individual": phenotypes["individual"], "split": phenotypes["split"], "trait": "height",
                        "score": np.random.default_rng(8).normal(size=300)})
    pgs = pd.concat([pgs, pgs.assign(trait="disease")])
    risk = risk_models({"m": predictions}, phenotypes, TRAITS, COVARIATES, pgs, 0.5, 5, 100, 0)
    assert set(risk["model"]) == {"covariates", "pgs", "m", "m+pgs"}
    assert set(risk["protocol"]) == {"cross_individual", "cross_population"}
    assert set(risk.loc[risk["trait"] == "disease", "metric"]) == {"risk_auroc"}
    r2 = risk[(risk["trait"] == "height") & (risk["protocol"] == "cross_individual")].set_index("model")["value"]
    assert r2["m"] > r2["covariates"] + 0.2 and r2["m+pgs"] > r2["pgs"] + 0.2
    auc = risk[(risk["trait"] == "disease") & (risk["protocol"] == "cross_population")].set_index("model")["value"]
    assert auc["m"] > 0.65
    assert (risk["n"] == risk["protocol"].map({"cross_individual": 75, "cross_population": 150})).all()


def test_summary_keeps_risk_rows_apart_and_the_summary_page_leaves_them_out():
    risk = pd.DataFrame([("pgs", "height", "cross_individual", "risk_r2", 0.2, 25, 0.1, 0.3, "n")],
                        columns=["model", "trait", "protocol", "metric", "value", "n", "ci_low", "ci_high", "note"])
    metrics = pd.DataFrame([("m", "cross_gene", "test", "pearson", 0.5, 10, 0.4, 0.6, 0, 0, "")],
                           columns=["model", "protocol", "split", "metric", "value", "n", "ci_low", "ci_high",
                                    "n_missing", "n_skipped", "note"])
    summary = summarise([metrics], risk=risk)
    rows = summary[summary["source"] == RISK_SOURCE]
    assert len(rows) == 1 and rows["trait"].iloc[0] == "height"
    assert summary.loc[summary["source"] == "this run", "trait"].eq("").all()
    page = summary_page(summary)
    assert "risk_r2" not in page and "pgs" not in page
    assert "height" in traits_page(pd.DataFrame(columns=["model"]), risk, pd.DataFrame(
        columns=["model", "trait", "gene_id", "gene_name", "chrom", "tss", "n", "beta", "z", "p", "q", "status"]),
        0.05)
