import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import os

import pandas as pd

from hapexpr import setup_logging
from hapexpr.dexter import from_pretrained, predict_chromosome
from hapexpr.io import read_parquet, write_parquet

setup_logging()
genes = pd.read_csv(snakemake.input.genes, sep="\t")
predictions = predict_chromosome(
    from_pretrained(os.path.dirname(snakemake.input.weights)),
    genes[genes["chrom"] == snakemake.wildcards.chrom],
    snakemake.input.sequences,
    snakemake.input.map,
    read_parquet(snakemake.input.expression),
    pd.read_csv(snakemake.input.individuals, sep="\t"),
    snakemake.params.window,
)
write_parquet(predictions, snakemake.output[0])
