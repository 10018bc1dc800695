import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import os

from hapexpr import setup_logging
from hapexpr.dexter import domains_table, save_pretrained, train_dexter
from hapexpr.genes import read_genes
from hapexpr.io import write_tsv

setup_logging()
params = dict(snakemake.params.model, n_jobs=snakemake.threads)
model = train_dexter(params, read_genes(snakemake.input.genes), snakemake.input.sequences, snakemake.params.window)
save_pretrained(model, os.path.dirname(snakemake.output.weights))
write_tsv(domains_table(model), snakemake.output.domains)
