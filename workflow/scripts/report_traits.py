import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from hapexpr import setup_logging
from hapexpr.report import trait_report

setup_logging()
inp, out = snakemake.input, snakemake.output


def of_tissue(table):
    return table[table["tissue"] == snakemake.wildcards.tissue].drop(columns="tissue")


trait_report(
    of_tissue(pd.read_csv(inp.association, sep="\t", dtype={"chrom": str, "tissue": str})),
    of_tissue(pd.read_csv(inp.discoveries, sep="\t", dtype={"tissue": str})),
    of_tissue(pd.read_csv(inp.risk, sep="\t", dtype={"tissue": str})),
    snakemake.params.fdr,
    {"association": out.association, "risk": out.risk, "table": out.table},
    pd.read_csv(inp.truth, sep="\t") if inp.truth else None,
)
