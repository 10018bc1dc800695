"""The download rules in the real config's DAG: one job per source and per chromosome, all local."""

import re

from conftest import ROOT, run_snakemake


def test_real_config_dry_run_has_every_download(tmp_path):
    proc = run_snakemake(tmp_path, "-n", "--configfile", str(ROOT / "config/config.yaml"))
    counts = dict(re.findall(r"^(download_\w+)\s+(\d+)$", proc.stdout, flags=re.M))
    assert counts == {
        "download_reference": "1",
        "download_annotation": "1",
        "download_vcf_manifest": "1",
        "download_vcf": "22",
        "download_expression": "1",
        "download_populations": "1",
        "download_gtex": "1",  # the cross-gene target: GTEx LCL median TPM (levels, not the residual matrix)
        "download_model": "1",  # DNABERT-2 from the hub at a pinned revision
    }
    assert not (tmp_path / "resources").exists()
