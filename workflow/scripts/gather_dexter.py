import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from hapexpr import setup_logging
from hapexpr.dexter import gather_predictions
from hapexpr.io import write_parquet

setup_logging()
write_parquet(gather_predictions(snakemake.input), snakemake.output[0])
