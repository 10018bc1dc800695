import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import logging

import pandas as pd

from hapexpr import setup_logging
from hapexpr.report import benchmark_grid_page, elastic_net_verdict, tissue_summary, write_html

setup_logging()
summary = tissue_summary(pd.read_csv(snakemake.input[0], sep="\t", keep_default_na=False, na_values=[""]),
                         snakemake.wildcards.tissue)
logging.getLogger("report_grid").info(elastic_net_verdict(summary))
write_html(benchmark_grid_page(summary, snakemake.params.windows), snakemake.output[0])
