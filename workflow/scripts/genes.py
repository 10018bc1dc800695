import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)


from hapexpr import setup_logging
from hapexpr.genes import make_genes, read_individuals
from hapexpr.io import write_parquet, write_tsv

setup_logging()
p = snakemake.params
genes, expression, dropped = make_genes(
    snakemake.input.annotation,
    snakemake.input.fai,
    snakemake.input.expression,
    p.expression_format,
    read_individuals(snakemake.input.individuals),
    p.chromosomes,
    p.biotypes,
    p.transform,
    p.min_mean,
    p.target,
    p.splits,
    p.seed,
    snakemake.input.gtex or None,
    p.gtex_tissue,
    snakemake.input.reference,
    p.window,
    p.max_n_fraction,
    snakemake.input.levels or None,
    p.levels_format,
)
write_parquet(expression.reset_index(), snakemake.output.expression)
write_tsv(dropped, snakemake.output.dropped)
write_tsv(genes, snakemake.output.genes)
