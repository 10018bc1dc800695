import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from hapexpr import setup_logging
from hapexpr.report import summary_page, tissue_summary, write_html

setup_logging()
summary = tissue_summary(pd.read_csv(snakemake.input[0], sep="\t", keep_default_na=False, na_values=[""]),
                         snakemake.wildcards.tissue)
write_html(summary_page(summary), snakemake.output[0])
