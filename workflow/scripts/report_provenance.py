import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import glob

from hapexpr import setup_logging
from hapexpr.report import provenance_page, run_benchmark_files, write_html

setup_logging()
p = snakemake.params
write_html(
    provenance_page(
        p.sources,
        p.simulate,
        sorted(glob.glob("resources/**/*.sha256", recursive=True)),
        run_benchmark_files(p.benchmarks, p.run_wildcards),
        p.environments,
        p.conda,
    ),
    snakemake.output[0],
)
