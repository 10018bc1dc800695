import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path


from hapexpr import setup_logging
from hapexpr.genes import read_genes, read_individuals
from hapexpr.io import read_parquet, write_parquet
from hapexpr.models import load_model, predict_chromosome

setup_logging()
p = snakemake.params
genes = read_genes(snakemake.input.genes)
predictions = predict_chromosome(
    load_model(p.model, Path(snakemake.input.weights).parent),
    p.protocols,
    genes[genes["chrom"] == snakemake.wildcards.chrom],
    snakemake.input.sequences,
    snakemake.input.map,
    read_parquet(snakemake.input.expression),
    read_individuals(snakemake.input.individuals),
    p.window,
)
write_parquet(predictions, snakemake.output[0])
