import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

import torch

from hapexpr import setup_logging
from hapexpr.dnabert2_train import FinetuneSettings, train_dnabert2
from hapexpr.genes import read_genes, read_individuals
from hapexpr.io import read_parquet, write_parquet, write_tsv
from hapexpr.training import require_device, settings_from

setup_logging()
torch.set_num_threads(snakemake.threads)
p = snakemake.params
settings = settings_from(FinetuneSettings, p.settings)
require_device(snakemake.rule, snakemake.resources.get("gpu", 0), p.allow_cpu, settings.device, settings.precision)
predictions, history = train_dnabert2(
    snakemake.wildcards.protocol,
    list(snakemake.input.tokens),
    list(snakemake.input.maps),
    read_genes(snakemake.input.genes),
    read_parquet(snakemake.input.expression),
    read_individuals(snakemake.input.individuals),
    p.model_dir,
    settings,
    str(Path(snakemake.output.weights).parent),
    p.checkpoint_dir,
    p.trust_remote_code,
    control="shuffled" if snakemake.wildcards.fit == "shuffled" else None,
)
write_tsv(history, snakemake.output.curve)
write_parquet(predictions, snakemake.output.predictions)
