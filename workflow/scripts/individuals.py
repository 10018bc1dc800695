import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from hapexpr import setup_logging
from hapexpr.genes import make_individuals
from hapexpr.io import write_tsv

setup_logging()
p = snakemake.params
table = make_individuals(
    snakemake.input.vcfs,
    list(zip(snakemake.input.expression, p.expression_formats)),
    snakemake.input.populations or None,
    p.populations_format,
    p.test_fraction,
    p.valid_fraction,
    p.seed,
    p.test_populations,
)
write_tsv(table, snakemake.output[0])
