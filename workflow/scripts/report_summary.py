import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from hapexpr import setup_logging
from hapexpr.report import summary_page, write_html

setup_logging()
write_html(summary_page(pd.read_csv(snakemake.input[0], sep="\t")), snakemake.output[0])
