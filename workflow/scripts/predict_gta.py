import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import torch

from hapexpr import setup_logging
from hapexpr.genes import read_genes
from hapexpr.training import require_device
from hapexpr.gta import GTASettings, load_haplotypes, predict_gta
from hapexpr.io import write_parquet

setup_logging()
torch.set_num_threads(snakemake.threads)
inp, p = snakemake.input, snakemake.params
settings = GTASettings.from_config(p.settings, p.seed)
require_device(snakemake.rule, snakemake.resources.get("gpu", 0), p.allow_cpu, settings.device, settings.precision)
genes = read_genes(inp.genes)
windows, hapmap = load_haplotypes(inp.sequences, inp.maps, genes, p.window)
predictions = predict_gta(snakemake.wildcards.name, inp.genes, inp.expression, inp.individuals, windows, hapmap,
                          inp.llm, settings, p.window, p.model_dir, inp.annotation or None, p.protocols)
write_parquet(predictions, snakemake.output[0])
