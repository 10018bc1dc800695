import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)


from hapexpr import setup_logging
from hapexpr.genes import TissueInputs, make_genes, read_individuals
from hapexpr.io import write_parquet, write_tsv

setup_logging()
p = snakemake.params
genes, per_tissue = make_genes(
    snakemake.input.annotation,
    snakemake.input.fai,
    {tissue: TissueInputs(**inputs) for tissue, inputs in p.tissues.items()},
    read_individuals(snakemake.input.individuals),
    p.chromosomes,
    p.biotypes,
    p.transform,
    p.min_mean,
    p.target,
    p.splits,
    p.seed,
    snakemake.input.gtex or None,
    snakemake.input.reference,
    p.window,
    p.max_n_fraction,
    snakemake.input.levels or None,
    p.levels_format,
)
# outputs of each tissue in the order of p.tissues (expand over TISSUES)
for i, (tissue, out) in enumerate(per_tissue.items()):
    write_parquet(out.expression.reset_index(), snakemake.output.expression[i])
    write_tsv(out.dropped, snakemake.output.dropped[i])
    write_tsv(out.genes, snakemake.output.tissue_genes[i])
write_tsv(genes, snakemake.output.genes)
