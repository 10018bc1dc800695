import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from hapexpr import setup_logging
from hapexpr.dnabert2 import DNATokenizer
from hapexpr.dnabert2_train import tokenize_store
from hapexpr.io import read_parquet, write_parquet

setup_logging()
p = snakemake.params
tokens = tokenize_store(
    read_parquet(snakemake.input.sequences),
    pd.read_csv(snakemake.input.genes, sep="\t"),
    p.window,
    DNATokenizer.from_pretrained(p.model_dir),
    p.max_tokens,
    p.too_long,
    chrom=snakemake.wildcards.chrom,
)
write_parquet(tokens, snakemake.output[0])
