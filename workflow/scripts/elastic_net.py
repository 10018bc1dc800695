import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)


from hapexpr import setup_logging
from hapexpr.elastic_net import ElasticNetConfig, run_chromosome
from hapexpr.genes import read_genes, read_individuals
from hapexpr.io import read_parquet, write_parquet, write_tsv

setup_logging()
p = snakemake.params
predictions, weights, genes = run_chromosome(
    snakemake.input.vcf,
    snakemake.wildcards.chrom,
    read_genes(snakemake.input.genes),
    read_parquet(snakemake.input.expression),
    read_individuals(snakemake.input.individuals),
    ElasticNetConfig(**p.properties, seed=p.seed),
)
write_parquet(predictions, snakemake.output.predictions)
write_tsv(weights, snakemake.output.weights)
write_tsv(genes, snakemake.output.genes)
