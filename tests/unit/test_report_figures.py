"""hapexpr.report on small hand-made tables."""

import pandas as pd
import pytest

from hapexpr.report import html_table, overview, summary_page, training_curve


def test_summary_page_sets_published_rows_apart_and_shows_intervals():
    summary = pd.DataFrame([
        ("kmer_ridge", "cross_gene", "pearson", 0.5, 80, 0.4, 0.6, "this run", "this run, test split"),
        ("DExTER", "cross_gene", "pearson", 0.64, None, None, None, "published (other data)", "GTEx pituitary"),
    ], columns=["model", "protocol", "metric", "value", "n", "ci_low", "ci_high", "source", "data"])
    page = summary_page(summary)
    assert "0.500 [0.400, 0.600]" in page
    assert '<tr class="published">' in page and page.index("k-mer ridge") < page.index("DExTER")
    assert "http" not in page  # nothing fetched from elsewhere


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
