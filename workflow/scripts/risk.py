import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from hapexpr import setup_logging
from hapexpr.io import write_tsv
from hapexpr.traits import read_personal_predictions, read_phenotype_table, risk_models

setup_logging()
inp, p = snakemake.input, snakemake.params
risk = risk_models(
    {name: read_personal_predictions(path) for name, path in zip(p.names, inp.predictions)},
    read_phenotype_table(inp.phenotypes),
    p.traits,
    p.covariates,
    pd.read_csv(inp.pgs, sep="\t", dtype={"individual": str}),
    p.l1_ratio,
    p.folds,
    p.bootstrap,
    p.seed,
)
write_tsv(risk, snakemake.output[0])
