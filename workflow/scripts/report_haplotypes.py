import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from hapexpr import setup_logging
from hapexpr.genes import read_individuals
from hapexpr.report import plot_haplotype_stats

setup_logging()
inp = snakemake.input
counts = pd.concat([pd.read_csv(p, sep="\t") for p in inp.counts], ignore_index=True)
plot_haplotype_stats(counts, int(read_individuals(inp.individuals)["in_vcf"].sum()), snakemake.output[0])
