import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

import pandas as pd

from hapexpr import setup_logging
from hapexpr.io import read_parquet, write_parquet
from hapexpr.models import load_model, predict_chromosome

setup_logging()
p = snakemake.params
genes = pd.read_csv(snakemake.input.genes, sep="\t")
predictions = predict_chromosome(
    load_model(p.model, Path(snakemake.input.weights).parent),
    genes[genes["chrom"] == snakemake.wildcards.chrom],
    snakemake.input.sequences,
    snakemake.input.map,
    read_parquet(snakemake.input.expression),
    pd.read_csv(snakemake.input.individuals, sep="\t"),
    p.window,
)
write_parquet(predictions, snakemake.output[0])
