import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import torch

from hapexpr import setup_logging
from hapexpr.dnabert2_train import embed_store
from hapexpr.io import write_parquet
from hapexpr.training import require_device

setup_logging()
torch.set_num_threads(snakemake.threads)
p = snakemake.params
require_device(snakemake.rule, snakemake.resources.get("gpu", 0), p.allow_cpu, precision=p.precision)
write_parquet(
    embed_store(snakemake.input.tokens, p.model_dir, p.pooling, p.max_tokens, p.batch_size, p.trust_remote_code,
                p.precision, p.reference_only),
    snakemake.output[0],
)
