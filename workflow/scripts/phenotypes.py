import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from hapexpr import setup_logging
from hapexpr.genes import read_individuals
from hapexpr.io import write_tsv
from hapexpr.traits import make_phenotypes

setup_logging()
p = snakemake.params
table = make_phenotypes(snakemake.input.phenotypes, read_individuals(snakemake.input.individuals), p.traits,
                        p.covariates)
write_tsv(table, snakemake.output[0])
