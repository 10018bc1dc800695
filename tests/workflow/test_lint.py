"""`snakemake --lint` and `snakefmt --check` are clean."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SNAKEMAKE


@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/demo.yaml"])
def test_snakemake_lint_is_clean(configfile):
    proc = subprocess.run(
        [SNAKEMAKE, "--lint", "--configfile", configfile, "--replace-workflow-config"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_snakefmt_check_is_clean():
    snakefmt = str(Path(sys.executable).with_name("snakefmt"))
    proc = subprocess.run([snakefmt, "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
