import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from hapexpr import setup_logging
from hapexpr.io import write_tsv
from hapexpr.protocols import by_tissue, stack_tissues
from hapexpr.traits import read_personal_predictions, read_phenotype_table, risk_models

setup_logging()
inp, p = snakemake.input, snakemake.params
phenotypes = read_phenotype_table(inp.phenotypes)
pgs = pd.read_csv(inp.pgs, sep="\t", dtype={"individual": str})
risk = {}
# p.names: [tissue, name] of each input, in order
for tissue, paths in by_tissue(dict(zip(map(tuple, p.names), inp.predictions))).items():
    risk[tissue] = risk_models(
        {name: read_personal_predictions(path) for name, path in paths.items()},
        phenotypes,
        p.traits,
        p.covariates,
        pgs,
        p.l1_ratio,
        p.folds,
        p.bootstrap,
        p.seed,
    )
write_tsv(stack_tissues(risk), snakemake.output[0])
