"""hapexpr.report on small hand-made tables."""

import pandas as pd
import pytest

import numpy as np

from hapexpr.report import (
    benchmark_grid_page,
    elastic_net_verdict,
    html_table,
    overview,
    summary_page,
    training_curve,
)


def test_summary_page_sets_published_rows_apart_and_shows_intervals():
    summary = pd.DataFrame([
        ("kmer_ridge", "cross_gene", "pearson", 0.5, 80, 0.4, 0.6, "this run", "this run, test split"),
        ("DExTER", "cross_gene", "pearson", 0.64, None, None, None, "published (other data)", "GTEx pituitary"),
    ], columns=["model", "protocol", "metric", "value", "n", "ci_low", "ci_high", "source", "data"])
    page = summary_page(summary)
    assert "0.500 [0.400, 0.600]" in page
    assert '<tr class="published">' in page and page.index("k-mer ridge") < page.index("DExTER")
    assert "http" not in page  # nothing fetched from elsewhere


COLUMNS = ["model", "protocol", "metric", "value", "n", "ci_low", "ci_high", "n_missing", "note", "source", "data",
           "citation"]


def run_summary(rows):
    return pd.DataFrame([(*r, "this run", "this run, test split", "") for r in rows], columns=COLUMNS)


def cross_individual_rows(values: dict[str, float]):
    rows = []
    for model, v in values.items():
        rows.append((model, "cross_individual", "mean_r", v, 50, v - 0.05, v + 0.05, 0, ""))
        rows.append((model, "cross_individual", "mean_abs_r", abs(v) + 0.1, 50, np.nan, np.nan, 0, ""))
        if model != "elastic_net":
            rows.append((model, "cross_individual", "paired_diff_vs_elastic_net", v - values["elastic_net"], 50,
                         v - values["elastic_net"] - 0.02, v - values["elastic_net"] + 0.02, 0, ""))
            rows.append((model, "cross_individual", "share_better_than_elastic_net", 0.25, 50, 0.2, 0.3, 0, ""))
    return rows


def test_summary_page_shows_not_applicable_reasons_missing_counts_and_citations():
    summary = run_summary([
        ("elastic_net", "cross_individual", "mean_r", 0.4, 50, 0.3, 0.5, 3, ""),
        ("elastic_net", "unseen_gene_individual", "not_applicable", np.nan, np.nan, np.nan, np.nan, np.nan,
         "cannot predict an unseen gene"),
    ])
    published = pd.DataFrame([("Enformer tuned", "cross_individual", "mean_r", 0.285, np.nan, np.nan, np.nan, np.nan,
                               "range 0.28-0.29", "published (other data)", "Geuvadis LCL", "Rastogi et al. 2024")],
                             columns=COLUMNS)
    page = summary_page(pd.concat([summary, published]))
    assert "not applicable: cannot predict an unseen gene" in page
    assert "<td>3</td>" in page and "Rastogi et al. 2024" in page and "Geuvadis LCL" in page
    assert "range 0.28-0.29" in page


def test_verdict_says_whether_the_elastic_net_beats_every_sequence_model():
    wins = run_summary(cross_individual_rows({"elastic_net": 0.38, "elastic_net_window": 0.5, "kmer_ridge": 0.02,
                                              "gta": 0.05}))
    text = elastic_net_verdict(wins)
    assert "beats every sequence model" in text and "GTA, reaches 0.050" in text and "paired difference" in text
    loses = run_summary(cross_individual_rows({"elastic_net": 0.1, "gta": 0.2, "kmer_ridge": 0.0}))
    text = elastic_net_verdict(loses)
    assert "does NOT beat every sequence model: GTA (0.200)" in text and "k-mer" not in text
    assert elastic_net_verdict(run_summary(cross_individual_rows({"elastic_net": 0.1}))).startswith("No comparison")
    # a cross-gene-only tissue (or run): no personal rows at all
    cross_gene = run_summary([("gc_cpg", "cross_gene", "pearson", 0.5, 20, 0.3, 0.6, 0, "")])
    assert elastic_net_verdict(cross_gene).startswith("No comparison on cross-individual")
    assert "Benchmark grid" in benchmark_grid_page(cross_gene, {"gc_cpg": "4000 bp"})


def test_grid_has_a_cell_per_model_and_protocol_with_windows_and_the_dna_over_prompt_difference():
    rows = cross_individual_rows({"elastic_net": 0.38, "gta": 0.05, "gta_prompt_only": 0.01})
    rows += [("gta", "cross_gene", "pearson", 0.5, 20, 0.3, 0.6, 0, ""),
             ("gta_prompt_only", "cross_gene", "pearson", 0.45, 20, 0.3, 0.6, 0, ""),
             ("gta", "cross_gene", "pearson_diff_vs_gta_prompt_only", 0.05, 20, -0.1, 0.2, 0, ""),
             ("gta", "cross_individual", "paired_diff_vs_gta_prompt_only", 0.04, 50, 0.0, 0.08, 0, ""),
             ("elastic_net", "cross_gene", "not_applicable", np.nan, np.nan, np.nan, np.nan, np.nan,
              "cannot predict an unseen gene")]
    page = benchmark_grid_page(run_summary(rows), {"gta": "49152 bp", "elastic_net": "cis variants within +-500000 bp"})
    assert "49152 bp" in page and "cis variants within +-500000 bp" in page
    assert "not applicable: cannot predict an unseen gene" in page
    assert "0.050 [0.000, 0.100]; |r| 0.150" in page  # GTA's mean r [CI]; mean |r|
    assert "What the DNA adds" in page and "0.050 [-0.100, 0.200]" in page and "0.040 [0.000, 0.080]" in page
    assert "Paired comparison with the elastic net" in page and "beats every sequence model" in page
    assert "(n = 50 genes)" in page and "(n = 20 genes)" in page
    assert "What the DNA adds" not in benchmark_grid_page(run_summary(cross_individual_rows({"elastic_net": 0.3})), {})


def test_training_curve_reads_the_trainer_log():
    log = pd.DataFrame({"step": [1, 2], "epoch": [0, 0], "train_loss": [2.0, 1.0], "valid_loss": [None, 1.5],
                        "lr": [0.1, 0.1]})
    assert training_curve(log).to_dict("records") == [
        {"step": 1, "loss": 2.0, "split": "train"}, {"step": 2, "loss": 1.0, "split": "train"},
        {"step": 2, "loss": 1.5, "split": "valid"}]


def test_overview_counts_used_and_left_out():
    genes = pd.DataFrame({"gene_id": ["a", "b", "c"], "split": ["train", "train", "test"]})
    dropped = pd.DataFrame({"gene_id": ["d", "e"], "reason": ["not in the annotation"] * 2})
    individuals = pd.DataFrame({"individual": ["x", "y", "z"], "population": ["P", "P", "unknown"],
                                "in_vcf": [True, True, False], "in_expression": [True, False, True],
                                "split": ["train", "none", "none"]})
    facts = overview(genes, dropped, individuals)
    assert facts["genes_used"] == 3 and facts["genes_by_split"] == {"test": 1, "train": 2}
    assert facts["genes_dropped"] == {"not in the annotation": 2}
    assert facts["individuals_used"] == 1
    assert facts["individuals_dropped"] == {"genotypes but no expression": 1, "expression but no genotypes": 1}


def test_html_table_escapes_values():
    page = html_table(pd.DataFrame({"gene": ["<b>x</b>"], "r": [0.12345]}), "t")
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "0.123" in page
    with pytest.raises(KeyError):
        overview(pd.DataFrame({"gene_id": []}), pd.DataFrame({"reason": []}), pd.DataFrame())
