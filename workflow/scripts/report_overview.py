import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import json

import pandas as pd

from hapexpr import setup_logging
from hapexpr.genes import read_genes, read_individuals
from hapexpr.io import atomic_path
from hapexpr.report import overview, overview_page, write_html

setup_logging()
facts = overview(
    read_genes(snakemake.input.genes),
    pd.read_csv(snakemake.input.dropped, sep="\t"),
    read_individuals(snakemake.input.individuals),
)
write_html(overview_page(facts), snakemake.output.html)
with atomic_path(snakemake.output.json) as tmp:
    tmp.write_text(json.dumps(facts, indent=1))
