"""The haplotype store through the independent benchmark harness (../shared/bench-haplotypes) on its adversarial
`edge` data (dense variants, half of them indels, short windows: overlapping and window-crossing records): every
(gene, sample, haplotype) our command exports must be byte-identical to `bcftools consensus`."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import conftest
import pytest
from conftest import ROOT

EDGE_DATA = ("--length-mb", "1", "--n-ind", "50", "--n-genes", "100", "--mu", "1e-7", "--indel-frac", "0.5",
             "--max-window", "2000", "--seed", "7")  # run_peers.sh `edge`
SCRIPTS = ROOT / "workflow" / "scripts"


def _plugin() -> str:
    """The plug-in command that benchmarks/harness.py measures (the line of benchmarks/README.md), for this checkout."""
    spec = importlib.util.spec_from_file_location("harness", ROOT / "benchmarks" / "harness.py")
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    return harness.OURS.format(scripts=SCRIPTS)


OURS = _plugin()


def _harness():
    harness = conftest.REALDATA.parent / "bench-haplotypes"  # ../shared/bench-haplotypes
    if not (harness / "bench.py").is_file():
        pytest.skip(f"the benchmark harness is not at {harness} (CI places ../shared beside the project)")
    for tool in ("bcftools", "samtools", "bgzip", "tabix", "/usr/bin/time"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (the harness needs bcftools, samtools, tabix and GNU time)")
    for module in ("msprime", "cyvcf2", "pyfaidx"):
        pytest.importorskip(module, reason=f"the harness needs {module} (requirements-bench.txt)")
    return harness


@pytest.fixture(scope="module")
def edge_data(tmp_path_factory):
    harness = _harness()
    out = tmp_path_factory.mktemp("edge") / "edge"
    subprocess.run([sys.executable, "make_data.py", "--out", str(out), *EDGE_DATA], cwd=harness, check=True,
                   capture_output=True)
    return harness, out


@pytest.mark.parametrize("window", [301, 1000])
def test_edge_cases_equal_bcftools_consensus_in_the_shared_harness(edge_data, tmp_path, window):
    harness, data = edge_data
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "bench.py", "--data", str(data), "--window", str(window), "--out", str(results),
         "--methods", "bcftools-batched,naive", "--ours", OURS, "--ours-name", "hapexpr", "--ours-strand", "plus",
         "--wait-quiet", "0", "--timeout", "120", "--keep-digests"],
        cwd=harness, capture_output=True, text=True, check=False, env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r = json.loads((results / "results.json").read_text())
    assert r["reference"] == "bcftools-batched"
    ours = r["methods"]["hapexpr"]
    assert "error" not in ours, ours["error"]
    expected = r["full_hap_windows"]  # 100 genes x 50 samples x 2
    vs = ours["vs_reference"]
    assert vs["compared"] == expected and vs["missing_vs_ref"] == 0, vs
    assert vs["identical"] == expected, f"{vs['mismatched']} of {expected} differ from bcftools, e.g. {vs['examples']}"
    naive = r["methods"]["naive"]["vs_reference"]
    assert naive["identical"] == naive["compared"] == expected  # the harness's own check held on this run

    # the FASTA export (without the reference records) is the harness's FASTA layout (`>GENE|SAMPLE|HAP...`): the
    # harness's own digest.py reads it, and every key equals bcftools'
    fasta = tmp_path / "fasta"
    subprocess.run([sys.executable, "-m", "hapexpr.haplotypes", "export", "--store",
                    str(results / "hapexpr" / "output" / "store"), "--format", "fasta", "--no-reference",
                    "--out", str(fasta)], env={**os.environ, "PYTHONPATH": str(SCRIPTS)}, check=True,
                   capture_output=True)
    subprocess.run([sys.executable, "digest.py", str(fasta), "--data", str(data)], cwd=harness, check=True,
                   capture_output=True)
    reference = next(p for p in (results / "bcftools-batched").glob("**/digests.tsv"))
    exported = _digests(fasta / "digests.tsv")
    assert len(exported) == expected and exported == _digests(reference)


def _digests(path) -> dict[tuple[str, str, int], tuple[int, str]]:
    """The harness's digest table: (gene_id, sample, hap) -> (length, sha1)."""
    rows = [line.rstrip("\n").split("\t") for line in path.read_text().splitlines()[1:]]
    return {(g, s, int(h)): (int(n), sha1) for g, s, h, n, sha1 in rows}
