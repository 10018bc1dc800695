import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

from hapexpr import setup_logging
from hapexpr.genes import read_genes
from hapexpr.models import train_sequence_model

setup_logging()
p = snakemake.params
model = train_sequence_model(
    p.model, p.properties, read_genes(snakemake.input.genes), list(snakemake.input.sequences), p.window
)
model.save_pretrained(Path(snakemake.output.weights).parent)
