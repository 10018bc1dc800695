import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from hapexpr import setup_logging
from hapexpr.report import plot_training_curves, training_curve

setup_logging()
curves = {label: training_curve(pd.read_csv(path, sep="\t")) for label, path in zip(snakemake.params.labels,
                                                                                     snakemake.input)}
plot_training_curves(curves, snakemake.output[0])
