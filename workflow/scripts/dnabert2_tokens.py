import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from hapexpr import setup_logging
from hapexpr.dnabert2 import DNATokenizer
from hapexpr.dnabert2_train import tokenize_store
from hapexpr.genes import read_genes
from hapexpr.io import write_parquet

setup_logging()
p = snakemake.params
tokens = tokenize_store(
    snakemake.input.sequences,
    read_genes(snakemake.input.genes),
    p.window,
    DNATokenizer.from_pretrained(p.model_dir),
    p.max_tokens,
    p.too_long,
    chrom=snakemake.wildcards.chrom,
)
write_parquet(tokens, snakemake.output[0])
