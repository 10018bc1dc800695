import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from hapexpr import setup_logging
from hapexpr.genes import read_genes
from hapexpr.io import write_tsv
from hapexpr.traits import associate_traits, read_personal_predictions, read_phenotype_table

setup_logging()
inp, p = snakemake.input, snakemake.params
association, discoveries = associate_traits(
    {name: read_personal_predictions(path) for name, path in zip(p.names, inp.predictions)},
    read_phenotype_table(inp.phenotypes),
    p.traits,
    p.covariates,
    read_genes(inp.genes),
    p.fdr,
    pd.read_csv(inp.truth, sep="\t") if inp.truth else None,
)
write_tsv(association, snakemake.output.association)
write_tsv(discoveries, snakemake.output.discoveries)
