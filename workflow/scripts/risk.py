import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from hapexpr import setup_logging
from hapexpr.io import write_tsv
from hapexpr.protocols import stack_tissues
from hapexpr.traits import read_personal_predictions, read_phenotype_table, risk_models

setup_logging()
inp, p = snakemake.input, snakemake.params
phenotypes = read_phenotype_table(inp.phenotypes)
pgs = pd.read_csv(inp.pgs, sep="\t", dtype={"individual": str})
risk = {}
for tissue in dict.fromkeys(t for t, _ in p.names):  # p.names: [tissue, name] of each input, in order
    paths = {name: path for (t, name), path in zip(p.names, inp.predictions) if t == tissue}
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
