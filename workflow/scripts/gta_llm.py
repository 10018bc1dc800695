import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from hapexpr import setup_logging
from hapexpr.gta import materialize_llm

setup_logging()
materialize_llm(str(snakemake.params.llm), snakemake.output[0], bool(snakemake.params.trust_remote_code))
