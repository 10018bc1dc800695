import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from hapexpr import setup_logging
from hapexpr.evaluate import evaluate_tissues
from hapexpr.io import write_tsv

setup_logging()
out = snakemake.output
keys = [tuple(key) for key in snakemake.params.names]  # (tissue, name), in the order of the inputs and outputs
metrics, per_gene = evaluate_tissues(dict(zip(keys, snakemake.input)), snakemake.params.bootstrap,
                                     snakemake.params.seed)
for key, metrics_path, per_gene_path in zip(keys, out.metrics, out.per_gene):
    write_tsv(metrics[key], metrics_path)
    write_tsv(per_gene[key], per_gene_path)
