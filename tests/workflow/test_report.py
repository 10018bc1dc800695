"""The report of the demo opens offline in real headless Chromium: no console errors, no outside requests,
the summary table and the figures are there; a screenshot is kept."""

import shutil

import pandas as pd
import pytest

from browser import chromium_path, visit
from conftest import ROOT

pytestmark = pytest.mark.slow


def test_report_files_exist_and_summary_names_every_model(demo_run):
    report = demo_run / "results" / "report"
    for name in ("overview.html", "default/summary.html", "default/per_gene.html", "provenance.html",
                 "default/cross_gene.png", "default/per_gene_r.png", "default/versus_elastic_net.png",
                 "haplotypes.png"):
        assert (report / name).stat().st_size > 0, name
    summary = pd.read_csv(demo_run / "results" / "benchmark" / "summary.tsv", sep="\t")
    assert set(summary.loc[summary["source"] == "this run", "tissue"]) == {"default"}
    # each tissue's pages carry it as a label of the HTML report (the rules' `labels` with the {tissue} wildcard)
    assert '"labels": {"tissue": "default", "table": "benchmark summary"}' in (
        demo_run / "results" / "report.html").read_text()
    html = (report / "default" / "summary.html").read_text()
    assert "published (other data)" in html
    for model in summary.loc[summary["source"] == "this run", "model"].unique():
        assert model in summary["model"].tolist()
    provenance = (report / "provenance.html").read_text()
    assert "simulate" in provenance and "snakemake" in provenance  # a job's runtime and a package version


def test_report_opens_offline_in_chromium_without_errors(demo_run, tmp_path):
    if chromium_path() is None:
        pytest.skip("chromium is not installed (make test installs Debian's chromium as root)")
    report = demo_run / "results" / "report.html"
    shot = tmp_path / "report.png"
    page = visit(report, shot)
    assert page.console_errors == [], page.console_errors
    assert page.outside_requests == [], page.outside_requests
    for text in ("Run", "Genes used", "Models", "1. Summary", "2. Across genes", "3. Across individuals"):
        assert text in page.text, text
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    keep = ROOT / "results" / "test-report-screenshot.png"
    keep.parent.mkdir(exist_ok=True)
    shutil.copy(shot, keep)
