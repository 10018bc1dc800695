import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from hapexpr import setup_logging
from hapexpr.io import write_tsv
from hapexpr.traits import polygenic_scores, read_phenotype_table

setup_logging()
p = snakemake.params
scores, weights = polygenic_scores(snakemake.input.vcfs, p.chromosomes, read_phenotype_table(snakemake.input.phenotypes),
                                   p.traits, p.maf, p.l1_ratio, p.folds, p.seed)
write_tsv(scores, snakemake.output.scores)
write_tsv(weights, snakemake.output.weights)
