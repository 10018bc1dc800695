import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from hapexpr import setup_logging
from hapexpr.io import read_parquet, write_parquet

setup_logging()
write_parquet(pd.concat([read_parquet(p) for p in snakemake.input], ignore_index=True), snakemake.output[0])
