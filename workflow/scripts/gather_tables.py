import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from hapexpr import setup_logging
from hapexpr.io import write_parquet, write_tsv
from hapexpr.evaluate import concat_tables

setup_logging()
for name, output in snakemake.output.items():
    table = concat_tables(list(snakemake.input[name]))
    (write_parquet if output.endswith(".parquet") else write_tsv)(table, output)
