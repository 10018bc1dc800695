"""The real data (../shared/realdata/chr22_20Mb_matched) through the whole workflow: downloads (file:// URLs),
individuals, genes, haplotypes, the classical models, evaluation and the report's tables; as two tissues, the
Geuvadis matrix's and a GTEx-only one (cross-gene only)."""

import gzip
import hashlib

import numpy as np
import pandas as pd
import pysam
import pytest
import yaml

from conftest import run_snakemake
from hapexpr.genes import read_expression
from realdata_config import N_WITH_BOTH, POPULATIONS, TSS_TABLE, VCF, write_realdata_config

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


# One chromosome: genes are split by 100 kb blocks; the classical models on the real sequences and genotypes.
CLASSICAL_MODELS = {
    "splits": {"genes": {"block_bp": 100_000, "test_fraction": 0.3, "valid_fraction": 0.0}},
    "models": {
        "gc_cpg": {"enabled": True},
        "kmer_ridge": {"enabled": True, "k": [1, 2, 3, 4]},
        "dexter": {"enabled": True},
        "elastic_net": {"enabled": True, "cis_window": 500000},
    },
}


def with_a_gtex_tissue(config_path, workdir):
    """The real-data config as two tissues (issue 16, item 4): LCL, the Geuvadis matrix, and Blood, a GTEx-only
    tissue (cross-gene only); the cross-gene target of both from a GTEx-style median table written here (every gene
    of the matrix: LCL's level from its mean, Blood's another). Returns the GTEx table's two columns."""
    config = yaml.safe_load(config_path.read_text())
    expression = config["sources"].pop("expression")
    genes = read_expression(expression["url"].removeprefix("file://"), "bed").index
    levels = pd.DataFrame({"LCL": np.linspace(0.5, 50, len(genes)), "Blood": np.linspace(80, 1, len(genes))},
                          index=genes)
    gct = workdir / "inputs" / "gtex.gct"
    gct.write_text(f"#1.2\n{len(genes)}\t2\nName\tDescription\tLCL\tBlood\n" + "".join(
        f"{g}.1\tX\t{a}\t{b}\n" for g, a, b in zip(genes, levels["LCL"], levels["Blood"])))
    config["sources"]["gtex"] = {"url": str(gct)}
    config["tissues"] = {"LCL": {"expression": expression, "gtex_tissue": "LCL"}, "Blood": {"gtex_tissue": "Blood"}}
    config["evaluation"]["cross_gene_target"] = "gtex"
    config_path.write_text(yaml.safe_dump(config))
    return levels


@pytest.fixture(scope="module")
def realdata_run(tmp_path_factory, request):
    realdata = request.getfixturevalue("realdata")
    workdir = tmp_path_factory.mktemp("realdata")
    config = write_realdata_config(workdir, realdata, CLASSICAL_MODELS)
    levels = with_a_gtex_tissue(config, workdir)
    run_snakemake(workdir, "--configfile", str(config), "--cores", "2")
    return workdir, realdata, levels


@pytest.fixture(scope="module")
def realdata(request):
    from conftest import REALDATA

    if not REALDATA.is_dir():
        pytest.skip(f"real data not found at {REALDATA} (CI places ../shared beside the project)")
    return REALDATA


def test_downloads_write_the_contract_files(realdata_run):
    workdir, realdata, _ = realdata_run
    res = workdir / "resources"
    with pysam.FastaFile(str(res / "reference/genome.fa.gz")) as fa:
        assert list(fa.references) == ["chr22"]
        assert fa.get_reference_length("chr22") == 51_304_566
        assert fa.fetch("chr22", 19_999_990, 20_000_000) == "N" * 10
        piece = (realdata / "chr22_20Mb_matched/reference/GRCh37_chr22_20000001-21000000.fa").read_text()
        assert fa.fetch("chr22", 20_000_000, 20_000_060) == piece.splitlines()[1]
    assert (res / "reference/genome.fa.gz.gzi").exists()
    assert (res / "vcf/chr22.vcf.gz").read_bytes() == (realdata / VCF).read_bytes()
    with pysam.VariantFile(str(res / "vcf/chr22.vcf.gz")) as vcf:
        assert len(list(vcf.fetch("22", 20_000_000, 20_000_200))) > 0
    # no checksum was known for the reference: its SHA-256 is recorded; the others were verified, no record
    fasta_sha = hashlib.sha256((workdir / "inputs/chr22.fa").read_bytes()).hexdigest()
    assert (res / "reference/genome.fa.gz.sha256").read_text() == f"{fasta_sha}  chr22.fa\n"
    assert not (res / "vcf/chr22.vcf.gz.sha256").exists()
    assert not (res / "annotation/genes.gtf.gz.sha256").exists()
    with gzip.open(res / "annotation/genes.gtf.gz", "rt") as fh:
        assert fh.readline().startswith("chr22\tHAVANA\tgene")
    leftovers = [p for p in res.rglob("*") if p.name.endswith((".part", ".download", ".tmp"))]
    assert leftovers == []


def test_173_individuals_have_genotypes_and_expression(realdata_run):
    workdir, realdata, _ = realdata_run
    table = pd.read_csv(workdir / "results/individuals.tsv", sep="\t")
    both = table[table["in_vcf"] & table["in_expression"]]
    assert len(both) == N_WITH_BOTH
    assert set(both["split"]) == {"train", "valid", "test"}
    assert (table.loc[~(table["in_vcf"] & table["in_expression"]), "split"] == "none").all()
    assert table["in_vcf"].sum() == 191 and table["in_expression"].sum() == 373
    known = both[both["population"] != "unknown"]
    assert len(known) == N_WITH_BOTH - 11  # 11 phase 1 samples are not among the 3,202 of the label table
    labels = pd.read_csv(realdata / POPULATIONS, sep="\t", header=None, index_col=0)[1]
    assert (known["population"] == known["individual"].map(labels)).all()
    assert set(known["population"]) == {"GBR", "FIN"}  # the VCF's 191 phase 1 Europeans


def test_mismatched_individuals_are_listed_in_the_log(realdata_run):
    workdir, _, _ = realdata_run
    table = pd.read_csv(workdir / "results/individuals.tsv", sep="\t")
    log = (workdir / "logs/individuals.log").read_text()
    only_vcf = table.loc[table["in_vcf"] & ~table["in_expression"], "individual"]
    only_expr = table.loc[~table["in_vcf"] & table["in_expression"], "individual"]
    assert len(only_vcf) == 191 - N_WITH_BOTH and len(only_expr) == 373 - N_WITH_BOTH
    assert f"{len(only_vcf)} individuals in the VCF have no expression" in log
    assert f"{len(only_expr)} individuals with expression have no genotypes" in log
    assert all(i in log for i in [*only_vcf, *only_expr])
    unlabelled = table.loc[table["population"] == "unknown", "individual"]
    assert f"{len(unlabelled)} individuals have no population label" in log
    assert "HG00104" in set(unlabelled) and all(i in log for i in unlabelled)


def test_genes_have_the_gencode_v19_tss_minus_one(realdata_run):
    workdir, realdata, _ = realdata_run
    genes = pd.read_csv(workdir / "results/genes/genes.tsv", sep="\t")
    tss = pd.read_csv(realdata / TSS_TABLE, sep="\t")
    tss["gene_id"] = tss["gene_id"].str.split(".").str[0]
    merged = genes.merge(tss, on="gene_id", suffixes=("", "_gencode"))
    # only the genes whose window lies in the 1 Mb of real sequence are kept (the rest is N: genes.max_n_fraction)
    assert len(merged) == len(genes) >= 10
    assert (merged["tss"] == merged["tss_1based"] - 1).all()
    assert (merged["strand"] == merged["strand_gencode"]).all()
    by_name = genes.set_index("gene_name")
    # DGCR8 (+ strand) and ARVCF (- strand) lie in the genotyped 100 kb
    assert by_name.loc["DGCR8", "strand"] == "+" and by_name.loc["ARVCF", "strand"] == "-"
    for name in ("DGCR8", "ARVCF"):
        assert by_name.loc[name, "tss"] == tss.set_index("gene_name").loc[name, "tss_1based"] - 1
    assert set(genes["chrom"]) == {"chr22"}
    assert set(genes["biotype"]) <= {"protein_coding", "lncRNA"}  # lincRNA in GENCODE v19: BIOTYPE_SYNONYMS
    assert set(genes["split"]) == {"train", "test"}  # CLASSICAL_MODELS: 100 kb blocks, no validation share
    expression = pd.read_parquet(workdir / "results/expression/LCL.parquet")
    assert list(expression["gene_id"]) == list(genes["gene_id"])
    assert expression.shape[1] - 1 == N_WITH_BOTH


def test_every_classical_model_predicts_and_is_scored(realdata_run):
    workdir, _, levels = realdata_run
    genes = pd.read_csv(workdir / "results/genes/genes.tsv", sep="\t")
    dropped = pd.read_csv(workdir / "results/genes/LCL/dropped.tsv", sep="\t")
    # only genes whose window lies in the 1 Mb of real sequence are kept; the others are listed with the reason
    assert genes["tss"].between(20_000_000 + 2_000, 21_000_000 - 2_000).all()
    assert dropped["reason"].str.contains("N").sum() > 100
    summary = pd.read_csv(workdir / "results/benchmark/summary.tsv", sep="\t")
    ours = summary[summary["source"] == "this run"]
    for model in ("gc_cpg", "kmer_ridge", "dexter"):
        predictions = pd.read_parquet(workdir / f"results/predictions/LCL/{model}.parquet")
        # no splits.individuals.test_populations here: no cross_population rows
        assert set(predictions["protocol"]) == {"cross_gene", "cross_individual", "unseen_gene_individual"}, model
        assert ((ours["model"] == model) & (ours["protocol"] == "cross_gene")).any(), model
    net = pd.read_parquet(workdir / "results/predictions/LCL/elastic_net.parquet")
    assert set(net["protocol"]) == {"cross_individual"}
    # genes with cis variants in the genotyped 100 kb get fitted; the rest are skipped with a reason
    assert (net["status"] == "ok").any() and net.loc[net["status"] != "ok", "status"].str.startswith("skipped").all()
    assert (workdir / "results/report/LCL/summary.html").stat().st_size > 0
    # the GTEx-only tissue: the same models trained and scored across genes only, on its own targets; no elastic net
    for model in ("gc_cpg", "kmer_ridge", "dexter"):
        blood = pd.read_parquet(workdir / f"results/predictions/Blood/{model}.parquet")
        assert set(blood["protocol"]) == {"cross_gene"}, model
        assert ((ours["tissue"] == "Blood") & (ours["model"] == model) & (ours["protocol"] == "cross_gene")).any()
    assert not (ours["tissue"] == "Blood").groupby(ours["model"]).any().get("elastic_net", False)
    for tissue in ("LCL", "Blood"):
        targets = pd.read_csv(workdir / f"results/genes/{tissue}/genes.tsv", sep="\t").set_index("gene_id")
        np.testing.assert_allclose(targets["y_cross_gene"], np.log1p(levels.loc[targets.index, tissue]))
    assert (workdir / "results/report/Blood/benchmark_grid.html").stat().st_size > 0
