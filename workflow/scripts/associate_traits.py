import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from hapexpr import setup_logging
from hapexpr.genes import read_genes
from hapexpr.io import write_tsv
from hapexpr.protocols import by_tissue, stack_tissues
from hapexpr.traits import associate_traits, read_personal_predictions, read_phenotype_table

setup_logging()
inp, p = snakemake.input, snakemake.params
phenotypes, genes = read_phenotype_table(inp.phenotypes), read_genes(inp.genes)
truth = pd.read_csv(inp.truth, sep="\t") if inp.truth else None
association, discoveries = {}, {}
# p.names: [tissue, name] of each input, in order
for tissue, paths in by_tissue(dict(zip(map(tuple, p.names), inp.predictions))).items():
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
