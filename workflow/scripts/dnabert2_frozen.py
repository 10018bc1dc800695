import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)


from hapexpr import setup_logging
from hapexpr.dnabert2_train import frozen_predictions
from hapexpr.genes import read_genes, read_individuals
from hapexpr.io import read_parquet, write_parquet, write_tsv

setup_logging()
predictions, ridge = frozen_predictions(
    snakemake.params.protocols,
    list(snakemake.input.embeddings),
    list(snakemake.input.maps),
    read_genes(snakemake.input.genes),
    read_parquet(snakemake.input.expression),
    read_individuals(snakemake.input.individuals),
    snakemake.params.alphas,
)
write_tsv(ridge, snakemake.output.ridge)
write_parquet(predictions, snakemake.output.predictions)
