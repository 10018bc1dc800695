import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from hapexpr import setup_logging
from hapexpr.evaluate import evaluate_predictions
from hapexpr.io import read_parquet, write_tsv

setup_logging()
metrics, per_gene = evaluate_predictions(
    read_parquet(snakemake.input[0]),
    snakemake.wildcards.name,
    snakemake.params.bootstrap,
    snakemake.params.seed,
    source=snakemake.input[0],
)
write_tsv(metrics, snakemake.output.metrics)
write_tsv(per_gene, snakemake.output.per_gene)
