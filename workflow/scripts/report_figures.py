import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from hapexpr import setup_logging
from hapexpr.genes import read_genes
from hapexpr.io import read_parquet
from hapexpr.report import (
    per_gene_page,
    plot_per_gene_r,
    plot_predicted_vs_observed,
    plot_versus_elastic_net,
    write_html,
)

setup_logging()
inp, out, names = snakemake.input, snakemake.output, snakemake.params.names
predictions = {n: read_parquet(p) for n, p in zip(names, inp.predictions)}
per_gene = {n: pd.read_csv(p, sep="\t") for n, p in zip(names, inp.per_gene)}
per_gene = {n: d[(d["protocol"] == "cross_individual") & (d["split"] == "test")] for n, d in per_gene.items()}
per_gene = {n: d for n, d in per_gene.items() if len(d)}
genes = read_genes(inp.genes)
counts = pd.concat([pd.read_csv(p, sep="\t") for p in inp.counts], ignore_index=True)

plot_predicted_vs_observed(predictions, out.cross_gene)
plot_per_gene_r(per_gene, out.per_gene_r)
plot_versus_elastic_net(per_gene, out.versus)
truth = pd.read_csv(inp.truth, sep="\t") if inp.truth else None
write_html(per_gene_page(per_gene, genes, counts.set_index("gene_id")["n_unique"], truth), out.table)
