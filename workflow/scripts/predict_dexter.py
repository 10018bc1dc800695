import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import os


from hapexpr import setup_logging
from hapexpr.dexter import from_pretrained, predict_chromosome
from hapexpr.genes import read_genes, read_individuals
from hapexpr.io import read_parquet, write_parquet

setup_logging()
genes = read_genes(snakemake.input.genes)
predictions = predict_chromosome(
    from_pretrained(os.path.dirname(snakemake.input.weights)),
    snakemake.params.protocols,
    genes[genes["chrom"] == snakemake.wildcards.chrom],
    snakemake.input.sequences,
    snakemake.input.map,
    read_parquet(snakemake.input.expression),
    read_individuals(snakemake.input.individuals),
    snakemake.params.window,
)
write_parquet(predictions, snakemake.output[0])
