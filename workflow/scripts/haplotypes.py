import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from hapexpr import setup_logging
from hapexpr.haplotypes import build_chromosome

setup_logging()
p = snakemake.params
build_chromosome(
    snakemake.input.get("vcf"),
    snakemake.input.fasta,
    snakemake.input.genes,
    snakemake.input.individuals,
    snakemake.wildcards.chrom,
    p.window,
    snakemake.output.sequences,
    snakemake.output.map,
    snakemake.output.counts,
    p.missing,
    p.unphased,
    p.individuals,
    p.seed,
    p.chunk_genes,
    snakemake.threads,
)
