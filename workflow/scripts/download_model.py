import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from hapexpr import setup_logging
from hapexpr.dnabert2 import fetch_model

setup_logging()
fetch_model(snakemake.params.spec, snakemake.params.revision, snakemake.output[0])
