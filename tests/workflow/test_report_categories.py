"""The landing page (workflow/report/workflow.rst) names only categories the report has (issue 14, item 5)."""

import re

from conftest import ROOT


def test_landing_page_names_only_categories_of_the_report():
    rules = "".join(p.read_text() for p in (ROOT / "workflow" / "rules").rglob("*.smk"))
    categories = set(re.findall(r'category="([^"]+)"', rules))
    named = set(re.findall(r"\*\*(\d\. [^*]+)\*\*", (ROOT / "workflow" / "report" / "workflow.rst").read_text()))
    assert named, "the landing page names no category"
    assert named <= categories, f"the landing page names categories the report does not have: {named - categories}"


def render_landing_page(config: dict) -> str:
    """workflow.rst as `snakemake --report` renders it (Jinja with the config as `snakemake.config`, then docutils)."""
    from docutils.core import publish_parts
    from jinja2 import Environment

    class Snakemake:
        pass

    Snakemake.config = config
    text = Environment(trim_blocks=True, lstrip_blocks=True).from_string((ROOT / "workflow" / "report" / "workflow.rst").read_text())
    return publish_parts(text.render(snakemake=Snakemake, categories={}, files=[]), writer_name="html")["html_body"]


def test_landing_page_renders_for_the_real_config_the_demo_and_several_tissues():
    import yaml

    real = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    assert "GD462" in render_landing_page(real) and "default" in render_landing_page(real)
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    assert "simulated demo" in render_landing_page(demo)
    sources = dict(real["sources"])
    expression = sources.pop("expression")
    tissues = {"LCL": {"expression": expression, "gtex_tissue": "Cells_EBV-transformed_lymphocytes"},
               "Whole_Blood": {"gtex_tissue": "Whole_Blood"}}
    page = render_landing_page({**real, "sources": sources, "tissues": tissues})
    assert "LCL (personal matrix GD462" in page and "Whole_Blood (cross-gene only, GTEx Whole_Blood)" in page
