import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from hapexpr import setup_logging
from hapexpr.simulate import SimulationConfig, simulate_demo

setup_logging()
p, out = snakemake.params, snakemake.output
config = SimulationConfig.from_config(p.simulate, p.chromosomes, p.window, p.seed)
simulate_demo(
    config,
    {
        "reference": out.reference,
        "annotation": out.annotation,
        "vcf": dict(zip(p.chromosomes, out.vcfs)),
        "expression": out.expression,
        "populations": out.populations,
        "phenotypes": out.phenotypes,
        "truth_dir": Path(out.truth[0]).parent,
    },
)
