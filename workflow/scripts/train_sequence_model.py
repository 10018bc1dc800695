import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

import pandas as pd

from hapexpr import setup_logging
from hapexpr.models import train_sequence_model

setup_logging()
p = snakemake.params
model = train_sequence_model(
    p.model, p.properties, pd.read_csv(snakemake.input.genes, sep="\t"), list(snakemake.input.sequences), p.window
)
model.save_pretrained(Path(snakemake.output.weights).parent)
