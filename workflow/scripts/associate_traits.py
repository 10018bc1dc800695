import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from hapexpr import setup_logging
from hapexpr.genes import read_genes
from hapexpr.io import write_tsv
from hapexpr.protocols import stack_tissues
from hapexpr.traits import associate_traits, read_personal_predictions, read_phenotype_table

setup_logging()
inp, p = snakemake.input, snakemake.params
phenotypes, genes = read_phenotype_table(inp.phenotypes), read_genes(inp.genes)
truth = pd.read_csv(inp.truth, sep="\t") if inp.truth else None
association, discoveries = {}, {}
for tissue in dict.fromkeys(t for t, _ in p.names):  # p.names: [tissue, name] of each input, in order
    paths = {name: path for (t, name), path in zip(p.names, inp.predictions) if t == tissue}
    association[tissue], discoveries[tissue] = associate_traits(
        {name: read_personal_predictions(path) for name, path in paths.items()},
        phenotypes,
        p.traits,
        p.covariates,
        genes,
        p.fdr,
        truth,
    )
write_tsv(stack_tissues(association), snakemake.output.association)
write_tsv(stack_tissues(discoveries), snakemake.output.discoveries)
