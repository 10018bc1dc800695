"""The demo's haplotype stage end to end: every demo window equals bcftools consensus for every individual.

Reads the session's demo run (fixture `demo_run`) and exports one gene's FASTA in it."""

import pandas as pd
import pytest
import yaml

from conftest import DEMO_ARGS, DEMO_CONFIG, require_tool, run_snakemake
from hapexpr.equivalence import compare_with_bcftools
from hapexpr.haplotypes import fixed_windows, read_store, store_window

pytestmark = pytest.mark.slow


def test_demo_haplotypes_equal_bcftools_consensus(demo_run):
    tmp_path = demo_run
    require_tool("bcftools")
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    chrom = config["chromosomes"][0]
    targets = [f"results/haplotypes/{chrom}.{kind}" for kind in ("sequences.parquet", "map.parquet", "counts.tsv")]
    window = store_window(tmp_path / targets[0])  # the largest window of the enabled models
    assert window == max(config["window"]["length"], config["models"]["gta"]["window"])
    genes = pd.read_csv(tmp_path / "results" / "genes" / "genes.tsv", sep="\t", dtype={"gene_id": str})
    counts = pd.read_csv(tmp_path / targets[2], sep="\t")
    assert set(counts["gene_id"]) == set(genes.loc[genes["chrom"] == chrom, "gene_id"])
    assert counts["applied"].sum() > 0
    n, mismatches = compare_with_bcftools(
        tmp_path / "results" / "haplotypes", chrom, str(tmp_path / "resources" / "vcf" / f"{chrom}.vcf.gz"),
        str(tmp_path / "resources" / "reference" / "genome.fa.gz"), genes, window,
    )
    assert not mismatches, f"{len(mismatches)} of {n} differ:\n" + "\n".join(mismatches[:10])
    sequences, hap_map = read_store(tmp_path / "results" / "haplotypes", chrom)
    assert n == 2 * hap_map["individual"].nunique() * len(counts)
    windows = fixed_windows(sequences, genes, window)
    assert (windows["window"].str.len() == window).all()

    run_snakemake(tmp_path, *DEMO_ARGS, "--cores", "1", f"results/haplotypes/fasta/{chrom}/{counts['gene_id'][0]}.fa")
    fasta = (tmp_path / "results" / "haplotypes" / "fasta" / chrom / f"{counts['gene_id'][0]}.fa").read_text()
    assert fasta.count(">") == 1 + 2 * hap_map["individual"].nunique()
