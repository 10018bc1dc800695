"""The landing page (workflow/report/workflow.rst) names only categories the report has (issue 14, item 5)."""

import re

from conftest import ROOT


def test_landing_page_names_only_categories_of_the_report():
    rules = "".join(p.read_text() for p in (ROOT / "workflow" / "rules").rglob("*.smk"))
    categories = set(re.findall(r'category="([^"]+)"', rules))
    named = set(re.findall(r"\*\*(\d\. [^*]+)\*\*", (ROOT / "workflow" / "report" / "workflow.rst").read_text()))
    assert named, "the landing page names no category"
    assert named <= categories, f"the landing page names categories the report does not have: {named - categories}"
