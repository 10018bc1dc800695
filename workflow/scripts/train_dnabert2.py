import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from pathlib import Path

import pandas as pd
import torch

from hapexpr import setup_logging
from hapexpr.dnabert2_train import FinetuneSettings, train_dnabert2
from hapexpr.io import write_parquet, write_tsv
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
    pd.read_csv(snakemake.input.genes, sep="\t"),
    pd.read_parquet(snakemake.input.expression),
    pd.read_csv(snakemake.input.individuals, sep="\t"),
    p.model_dir,
    settings,
    str(Path(snakemake.output.weights).parent),
    p.checkpoint_dir,
    p.trust_remote_code,
    control="shuffled" if snakemake.wildcards.fit == "shuffled" else None,
)
write_tsv(history, snakemake.output.curve)
write_parquet(predictions, snakemake.output.predictions)
