import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import torch

from hapexpr import setup_logging
from hapexpr.genes import read_genes
from hapexpr.training import require_device
from hapexpr.gta import GTASettings, interpret_gta, load_haplotypes, plot_attribution
from hapexpr.io import write_tsv

setup_logging()
torch.set_num_threads(snakemake.threads)
inp, out, p = snakemake.input, snakemake.output, snakemake.params
settings = GTASettings.from_config(p.settings, p.seed)
require_device(snakemake.rule, snakemake.resources.get("gpu", 0), p.allow_cpu, settings.device, settings.precision)
genes = read_genes(inp.genes)
windows, _ = load_haplotypes(inp.sequences, [], genes, p.window, reference_only=True)
table, by_distance = interpret_gta(inp.genes, inp.expression, inp.individuals, windows, inp.llm, settings, p.window,
                                   p.model_dir, inp.annotation or None, p.bin_bp)
write_tsv(table, out.table)
write_tsv(by_distance, out.by_distance)
plot_attribution(by_distance, out.figure)
