import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import json

import pandas as pd

from hapexpr import setup_logging
from hapexpr.genes import read_genes, read_individuals
from hapexpr.io import atomic_path
from hapexpr.protocols import stack_tissues
from hapexpr.report import overview, overview_page, write_html

setup_logging()
inp, tissues = snakemake.input, snakemake.params.tissues
facts = overview(
    read_genes(inp.genes),
    stack_tissues({t: pd.read_csv(path, sep="\t") for t, path in zip(tissues, inp.dropped)}),
    read_individuals(inp.individuals),
    {t: len(read_genes(path)) for t, path in zip(tissues, inp.tissue_genes)},
)
write_html(overview_page(facts), snakemake.output.html)
with atomic_path(snakemake.output.json) as tmp:
    tmp.write_text(json.dumps(facts, indent=1))
