import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from hapexpr import setup_logging
from hapexpr.download import download_and_prepare

setup_logging()
p = snakemake.params
download_and_prepare(
    p.url,
    snakemake.output[0],
    p.kind,
    md5=p.md5,
    sha256=p.sha256,
    manifest=getattr(snakemake.input, "manifest", None) or None,
    retries=p.retries,
    timeout=p.timeout,
    build=getattr(p, "build", None),
)
