"""hapexpr.haplotypes on hand-made windows whose answers are known, and against bcftools consensus."""

import pandas as pd
import pytest
from conftest import require_tool
from hapdata import genes_table, random_case, write_fasta, write_vcf
from hapexpr import haplotypes
from hapexpr.equivalence import compare_with_bcftools
from hapexpr.haplotypes import (
    build_haplotype,
    build_store,
    export_fasta,
    fixed_windows,
    read_store,
    read_windows,
    reverse_complement,
    store_window,
    window_bounds,
)
from hapexpr.variants import ReferenceMismatchError, VCFError

#          0         1         2         3
#          0123456789012345678901234567890123456789
REF = "ACGTACGTACGTTGCAGGCTAACCGGTTAAGGCCTTAGGA"


def hap(edits, start=0, end=len(REF), tss=10, ref=REF):
    return build_haplotype(ref[start:end], start, tss, edits)


def test_snv_mnp_insertion_deletion_are_applied():
    h = hap([(2, "G", "T"), (5, "CG", "AA"), (9, "C", "CTTT"), (14, "CAGG", "C")])
    assert h.sequence == "ACTTAAATACTTTGTTGCCTAACCGGTTAAGGCCTTAGGA"
    assert h.counts["applied"] == 4


def test_tss_offset_follows_indels_before_it():
    h = hap([(2, "G", "GAA"), (5, "CGT", "C")], tss=10)
    assert h.sequence[h.tss_offset] == REF[10] and h.tss_offset == 10 + 2 - 2


def test_deleted_tss_points_to_the_next_kept_base():
    h = hap([(8, "ACGT", "A")], tss=10)
    assert h.tss_offset == 9 and h.sequence[9] == REF[12]


def test_overlapping_variant_is_skipped_first_applied_wins():
    h = hap([(4, "ACGT", "A"), (6, "G", "C"), (7, "T", "A")])
    assert h.sequence == REF[:5] + REF[8:]
    assert h.counts["skipped_overlap"] == 2 and h.counts["applied"] == 1


def test_insertion_anchored_on_the_last_base_of_a_deletion_is_applied_as_bcftools_does():
    h = hap([(4, "ACGT", "A"), (7, "T", "TGG")])
    assert h.sequence == REF[:5] + "GG" + REF[8:]
    assert h.counts["applied"] == 2


def test_snv_after_insertion_at_same_position_is_skipped():
    h = hap([(7, "T", "TGG"), (7, "T", "C")])
    assert h.sequence == REF[:8] + "GG" + REF[8:] and h.counts["skipped_overlap"] == 1


def test_deletion_starting_before_the_window_is_skipped_and_counted():
    h = hap([(3, "TACGT", "T"), (9, "C", "G")], start=5, end=20)
    assert h.sequence == REF[5:9] + "G" + REF[10:20]
    assert h.counts["skipped_before_window"] == 1


def test_deletion_running_past_the_window_end_is_cropped_to_the_window():
    h = hap([(17, "GCTAACC", "G")], start=5, end=20)
    assert h.sequence == REF[5:18]
    assert h.counts["trimmed_at_window_end"] == 1 and h.counts["applied"] == 1


def test_symbolic_breakend_and_star_alleles_are_skipped_and_counted():
    h = hap([(3, "T", "<DEL>"), (5, "C", "C]chr2:100]"), (7, "T", "*"), (9, "C", "G")])
    assert h.sequence == REF[:9] + "G" + REF[10:]
    assert (h.counts["skipped_symbolic"], h.counts["skipped_breakend"], h.counts["skipped_star"]) == (1, 1, 1)


def test_soft_masked_reference_keeps_its_case_and_variants_take_it():
    ref = REF[:8] + REF[8:20].lower() + REF[20:]
    h = hap([(9, "C", "CTT"), (12, "T", "G"), (25, "G", "A")], ref=ref)
    assert h.sequence == ref[:10] + "tt" + ref[10:12] + "g" + ref[13:25] + "A" + ref[26:]


def test_window_bounds_put_the_tss_at_w_half_on_both_strands():
    assert window_bounds(100, "+", 10) == (95, 105)
    assert window_bounds(100, "-", 10) == (96, 106)
    assert window_bounds(100, "+", 9) == (96, 105)


def _store(tmp_path, ref, records, genes, samples, window, chrom="chr1", vcf_chrom=None, one_based=False, **kw):
    """Store of hand-made records given with 0-based positions (random_case gives 1-based: one_based=True)."""
    if not one_based:
        records = [(p + 1, *rest) for p, *rest in records]
    fasta = write_fasta(tmp_path / "ref.fa", {chrom: ref})
    vcf = write_vcf(tmp_path / "v.vcf.gz", vcf_chrom or chrom, len(ref), samples, records)
    out = tmp_path / "store"
    counts = build_store(vcf, fasta, genes, chrom, window, samples, out / f"{chrom}.sequences.parquet",
                         out / f"{chrom}.map.parquet", out / f"{chrom}.counts.tsv", **kw)
    return counts, out, vcf, fasta


def test_store_holds_each_distinct_haplotype_once_and_maps_everyone(tmp_path):
    records = [(11, "T", "C", ["0|1", "1|0", "0|0"]), (14, "C", "CA", ["0|1", "1|0", "0|1"])]
    genes = genes_table("chr1", [("G1", 12, "+"), ("G2", 30, "-")])
    counts, out, _, _ = _store(tmp_path, REF, records, genes, ["A", "B", "C"], 16)
    seqs, hap_map = read_store(out, "chr1")
    g1 = seqs[seqs.gene_id == "G1"].set_index("hap_id")
    # haplotypes: A1 ref, A2 T+ins, B1 T+ins, B2 ref, C1 ref, C2 ins -> 3 distinct sequences
    assert sorted(g1.index) == [0, 1, 2]
    m = hap_map[hap_map.gene_id == "G1"].set_index(["individual", "haplotype"])["hap_id"]
    assert m[("A", 1)] == m[("B", 2)] == m[("C", 1)] == 0
    assert m[("A", 2)] == m[("B", 1)] != m[("C", 2)]
    start, end = window_bounds(12, "+", 16)
    assert g1.loc[m[("A", 2)], "sequence"] == REF[start:11] + "C" + REF[12:14] + "CA" + REF[15:end]
    c = counts.set_index("gene_id")
    assert c.loc["G1", "n_unique"] == 3 and c.loc["G1", "applied"] == 5 and c.loc["G1", "n_variants"] == 2


@pytest.mark.parametrize("compare_bytes", [1 << 20, 0])  # sequences compared at once / hashed first
def test_different_edits_giving_the_same_sequence_are_one_haplotype(tmp_path, monkeypatch, compare_bytes):
    monkeypatch.setattr(haplotypes, "_COMPARE_BYTES", compare_bytes)
    # an MNP and the two SNVs it is made of; a deletion of one G of "GG" and of the other one
    records = [(5, "CG", "AA", ["1|0", "0|0"]), (5, "C", "A", ["0|1", "0|0"]), (6, "G", "A", ["0|1", "0|0"]),
               (15, "AG", "A", ["0|0", "1|0"]), (16, "GG", "G", ["0|0", "0|1"])]
    genes = genes_table("chr1", [("G1", 10, "+")])
    counts, out, _, _ = _store(tmp_path, REF, records, genes, ["A", "B"], 20)
    seqs, hap_map = read_store(out, "chr1")
    m = hap_map.set_index(["individual", "haplotype"])["hap_id"]
    assert m[("A", 1)] == m[("A", 2)] != m[("B", 1)] == m[("B", 2)] != 0
    assert sorted(seqs["hap_id"]) == [0, 1, 2] and counts["n_unique"].tolist() == [2]
    got = seqs.set_index("hap_id")["sequence"]
    assert got[m[("A", 1)]] == REF[:5] + "AA" + REF[7:20] and got[m[("B", 1)]] == REF[:16] + REF[17:20]


def test_gene_without_variants_has_one_haplotype_the_reference(tmp_path):
    records = [(3, "T", "G", ["0|1", "1|1"])]
    genes = genes_table("chr1", [("G1", 30, "+")])
    counts, out, _, _ = _store(tmp_path, REF, records, genes, ["A", "B"], 8)
    seqs, hap_map = read_store(out, "chr1")
    assert seqs["hap_id"].tolist() == [0] and seqs["sequence"][0] == REF[26:34]
    assert (hap_map["hap_id"] == 0).all() and len(hap_map) == 4
    assert counts["n_unique"].tolist() == [1]


def test_window_past_the_chromosome_ends_is_padded_with_n(tmp_path):
    records = [(2, "G", "A", ["1|0"]), (len(REF) - 1, "A", "T", ["0|1"])]
    genes = genes_table("chr1", [("L", 3, "+"), ("R", len(REF) - 3, "-")])
    _, out, _, _ = _store(tmp_path, REF, records, genes, ["A"], 12)
    seqs, m = read_store(out, "chr1")
    s = {(g, h): q for g, h, q in zip(seqs.gene_id, seqs.hap_id, seqs.sequence)}
    left_start, _ = window_bounds(3, "+", 12)
    assert s[("L", 0)] == "N" * -left_start + REF[: left_start + 12]
    mm = m.set_index(["gene_id", "haplotype"])["hap_id"]
    assert s[("L", mm[("L", 1)])] == "N" * 3 + REF[:2] + "A" + REF[3:9]
    rs, re_ = window_bounds(len(REF) - 3, "-", 12)
    assert s[("R", mm[("R", 2)])] == REF[rs:-1] + "T" + "N" * (re_ - len(REF))


def test_multiallelic_site_applies_the_carried_allele(tmp_path):
    records = [(11, "T", "C,G,TAA", ["1|2", "3|0"])]
    genes = genes_table("chr1", [("G1", 10, "+")])
    _, out, _, _ = _store(tmp_path, REF, records, genes, ["A", "B"], 10)
    seqs, m = read_store(out, "chr1")
    got = m.merge(seqs).set_index(["individual", "haplotype"])["sequence"]
    assert got[("A", 1)] == REF[5:11] + "C" + REF[12:15]
    assert got[("A", 2)] == REF[5:11] + "G" + REF[12:15]
    assert got[("B", 1)] == REF[5:11] + "TAA" + REF[12:15]
    assert got[("B", 2)] == REF[5:15]


def test_vcf_chromosome_spelled_differently_is_harmonised(tmp_path):
    records = [(11, "T", "C", ["1|1"])]
    genes = genes_table("1", [("G1", 10, "+")])
    counts, out, _, _ = _store(tmp_path, REF, records, genes, ["A"], 10, chrom="1", vcf_chrom="chr1")
    assert counts["applied"].tolist() == [2]


def test_ref_allele_disagreeing_with_fasta_is_an_error_about_builds_and_leaves_no_store(tmp_path):
    records = [(11, "G", "T", ["1|1"])]  # REF[11] is T
    genes = genes_table("chr1", [("G1", 10, "+")])
    with pytest.raises(ReferenceMismatchError, match="different genome builds"):
        _store(tmp_path, REF, records, genes, ["A"], 10)
    assert not list((tmp_path / "store").glob("*.parquet")) and not list((tmp_path / "store").glob(".*"))


def test_truncated_vcf_is_an_error_and_leaves_no_store(tmp_path):
    fasta = write_fasta(tmp_path / "ref.fa", {"chr1": REF})
    vcf = write_vcf(tmp_path / "v.vcf.gz", "chr1", len(REF), ["A"], [(12, "T", "C", ["1|1"])])
    vcf.write_bytes(vcf.read_bytes()[:-30])
    out = tmp_path / "store"
    with pytest.raises(VCFError, match="truncated"):
        build_store(vcf, fasta, genes_table("chr1", [("G1", 10, "+")]), "chr1", 10, ["A"],
                    out / "s.parquet", out / "m.parquet", out / "c.tsv")
    assert not out.exists() or not any(out.iterdir())


def test_small_chunks_give_the_same_store(tmp_path):
    ref, records = random_case(3, length=400, n_samples=5)
    samples = [f"S{i}" for i in range(5)]
    genes = genes_table("chr1", [(f"G{i}", 30 + 40 * i, "+-"[i % 2]) for i in range(9)])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _store(tmp_path / "a", ref, records, genes, samples, 60, one_based=True)
    b = _store(tmp_path / "b", ref, records, genes, samples, 60, one_based=True, chunk_genes=1)
    sa, ma = read_store(a[1], "chr1")
    sb, mb = read_store(b[1], "chr1")
    pd.testing.assert_frame_equal(sa, sb)
    pd.testing.assert_frame_equal(ma, mb)
    pd.testing.assert_frame_equal(a[0], b[0])


def test_fixed_windows_anchor_the_tss_at_w_half_and_reverse_complement_minus_genes():
    seqs = pd.DataFrame({"gene_id": ["P", "M", "I", "D"], "hap_id": [0, 0, 1, 1],
                         "sequence": ["AACCGTT", "AACCGTT", "AAGGGGCCGTT", "AAGTT"], "tss_offset": [3, 3, 7, 2]})
    genes = pd.DataFrame({"gene_id": ["P", "M", "I", "D"], "strand": ["+", "-", "+", "+"]})
    w = fixed_windows(seqs, genes, 6).set_index("gene_id")["window"]
    assert w["P"] == "AAC" + "CGT" and w["P"][3] == "C"
    assert w["M"] == reverse_complement("GTT") + reverse_complement("AACC")[:3] and w["M"][3] == "G"
    assert w["I"] == "GGC" + "CGT"  # insertion upstream of the TSS: cropped on the left
    assert w["D"] == "NAA" + "GTT"  # deletion upstream: padded with N on the left
    assert all(len(x) == 6 for x in w)
    odd = fixed_windows(seqs.iloc[:1], genes, 5)["window"][0]
    assert odd == "AC" + "CGT" and odd[5 // 2] == "C"


def test_read_windows_reads_a_table_of_full_sequences_as_fixed_windows_does(tmp_path):
    # hand-made tables of full sequences (the format before the edit store) stay readable
    seqs = pd.DataFrame({"gene_id": ["P", "P", "M"], "hap_id": [0, 1, 0],
                         "sequence": ["AACCGTT", "AAGGGGCCGTT", "AACCGTT"], "tss_offset": [3, 7, 3]})
    genes = pd.DataFrame({"gene_id": ["P", "M"], "tss": [3, 3], "strand": ["+", "-"]})
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hapexpr.haplotypes import SEQUENCE_SCHEMA, WINDOW_KEY

    table = pa.Table.from_pandas(seqs, schema=SEQUENCE_SCHEMA, preserve_index=False)
    path = str(tmp_path / "chr1.sequences.parquet")
    pq.write_table(table.replace_schema_metadata({WINDOW_KEY: b"7"}), path)
    assert store_window(path) == 7
    pd.testing.assert_frame_equal(read_windows([path], genes, 6), fixed_windows(seqs, genes, 6), check_dtype=False)
    only_p = read_windows([path], genes[genes.gene_id == "P"], 6, reference_only=True)
    assert only_p["window"].tolist() == ["AAC" + "CGT"] and only_p["hap_id"].tolist() == [0]
    with pytest.raises(ValueError, match="built at 7 bp"):
        read_windows([path], genes, 8)
    seqs.to_parquet(tmp_path / "old.parquet")  # no recorded window: refused
    with pytest.raises(ValueError, match="does not record the window"):
        read_windows([str(tmp_path / "old.parquet")], genes, 6)


def test_fixed_windows_of_reference_store_equal_the_oriented_reference(tmp_path):
    genes = genes_table("chr1", [("P", 12, "+"), ("M", 25, "-")])
    _, out, _, _ = _store(tmp_path, REF, [(3, "T", "G", ["0|0"])], genes, ["A"], 10)
    seqs, _ = read_store(out, "chr1")
    w = fixed_windows(seqs, genes, 10).set_index("gene_id")["window"]
    assert w["P"] == REF[7:17] and w["P"][5] == REF[12]
    assert w["M"] == reverse_complement(REF[21:31]) and w["M"][5] == reverse_complement(REF[25])


def test_export_fasta_writes_chosen_genes_and_individuals(tmp_path):
    records = [(11, "T", "C", ["0|1", "1|0"])]
    genes = genes_table("chr1", [("G1", 10, "+"), ("G2", 25, "+")])
    _, out, _, _ = _store(tmp_path, REF, records, genes, ["A", "B"], 10)
    n = export_fasta(out, "chr1", ["G1"], ["B"], tmp_path / "x.fa")
    text = (tmp_path / "x.fa").read_text().splitlines()
    assert n == 3 and text[0].startswith(">G1|reference|0|hap_id=0")
    assert text[2].startswith(">G1|B|1|") and text[3] == REF[5:11] + "C" + REF[12:15]
    with pytest.raises(KeyError, match="NOPE"):
        export_fasta(out, "chr1", ["NOPE"], None, tmp_path / "y.fa")


@pytest.mark.parametrize("seed", range(12))
def test_random_overlapping_variants_equal_bcftools_consensus(tmp_path, seed):
    require_tool("bcftools")
    ref, records = random_case(seed, length=400, n_records=60, n_samples=6)
    samples = [f"S{i}" for i in range(6)]
    genes = genes_table("chr1", [("G1", 100, "+"), ("G2", 250, "-"), ("G3", 5, "+"), ("G4", 390, "-")])
    counts, out, vcf, fasta = _store(tmp_path, ref, records, genes, samples, 120, one_based=True)
    n, mismatches = compare_with_bcftools(out, "chr1", str(vcf), str(fasta), genes, 120)
    assert n == 4 * 6 * 2 and not mismatches, "\n".join(mismatches[:5])
    assert counts["skipped_overlap"].sum() > 0 and counts["applied"].sum() > 0


def test_build_chromosome_reads_workflow_tables_and_selects_individuals_with_expression(tmp_path):
    from hapexpr.haplotypes import build_chromosome, select_individuals

    fasta = write_fasta(tmp_path / "ref.fa", {"chr1": REF})
    vcf = write_vcf(tmp_path / "v.vcf.gz", "chr1", len(REF), ["A", "B", "C"], [(12, "T", "C", ["0|1", "1|1", "1|0"])])
    genes_table("chr1", [("G1", 10, "+")]).to_csv(tmp_path / "genes.tsv", sep="\t", index=False)
    people = pd.DataFrame({"individual": ["A", "B", "C", "D"], "population": "P", "in_vcf": [True, True, True, False],
                           "in_expression": [True, False, True, True], "split": ["train", "none", "test", "none"]})
    people.to_csv(tmp_path / "individuals.tsv", sep="\t", index=False)
    assert select_individuals(people, "vcf") == ["A", "B", "C"]
    out = tmp_path / "store"
    counts = build_chromosome(str(vcf), str(fasta), str(tmp_path / "genes.tsv"), str(tmp_path / "individuals.tsv"),
                              "chr1", 10, str(out / "chr1.sequences.parquet"), str(out / "chr1.map.parquet"),
                              str(out / "chr1.counts.tsv"))
    _, hap_map = read_store(out, "chr1")
    assert sorted(hap_map["individual"].unique()) == ["A", "C"] and counts["applied"].tolist() == [2]


def test_long_deletion_reaching_a_later_separate_window_is_counted_there(tmp_path):
    ref = REF * 3
    # deletion from 20 to 69 (0-based) carried by A hap 1; windows [11,21) and [66,76) are disjoint intervals
    records = [(20, ref[20:70], ref[20], ["1|0"]), (70, ref[70], "A" if ref[70] != "A" else "C", ["1|1"])]
    genes = genes_table("chr1", [("G1", 16, "+"), ("G2", 71, "+")])
    counts, out, vcf, fasta = _store(tmp_path, ref, records, genes, ["A"], 10)
    c = counts.set_index("gene_id")
    assert c.loc["G2", "skipped_before_window"] == 1 and c.loc["G1", "trimmed_at_window_end"] == 1
    if __import__("shutil").which("bcftools"):
        n, mismatches = compare_with_bcftools(out, "chr1", str(vcf), str(fasta), genes, 10)
        assert n == 4 and not mismatches, mismatches


def _windows_per_copy(out, chrom, genes, window, reference_only=False):
    """The window of every (gene, individual, haplotype) copy, read through read_windows."""
    from hapexpr.haplotypes import read_windows

    windows = read_windows([str(out / f"{chrom}.sequences.parquet")], genes, window, reference_only=reference_only)
    _, hap_map = read_store(out, chrom)
    joined = hap_map.merge(windows, on=["gene_id", "hap_id"])
    return dict(zip(zip(joined["gene_id"], joined["individual"], joined["haplotype"]), joined["window"]))


def test_a_store_built_at_16kb_read_at_4kb_equals_a_store_built_at_4kb(tmp_path):
    import random

    from hapexpr.haplotypes import read_windows, store_window

    rng = random.Random(3)
    ref = "".join(rng.choice("ACGT") for _ in range(40_000))
    genes = genes_table("chr1", [("P", 12_000, "+"), ("M", 27_000, "-"), ("Q", 13_000, "+")])
    samples = ["A", "B", "C", "D"]
    records = []
    for pos in sorted(rng.sample(range(4_100, 35_000), 120)):  # 0-based; SNVs and MNPs everywhere
        size = rng.choice([1, 1, 1, 2])
        old = ref[pos : pos + size]
        new = "".join({"A": "C", "C": "G", "G": "T", "T": "A"}[b] for b in old)
        records.append((pos, old, new, [f"{rng.randint(0, 1)}|{rng.randint(0, 1)}" for _ in samples]))
    # indels well inside the 16-kb windows but outside the 4-kb ones (more than 2 kb from every TSS)
    for pos in (5_000, 21_000, 33_000):
        records.append((pos, ref[pos : pos + 4], ref[pos], ["1|0", "0|1", "1|1", "0|0"]))
        records.append((pos + 10, ref[pos + 10], ref[pos + 10] + "GATTACA", ["0|1", "1|1", "0|0", "1|0"]))
    records.sort(key=lambda r: r[0])
    records = [r for i, r in enumerate(records) if i == 0 or r[0] > records[i - 1][0] + len(records[i - 1][1])]
    (tmp_path / "w").mkdir(), (tmp_path / "n").mkdir()
    _, wide, _, _ = _store(tmp_path / "w", ref, records, genes, samples, 16_000)
    _, narrow, _, _ = _store(tmp_path / "n", ref, records, genes, samples, 4_000)
    assert store_window(wide / "chr1.sequences.parquet") == 16_000
    assert store_window(narrow / "chr1.sequences.parquet") == 4_000
    from_wide = _windows_per_copy(wide, "chr1", genes, 4_000)
    from_narrow = _windows_per_copy(narrow, "chr1", genes, 4_000)
    assert len(from_wide) == 3 * 4 * 2 and from_wide == from_narrow
    assert all(len(w) == 4_000 for w in from_wide.values())
    ref_wide = read_windows([str(wide / "chr1.sequences.parquet")], genes, 4_000, reference_only=True)
    assert set(ref_wide["hap_id"]) == {0} and len(ref_wide) == 3
    with pytest.raises(ValueError, match="built at 4000 bp"):
        read_windows([str(narrow / "chr1.sequences.parquet")], genes, 16_000)


def test_a_wider_store_fills_an_indel_shortened_window_with_real_bases_not_n(tmp_path):
    from hapexpr.haplotypes import read_windows

    ref = REF * 3
    genes = genes_table("chr1", [("G", 60, "+")])
    records = [(62, ref[62:66], ref[62], ["1|1"])]  # a 3-bp deletion just downstream of the TSS
    (tmp_path / "w").mkdir(), (tmp_path / "n").mkdir()
    _, narrow, _, _ = _store(tmp_path / "n", ref, records, genes, ["A"], 10)
    _, wide, _, _ = _store(tmp_path / "w", ref, records, genes, ["A"], 40)
    n = read_windows([str(narrow / "chr1.sequences.parquet")], genes, 10).set_index("hap_id")["window"][1]
    w = read_windows([str(wide / "chr1.sequences.parquet")], genes, 10).set_index("hap_id")["window"][1]
    assert n == ref[55:63] + "NN"  # the 10-bp store ends where the deletion leaves it: padded with N
    assert w == ref[55:63] + ref[66:68]  # the wider store has the real downstream bases
    assert n[5] == w[5] == ref[60]


def test_a_store_that_does_not_record_its_window_is_refused(tmp_path):
    from hapexpr.haplotypes import read_windows

    pd.DataFrame({"gene_id": ["G"], "hap_id": [0], "sequence": ["ACGT"], "tss_offset": [2]}).to_parquet(
        tmp_path / "old.parquet")
    with pytest.raises(ValueError, match="does not record the window"):
        read_windows([str(tmp_path / "old.parquet")], genes_table("chr1", [("G", 2, "+")]), 4)


def test_reference_only_store_without_vcf_has_reference_windows_and_an_empty_map(tmp_path):
    from hapexpr.haplotypes import build_chromosome, read_windows

    fasta = write_fasta(tmp_path / "ref.fa", {"22": REF})
    genes_table("22", [("G1", 10, "+"), ("G2", 30, "-")]).to_csv(tmp_path / "genes.tsv", sep="\t", index=False)
    out = tmp_path / "store"
    counts = build_chromosome(None, str(fasta), str(tmp_path / "genes.tsv"), str(tmp_path / "individuals.tsv"),
                              "22", 10, str(out / "22.sequences.parquet"), str(out / "22.map.parquet"),
                              str(out / "22.counts.tsv"))
    assert counts["gene_id"].tolist() == ["G1", "G2"]
    seqs, hap_map = read_store(out, "22")
    assert hap_map.empty and set(seqs["hap_id"]) == {0}
    windows = read_windows([str(out / "22.sequences.parquet")], genes_table("22", [("G1", 10, "+")]), 10)
    assert windows["window"].tolist() == [REF[5:15]]


def test_command_line_builds_from_a_bed_and_exports_fasta_and_digests(tmp_path):
    import hashlib

    from hapexpr.haplotypes import main

    fasta = write_fasta(tmp_path / "ref.fa", {"chr1": REF})
    vcf = write_vcf(tmp_path / "v.vcf.gz", "chr1", len(REF), ["A", "B"],
                    [(12, "T", "C", ["0|1", "1|0"]), (22, "A", "AGG", ["1|1", "0|0"])])  # 1-based POS
    (tmp_path / "w.bed").write_text("chr1\t5\t15\tG1\t0\t+\nchr1\t18\t28\tG2\t0\t-\n")
    (tmp_path / "s.txt").write_text("B\nA\n")
    store, timing = tmp_path / "store", tmp_path / "timing.json"
    main(["build", "--fasta", str(fasta), "--vcf", str(vcf), "--regions", str(tmp_path / "w.bed"), "--samples",
          str(tmp_path / "s.txt"), "--threads", "2", "--out", str(store), "--digests", str(tmp_path / "d0.tsv")])
    seqs, hap_map = read_store(store, "chr1")
    assert sorted(hap_map["individual"].unique()) == ["A", "B"] and set(seqs["gene_id"]) == {"G1", "G2"}
    got = hap_map.merge(seqs).set_index(["gene_id", "individual", "haplotype"])["sequence"]
    assert got[("G1", "A", 2)] == REF[5:11] + "C" + REF[12:15]
    assert got[("G2", "A", 1)] == REF[18:21] + "AGG" + REF[22:28]
    main(["export", "--store", str(store), "--format", "fasta", "--no-reference", "--out", str(tmp_path / "fa")])
    lines = (tmp_path / "fa" / "chr1.fa").read_text().splitlines()
    assert lines[0].startswith(">G1|A|1|") and len([x for x in lines if x.startswith(">")]) == 8
    main(["export", "--store", str(store), "--format", "digests", "--out", str(tmp_path / "d.tsv"), "--timing",
          str(timing)])
    digests = pd.read_csv(tmp_path / "d.tsv", sep="\t").set_index(["gene_id", "sample", "hap"])
    assert len(digests) == 8
    assert digests.loc[("G1", "A", 2), "sha1"] == hashlib.sha1(got[("G1", "A", 2)].upper().encode()).hexdigest()
    assert (tmp_path / "d.tsv").read_text() == (tmp_path / "d0.tsv").read_text()  # build --digests: the same
    assert set(__import__("json").loads(timing.read_text())) == {"export_s", "core_s"}
    (tmp_path / "bad.bed").write_text("chr1\t5\t15\tG1\nchr1\t18\t29\tG2\n")
    with pytest.raises(ValueError, match="line 2 is a window of 11 bp"):
        main(["build", "--fasta", str(fasta), "--vcf", str(vcf), "--regions", str(tmp_path / "bad.bed"), "--out",
              str(tmp_path / "bad")])


@pytest.mark.parametrize("length", [40, 5000])  # short windows: per-byte gather; long: stretch copies + scatter
def test_materialise_equals_applying_the_edits_one_by_one(length):
    import random

    import numpy as np
    from hapexpr.haplotypes import apply_edits, materialise

    rng = random.Random(length)
    ref = "".join(rng.choice("ACGTNacgt") for _ in range(length))
    haps = []
    for _ in range(30):
        edits, pos = [], rng.randrange(0, 3)
        while pos < length and rng.random() < 0.95:
            end = min(length, pos + rng.choice([0, 1, 1, 1, 2, 5]))
            edits.append((pos, end, "".join(rng.choice("ACGTacgt") for _ in range(rng.choice([0, 1, 1, 1, 3])))))
            pos = end + rng.randrange(0, max(2, length // 4))
        haps.append(edits)
    haps.append([])
    flat = [e for h in haps for e in h]
    hap_offsets = np.cumsum([0] + [len(h) for h in haps])
    alt_offsets = np.cumsum([0] + [len(a) for _, _, a in flat])
    buffer, offsets = materialise(np.frombuffer(ref.encode(), np.uint8), np.array([s for s, _, _ in flat]),
                                  np.array([e for _, e, _ in flat]), np.frombuffer("".join(a for *_, a in flat).encode(),
                                                                                 np.uint8), alt_offsets, hap_offsets)
    for k, h in enumerate(haps):
        expected = apply_edits(ref, [s for s, _, _ in h], [e for _, e, _ in h], [a for *_, a in h])
        assert buffer[offsets[k] : offsets[k + 1]].tobytes().decode() == expected


def test_without_a_vcf_the_store_holds_the_reference_windows_and_an_empty_map(tmp_path):
    from hapexpr.haplotypes import build_chromosome, read_map

    fasta = write_fasta(tmp_path / "ref.fa", {"chr1": REF})
    genes_table("chr1", [("G1", 10, "+"), ("G2", 25, "-")]).to_csv(tmp_path / "genes.tsv", sep="\t", index=False)
    out = tmp_path / "store"
    counts = build_chromosome(None, str(fasta), str(tmp_path / "genes.tsv"), str(tmp_path / "none.tsv"), "chr1", 10,
                              str(out / "chr1.sequences.parquet"), str(out / "chr1.map.parquet"),
                              str(out / "chr1.counts.tsv"), threads=2)
    assert counts["n_unique"].tolist() == [1, 1] and len(read_map([str(out / "chr1.map.parquet")])) == 0
    genes = genes_table("chr1", [("G1", 10, "+"), ("G2", 25, "-")])
    w = read_windows(str(out / "chr1.sequences.parquet"), genes, 10).set_index("gene_id")["window"]
    assert w["G1"] == REF[5:15] and w["G2"] == reverse_complement(REF[21:31])
    empty = read_windows([str(out / "chr1.sequences.parquet")], genes.iloc[:0], 10)
    assert list(empty.columns) == ["gene_id", "hap_id", "window"] and len(empty) == 0
