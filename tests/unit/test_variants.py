"""hapexpr.variants: allele classes, VCF checks, genotype policies, chromosome spelling."""

import gzip

import numpy as np
import pytest

from hapdata import write_vcf
from hapexpr.reference import ChromosomeNameError
from hapexpr.variants import GenotypePolicy, VCFError, VcfReader, allele_kind, check_vcf, htslib_is_indel, index_vcf


@pytest.mark.parametrize(
    "ref, alt, kind",
    [
        ("A", "G", "snv"), ("AC", "GT", "mnp"), ("A", "ACG", "indel"), ("ACG", "A", "indel"), ("ACG", "TT", "complex"),
        ("A", "<DEL>", "symbolic"), ("A", "<INS:ME:ALU>", "symbolic"), ("G", "G]17:198982]", "breakend"),
        ("T", "]13:123456]T", "breakend"), ("G", "G.", "breakend"), ("A", "*", "star"),
    ],
)
def test_allele_kind_classifies_every_class(ref, alt, kind):
    assert allele_kind(ref, alt) == kind


def test_htslib_indel_rule_matches_bcf_set_variant_type():
    assert htslib_is_indel("A", "AT") and htslib_is_indel("AT", "A") and htslib_is_indel("ACT", "AT")
    assert not htslib_is_indel("A", "T") and not htslib_is_indel("ACG", "AT")  # ACG>AT is VCF_OTHER in htslib
    assert not htslib_is_indel("TAC", "TGGG")


def _vcf(tmp_path, gts_by_record, samples=("S1", "S2"), chrom="chr1", index=True):
    records = [(10 + 5 * i, "A", alt, gts) for i, (alt, gts) in enumerate(gts_by_record)]
    return write_vcf(tmp_path / "v.vcf.gz", chrom, 1000, list(samples), records, index=index)


def test_vcf_without_index_is_an_error_that_says_how_to_make_one(tmp_path):
    vcf = _vcf(tmp_path, [("G", ["0|1", "1|1"])], index=False)
    with pytest.raises(VCFError, match=r"no index .*tabix -p vcf"):
        check_vcf(vcf)
    index_vcf(vcf)
    assert check_vcf(vcf) == str(vcf)


def test_unsorted_vcf_cannot_be_indexed_and_the_error_says_sort(tmp_path):
    plain = tmp_path / "u.vcf"
    plain.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=1000>\n"
        "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"GT\">\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
        "chr1\t50\t.\tA\tG\t.\t.\t.\tGT\t0|1\nchr1\t20\t.\tA\tG\t.\t.\t.\tGT\t0|1\n"
    )
    import pysam

    pysam.tabix_compress(str(plain), str(plain) + ".gz")
    with pytest.raises(VCFError, match="bcftools sort"):
        index_vcf(str(plain) + ".gz")


def test_truncated_bgzip_is_a_clear_error(tmp_path):
    vcf = _vcf(tmp_path, [("G", ["0|1", "1|1"])] * 50)
    data = vcf.read_bytes()
    vcf.write_bytes(data[: len(data) - 40])
    with pytest.raises(VCFError, match="truncated"):
        check_vcf(vcf)


def test_plain_gzip_or_text_vcf_is_rejected(tmp_path):
    text = tmp_path / "t.vcf"
    text.write_text("##fileformat=VCFv4.2\n")
    with pytest.raises(VCFError, match="not compressed"):
        check_vcf(text)
    gz = tmp_path / "g.vcf.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write("##fileformat=VCFv4.2\n")
    with pytest.raises(VCFError, match="bgzip"):
        check_vcf(gz)


def test_alleles_are_two_columns_per_individual_in_requested_order(tmp_path):
    vcf = _vcf(tmp_path, [("G,T", ["0|2", "1|0"])], samples=("S1", "S2"))
    reader = VcfReader(str(vcf), individuals=["S2", "S1"])
    (rec,) = list(reader.records("chr1", 0, 1000))
    assert rec.pos == 9 and rec.alts == ("G", "T")
    assert rec.alleles.tolist() == [1, 0, 0, 2]


def test_missing_genotype_reference_policy_counts_it(tmp_path):
    vcf = _vcf(tmp_path, [("G", [".|1", "./."])])
    (rec,) = list(VcfReader(str(vcf)).records("chr1", 0, 1000))
    assert rec.alleles.tolist() == [0, 1, 0, 0] and rec.missing == 3


def test_missing_genotype_error_policy_names_individual_and_position(tmp_path):
    vcf = _vcf(tmp_path, [("G", ["0|1", ".|."])])
    reader = VcfReader(str(vcf), policy=GenotypePolicy(missing="error"))
    with pytest.raises(VCFError, match=r"missing genotype at chr1:10 .*S2"):
        list(reader.records("chr1", 0, 1000))


def test_unphased_het_is_an_error_by_default_naming_samples_and_position(tmp_path):
    vcf = _vcf(tmp_path, [("G", ["0|1", "1|1"]), ("C", ["0/1", "1/1"])], samples=("S1", "S2"))
    with pytest.raises(VCFError, match=r"unphased heterozygous genotypes at chr1:15 .*individuals S1\b"):
        list(VcfReader(str(vcf)).records("chr1", 0, 1000))


def test_unphased_homozygous_is_not_an_error(tmp_path):
    vcf = _vcf(tmp_path, [("G", ["1/1", "0/0"])])
    (rec,) = list(VcfReader(str(vcf)).records("chr1", 0, 1000))
    assert rec.alleles.tolist() == [1, 1, 0, 0]


def test_unphased_reference_policy_puts_ref_on_both_haplotypes(tmp_path):
    vcf = _vcf(tmp_path, [("G", ["0/1", "1|0"])])
    (rec,) = list(VcfReader(str(vcf), policy=GenotypePolicy(unphased="reference")).records("chr1", 0, 1000))
    assert rec.alleles.tolist() == [0, 0, 1, 0] and rec.unphased == 1


def test_unphased_random_policy_is_seeded_and_keeps_the_alleles(tmp_path):
    vcf = _vcf(tmp_path, [("G", ["0/1"] * 200)], samples=[f"S{i}" for i in range(200)])
    runs = [next(VcfReader(str(vcf), policy=GenotypePolicy(unphased="random", seed=s)).records("chr1", 0, 1000))
            for s in (1, 1, 2)]
    a = runs[0].alleles.reshape(-1, 2)
    assert np.all(a.sum(axis=1) == 1)  # one REF and one ALT per individual
    assert 40 < a[:, 0].sum() < 160  # both orders occur
    assert np.array_equal(runs[0].alleles, runs[1].alleles)
    assert not np.array_equal(runs[0].alleles, runs[2].alleles)


def test_haploid_call_stands_for_both_haplotypes(tmp_path):
    vcf = _vcf(tmp_path, [("G", ["1", "0"])])
    (rec,) = list(VcfReader(str(vcf)).records("chr1", 0, 1000))
    assert rec.alleles.tolist() == [1, 1, 0, 0]


def test_chromosome_spelling_is_harmonised_or_an_error_naming_both(tmp_path):
    vcf = _vcf(tmp_path, [("G", ["0|1", "1|1"])], chrom="chr7")
    reader = VcfReader(str(vcf))
    assert reader.chrom_name("7") == "chr7"
    with pytest.raises(ChromosomeNameError, match=r"chr7.*'8'"):
        reader.chrom_name("8")


def test_individual_absent_from_vcf_is_an_error(tmp_path):
    vcf = _vcf(tmp_path, [("G", ["0|1", "1|1"])])
    with pytest.raises(VCFError, match="not in the VCF header"):
        VcfReader(str(vcf), individuals=["S1", "NA00001"])


# ------------------------------------------------------------------------ wrong files (issue 12)

def _two_contig_vcf(tmp_path, name="v.vcf.gz", record_chroms=("chr2",), samples=("S1", "S2")):
    import pysam

    plain = tmp_path / name.removesuffix(".gz")
    plain.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=1000>\n##contig=<ID=chr2,length=1000>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n"
        + "".join(f"{c}\t{p}\t.\tA\tG\t.\t.\t.\tGT\t" + "\t".join(["0|1"] * len(samples)) + "\n"
                  for c in record_chroms for p in (10, 20))
    )
    out = tmp_path / name
    pysam.tabix_compress(str(plain), str(out), force=True)
    pysam.tabix_index(str(out), preset="vcf", force=True)
    return out


def test_vcf_without_records_for_the_chromosome_is_an_error_not_reference_haplotypes(tmp_path):
    reader = VcfReader(str(_two_contig_vcf(tmp_path)))  # the header names chr1, but every record is on chr2
    assert reader.chrom_name("chr2") == "chr2"
    with pytest.raises(VCFError, match=r"no records for chromosome 'chr1' \(its records are on \['chr2'\]\).*\{chrom\}"):
        reader.chrom_name("chr1")


def test_vcf_without_any_record_is_an_error(tmp_path):
    vcf = write_vcf(tmp_path / "e.vcf.gz", "chr1", 1000, ["S1"], [])
    with pytest.raises(VCFError, match="no records at all"):
        VcfReader(str(vcf)).chrom_name("chr1")


def test_index_older_than_its_vcf_is_an_error_saying_to_reindex(tmp_path):
    import os

    vcf = _two_contig_vcf(tmp_path)
    os.utime(f"{vcf}.tbi", (1_000_000, 1_000_000))
    with pytest.raises(VCFError, match=r"v.vcf.gz.tbi is older than .*v.vcf.gz.*tabix -f -p vcf"):
        VcfReader(str(vcf))


def test_index_of_another_file_is_an_error(tmp_path):
    import shutil

    vcf = _two_contig_vcf(tmp_path)
    other = _two_contig_vcf(tmp_path, "other.vcf.gz", record_chroms=("chr1", "chr2"), samples=("S1", "S2", "S3"))
    shutil.copyfile(f"{other}.tbi", f"{vcf}.tbi")
    with pytest.raises(VCFError, match=r"v.vcf.gz.tbi does not belong to .*v.vcf.gz.*first record \(chr2:10\)"):
        VcfReader(str(vcf))


def test_duplicate_sample_ids_are_an_error_naming_them(tmp_path):
    vcf = _two_contig_vcf(tmp_path, samples=("S1", "S2", "S1"))
    with pytest.raises(VCFError, match=r"sample ids occur more than once in the header: \['S1'\]"):
        VcfReader(str(vcf))
