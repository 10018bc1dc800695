import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from hapexpr import setup_logging
from hapexpr.haplotypes import export_fasta

setup_logging()
export_fasta(
    Path(snakemake.input.sequences).parent,
    snakemake.wildcards.chrom,
    [snakemake.wildcards.gene],
    snakemake.params.individuals or None,
    snakemake.output[0],
)
