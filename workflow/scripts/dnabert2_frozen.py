import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from hapexpr import setup_logging
from hapexpr.dnabert2_train import frozen_predictions
from hapexpr.io import read_parquet, write_parquet, write_tsv

setup_logging()
predictions, ridge = frozen_predictions(
    snakemake.params.protocols,
    list(snakemake.input.embeddings),
    list(snakemake.input.maps),
    pd.read_csv(snakemake.input.genes, sep="\t"),
    read_parquet(snakemake.input.expression),
    pd.read_csv(snakemake.input.individuals, sep="\t"),
    snakemake.params.alphas,
)
write_tsv(ridge, snakemake.output.ridge)
write_parquet(predictions, snakemake.output.predictions)
