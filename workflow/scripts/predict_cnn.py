import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import torch

from hapexpr import setup_logging
from hapexpr.cnn import CNNSettings, predict_cnn
from hapexpr.genes import read_genes
from hapexpr.gta import load_haplotypes
from hapexpr.io import write_parquet
from hapexpr.training import require_device

setup_logging()
torch.set_num_threads(snakemake.threads)
inp, p = snakemake.input, snakemake.params
settings = CNNSettings.from_config(p.settings, p.seed)
require_device(snakemake.rule, snakemake.resources.get("gpu", 0), p.allow_cpu, settings.device, settings.precision)
genes = read_genes(inp.genes)
windows, hapmap = load_haplotypes(inp.sequences, inp.maps, genes, p.window)
predictions = predict_cnn(inp.genes, inp.expression, inp.individuals, windows, hapmap, settings, p.model_dir,
                          p.protocols)
write_parquet(predictions, snakemake.output[0])
