import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from hapexpr import setup_logging
from hapexpr.evaluate import summarise
from hapexpr.io import write_tsv

setup_logging()
inp = snakemake.input
risk = pd.read_csv(inp.risk, sep="\t") if inp.risk else None
write_tsv(summarise([pd.read_csv(path, sep="\t") for path in inp.metrics], risk=risk), snakemake.output[0])
