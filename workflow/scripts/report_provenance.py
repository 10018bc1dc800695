import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import glob

from hapexpr import setup_logging
from hapexpr.report import provenance_page, write_html

setup_logging()
write_html(
    provenance_page(
        snakemake.params.sources,
        snakemake.params.simulate,
        sorted(glob.glob("resources/**/*.sha256", recursive=True)),
        sorted(glob.glob("results/runtime/**/*.tsv", recursive=True)),
    ),
    snakemake.output[0],
)
