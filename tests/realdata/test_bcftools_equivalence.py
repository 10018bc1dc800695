"""Real 1000 Genomes haplotypes: the store equals `bcftools consensus -H 1pIu/2pIu` for every window,
individual and haplotype (../shared/realdata: chr22_20Mb_matched and chr20_1Mb_ref_geno)."""

from pathlib import Path

import pandas as pd
import pytest
from conftest import require_tool
from hapexpr.equivalence import compare_with_bcftools
from hapexpr.haplotypes import build_store
from hapexpr.variants import GenotypePolicy, VCFError, VcfReader

pytestmark = pytest.mark.realdata

CHR22 = "chr22_20Mb_matched"
CHR20 = "chr20_1Mb_ref_geno"


def padded_reference(piece: Path, chrom: str, offset: int, out: Path) -> Path:
    """A FASTA of the whole chromosome up to the piece's end: N for [0, offset), then the piece."""
    import pysam

    seq = "".join(line.strip() for line in piece.read_text().splitlines() if not line.startswith(">"))
    with open(out, "w") as fh:
        fh.write(f">{chrom}\n")
        full = "N" * offset + seq
        for i in range(0, len(full), 60):
            fh.write(full[i : i + 60] + "\n")
    pysam.faidx(str(out))
    return out


def tss_genes(path: Path, chrom: str, lo: int, hi: int) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t")
    genes = pd.DataFrame(
        {
            "gene_id": table["gene_id"].str.split(".").str[0],
            "chrom": chrom,
            "tss": table["tss_1based"] - 1,
            "strand": table["strand"],
        }
    )
    return genes[(genes["tss"] >= lo) & (genes["tss"] < hi)].drop_duplicates("gene_id").reset_index(drop=True)


def inside(genes: pd.DataFrame, lo: int, hi: int, window: int) -> pd.DataFrame:
    """Genes whose window lies inside the reference piece [lo, hi) (beyond it the real sequence is unknown)."""
    keep = (genes["tss"] - window // 2 - 1 >= lo) & (genes["tss"] + window // 2 + 1 <= hi)
    return genes[keep].reset_index(drop=True)


# (window, every k-th individual compared with bcftools): at 100 kb one bcftools call per individual and haplotype is
# most of the suite's time on 2 cores, so by default every 5th individual is compared (the store is still built for
# all); `pytest -m long` compares every individual there too.
WINDOWS = [(4000, 1), (100_000, 5), pytest.param(100_000, 1, marks=pytest.mark.long)]


def check_dataset(tmp_path: Path, vcf: Path, fasta: Path, genes: pd.DataFrame, chrom: str, window: int,
                  every: int = 1) -> int:
    samples = VcfReader(str(vcf)).individuals
    out = tmp_path / f"store_{window}"
    # the long window is built by two worker processes: the parallel path is checked against bcftools too
    counts = build_store(vcf, fasta, genes, chrom, window, samples, out / f"{chrom}.sequences.parquet",
                         out / f"{chrom}.map.parquet", out / f"{chrom}.counts.tsv", threads=1 if window < 10_000 else 2)
    assert len(counts) == len(genes)
    compared = samples[::every]
    n, mismatches = compare_with_bcftools(out, chrom, str(vcf), str(fasta), genes, window, individuals=compared)
    shown = "\n".join(mismatches[:10])
    assert not mismatches, f"{len(mismatches)} of {n} haplotype windows differ from bcftools:\n{shown}"
    assert n == len(genes) * len(compared) * 2
    return int(counts["applied"].sum())


@pytest.mark.parametrize("window, every", WINDOWS)
def test_chr22_1000g_phase1_equals_bcftools_consensus(realdata, tmp_path, window, every):
    require_tool("bcftools")
    d = realdata / CHR22
    fasta = padded_reference(d / "reference" / "GRCh37_chr22_20000001-21000000.fa", "22", 20_000_000,
                             tmp_path / "chr22.fa")
    genes = inside(tss_genes(d / "annotation" / "gencode_v19_chr22_gene_tss.tsv", "22", 20_000_000, 21_000_000),
                   20_000_000, 21_000_000, window)
    vcf = d / "genotypes" / "1kgp_phase1_chr22_20.00-20.10Mb_191samples.phased.vcf.gz"
    applied = check_dataset(tmp_path, vcf, fasta, genes, "22", window, every)
    assert applied > 0  # the windows do carry variants: the comparison is not reference against reference


@pytest.mark.parametrize("window, every", WINDOWS)
def test_chr20_shapeit4_300eur_equals_bcftools_consensus(realdata, tmp_path, window, every):
    require_tool("bcftools")
    d = realdata / CHR20
    fasta = padded_reference(d / "reference" / "GRCh37_chr20_1000001-2000000.fa", "20", 1_000_000,
                             tmp_path / "chr20.fa")
    genes = inside(tss_genes(d / "annotation" / "gencode_v12_chr20_1-2Mb_gene_tss.tsv", "20", 1_000_000, 2_000_000),
                   1_000_000, 2_000_000, window)
    vcf = d / "genotypes" / "shapeit4_test_reference_chr20_1-4Mb_300EUR_phased.vcf.gz"
    applied = check_dataset(tmp_path, vcf, fasta, genes, "20", window, every)
    assert applied > 0


def test_unphased_real_vcf_is_an_error_naming_samples_and_position(realdata, tmp_path):
    d = realdata / CHR22
    fasta = padded_reference(d / "reference" / "GRCh37_chr22_20000001-21000000.fa", "22", 20_000_000,
                             tmp_path / "chr22.fa")
    genes = tss_genes(d / "annotation" / "gencode_v19_chr22_gene_tss.tsv", "22", 20_000_000, 20_100_000)
    vcf = d / "genotypes" / "1kgp_phase1_chr22_20.00-20.10Mb_191samples.vcf.gz"  # GT written with '/'
    samples = VcfReader(str(vcf)).individuals
    out = tmp_path / "store"
    with pytest.raises(VCFError, match=r"unphased heterozygous genotypes at 22:\d+ .*for individuals HG\d+"):
        build_store(vcf, fasta, genes, "22", 4000, samples, out / "22.sequences.parquet", out / "22.map.parquet",
                    out / "22.counts.tsv", GenotypePolicy(unphased="error"))
    assert not (out / "22.sequences.parquet").exists()
