import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import os
import shutil
from pathlib import Path

import torch

from hapexpr import setup_logging
from hapexpr.dnabert2_train import PretrainSettings, pretrain_dna_lm, pretraining_genes, reference_windows
from hapexpr.genes import read_genes
from hapexpr.io import write_tsv
from hapexpr.training import require_device, settings_from

setup_logging()
torch.set_num_threads(snakemake.threads)
settings = settings_from(PretrainSettings, snakemake.params.settings)
require_device(snakemake.rule, snakemake.resources.get("gpu", 0), snakemake.params.allow_cpu, settings.device,
               settings.precision)
genes = pretraining_genes(read_genes(snakemake.input.genes), snakemake.params.genes)
sequences = reference_windows(snakemake.input.fasta, genes, snakemake.params.window)
# Written beside the output directory, then moved in: an interrupted run leaves no half-written model files.
out = Path(snakemake.output.config).parent
tmp = out.with_name(out.name + ".tmp")
shutil.rmtree(tmp, ignore_errors=True)
history = pretrain_dna_lm(sequences, tmp, settings)
out.mkdir(parents=True, exist_ok=True)
for f in tmp.iterdir():
    os.replace(f, out / f.name)
tmp.rmdir()
write_tsv(history, snakemake.output.curve)
