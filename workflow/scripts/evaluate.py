import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from hapexpr import setup_logging
from hapexpr.evaluate import evaluate_models, read_predictions
from hapexpr.io import write_tsv

setup_logging()
names, out = snakemake.params.names, snakemake.output
paths = dict(zip(names, snakemake.input))
metrics, per_gene = evaluate_models(
    {name: read_predictions(path) for name, path in paths.items()},
    snakemake.params.bootstrap,
    snakemake.params.seed,
    sources=paths,
)
for name, metrics_path, per_gene_path in zip(names, out.metrics, out.per_gene):
    write_tsv(metrics[name], metrics_path)
    write_tsv(per_gene[name], per_gene_path)
