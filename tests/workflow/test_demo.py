"""The demo end to end (config/demo.yaml), its first stages: simulate -> individuals -> genes.

The demo runs once per session (fixture `demo_run`, the way `make demo` runs it); the models' and the report's
assertions on the same working directory are in the other *_demo.py files and test_report.py.
"""

import re
import shlex

import pandas as pd
import pysam
import pytest
from conftest import DEMO_ARGS, ROOT, run_snakemake

pytestmark = pytest.mark.slow


def test_the_demo_fixture_runs_make_demo():
    """`demo_run` passes DEMO_ARGS (+ --cores 2, then --report): the Makefile's demo target must say the same."""
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    commands = [shlex.split(line) for line in recipe.splitlines() if "snakemake" in line]
    expected = [str(a).removeprefix(f"{ROOT}/") for a in DEMO_ARGS]
    assert [c[1:] for c in commands] == [expected, [*expected, "--report", "results/report.html"]], commands


def _tsv(workdir, path):
    return pd.read_csv(workdir / path, sep="\t")


def test_simulate_writes_the_files_of_the_download_contract(demo_run):
    expected = [
        "resources/reference/genome.fa.gz",
        "resources/reference/genome.fa.gz.fai",
        "resources/reference/genome.fa.gz.gzi",
        "resources/annotation/genes.gtf.gz",
        "resources/expression/expression.txt.gz",
        "resources/samples/populations.tsv",
        *(f"resources/vcf/chr{i}.vcf.gz{ext}" for i in range(1, 5) for ext in ("", ".tbi")),
        *(f"resources/truth/{t}.tsv" for t in ("motifs", "motif_sites", "genes", "causal_variants", "variants",
                                                "params")),
    ]
    missing = [p for p in expected if not (demo_run / p).is_file()]
    assert not missing
    fasta = pysam.FastaFile(str(demo_run / "resources/reference/genome.fa.gz"))
    assert list(fasta.references) == ["chr1", "chr2", "chr3", "chr4"]
    assert all(fasta.get_reference_length(c) == 1_000_000 for c in fasta.references)
    assert not list(demo_run.glob("resources/.simulate*"))  # the staging directory is gone


def test_genes_cover_both_strands_and_four_chromosomes_with_chr4_held_out(demo_run):
    genes = _tsv(demo_run, "results/genes/genes.tsv")
    assert set(genes["strand"]) == {"+", "-"}
    assert sorted(genes["chrom"].unique()) == ["chr1", "chr2", "chr3", "chr4"]
    assert (genes.groupby("chrom").size() == 80).all()  # the other biotypes are filtered out
    assert set(genes.loc[genes["split"] == "test", "chrom"]) == {"chr4"}
    assert set(genes.loc[genes["split"] == "valid", "chrom"]) == {"chr3"}
    assert set(genes["biotype"]) == {"protein_coding", "lncRNA"}


def test_every_individual_has_genotypes_expression_and_a_population(demo_run):
    ind = _tsv(demo_run, "results/individuals.tsv")
    assert len(ind) == 200
    assert ind["in_vcf"].all() and ind["in_expression"].all()
    assert set(ind["population"]) == {"POPA", "POPB"}
    # the held-out population (splits.individuals.test_populations: [POPB]) is never trained on
    assert set(ind.loc[ind["population"] == "POPB", "split"]) == {"test_population"}
    assert ind.loc[ind["population"] == "POPA", "split"].value_counts().to_dict() == {"train": 65, "test": 25,
                                                                                       "valid": 10}


def test_expression_matrix_has_the_kept_genes_and_individuals(demo_run):
    expr = pd.read_parquet(demo_run / "results/expression/default.parquet")
    genes = _tsv(demo_run, "results/genes/genes.tsv")
    ind = _tsv(demo_run, "results/individuals.tsv")
    assert list(expr["gene_id"]) == list(genes["gene_id"])
    assert set(expr.columns) - {"gene_id"} == set(ind.loc[ind["split"] != "none", "individual"])


def test_cross_gene_target_follows_the_planted_baseline(demo_run):
    genes = _tsv(demo_run, "results/genes/default/genes.tsv").set_index("gene_id")
    truth = _tsv(demo_run, "resources/truth/genes.tsv").set_index("gene_id")
    assert genes["y_cross_gene"].corr(truth.loc[genes.index, "baseline"]) > 0.95


def test_every_rule_left_a_log_and_a_runtime_record(demo_run):
    for rule in ("simulate", "individuals", "genes"):
        assert (demo_run / "logs" / f"{rule}.log").is_file()
        assert (demo_run / "results" / "runtime" / f"{rule}.tsv").is_file()
    assert "variant records by kind" in (demo_run / "logs/simulate.log").read_text()


def test_a_second_run_has_nothing_to_do(demo_run):
    proc = run_snakemake(demo_run, *DEMO_ARGS, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_simulate_alone_gives_the_same_bytes_in_another_directory(demo_run, tmp_path):
    run_snakemake(tmp_path, *DEMO_ARGS, "--cores", "1", "--until", "simulate")
    for path in ("resources/vcf/chr1.vcf.gz", "resources/reference/genome.fa.gz", "resources/truth/genes.tsv"):
        assert (tmp_path / path).read_bytes() == (demo_run / path).read_bytes(), path
    assert not (tmp_path / "results" / "genes").exists()
