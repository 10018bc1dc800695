"""Windows read from the edit store equal those of the previous store (every haplotype as full text, cropped by
the previous fixed_windows) on a chromosome simulated as the demo simulates it: models get the same input, so demo
predictions do not change. The previous full-text path is kept here, and only here, as the reference."""

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from hapexpr.haplotypes import (
    SKIP_REASONS,
    Haplotype,
    build_store,
    gene_windows,
    iter_window_records,
    read_windows,
    reverse_complement,
    store_window,
    unique_haplotypes,
)
from hapexpr.reference import Reference
from hapexpr.simulate import SimulationConfig, simulate_demo
from hapexpr.variants import APPLIED_KINDS, VcfReader, allele_kind, htslib_is_indel

WINDOW = 4000


# ---------------------------------------------------------------- the previous full-text path (reference only)
def legacy_build_haplotype(
    refseq: str, start: int, tss: int, edits: Sequence[tuple[int, str, str]]
) -> Haplotype:
    """Apply one haplotype's carried alleles `(pos, REF, ALT)` (file order) to the window sequence `refseq`.

    `refseq` is the reference of [start, start + len(refseq)), soft-masking kept. The TSS offset is the index of
    the output base derived from the TSS base; where a variant replaced the TSS base, the base at the same
    distance into its ALT, or the first base after it when the ALT is shorter.
    """
    end = start + len(refseq)
    counts = dict.fromkeys(["applied", "trimmed_at_window_end"] + [f"skipped_{r}" for r in SKIP_REASONS], 0)
    out: list[str] = []
    out_len = 0
    cursor = start  # next reference position to copy
    frozen = -1  # last reference position covered by an applied variant
    prev_insert = False
    tss_offset = -1
    for edit in edits:
        pos, ref, alt = edit[:3]
        kind = edit[3] if len(edit) > 3 else allele_kind(ref, alt)
        if kind not in APPLIED_KINDS:
            counts[f"skipped_{kind}"] += 1
            continue
        if pos <= frozen:
            if not (pos == frozen and ref[0] == alt[0] and not prev_insert and htslib_is_indel(ref, alt)):
                counts["skipped_overlap"] += 1
                continue
            anchored = True
        else:
            anchored = False
        if pos < start:
            counts["skipped_before_window"] += 1
            continue
        if pos >= end:
            continue
        rlen = len(ref)
        if pos + rlen > end:
            rlen = end - pos
            alt = alt[:rlen] if len(alt) > rlen else alt
            counts["trimmed_at_window_end"] += 1
        if anchored:
            lower = out_len > 0 and out[-1][-1:].islower()
            span, replacement = pos + 1, alt[1:]
            anchor = alt[0].lower() if lower else alt[0].upper()
            if len(alt) > rlen and anchor != ref[0]:
                # bcftools compares REF with the case-converted ALT to find the bases an insertion leaves alone:
                # in soft-masked sequence the anchor base is rewritten with ALT's first base
                out[-1] = out[-1][:-1] + anchor
        else:
            if tss_offset < 0 and cursor <= tss < pos:
                tss_offset = out_len + tss - cursor
            copied = refseq[cursor - start : pos - start]
            out.append(copied)
            out_len += len(copied)
            lower = refseq[pos - start].islower()
            span, replacement = pos, alt
        replacement = replacement.lower() if lower else replacement.upper()
        if tss_offset < 0 and span <= tss < pos + rlen:
            tss_offset = out_len + min(tss - span, len(replacement))
        if replacement:
            out.append(replacement)
            out_len += len(replacement)
        cursor = pos + rlen
        frozen = pos + rlen - 1
        prev_insert = len(alt) > rlen
        counts["applied"] += 1
    if tss_offset < 0:
        tss_offset = out_len + max(tss - cursor, 0)
    out.append(refseq[cursor - start :])
    return Haplotype("".join(out), tss_offset, counts)


def legacy_fixed_windows(sequences_df: pd.DataFrame, genes_df: pd.DataFrame, W: int) -> pd.DataFrame:
    strands = dict(zip(genes_df["gene_id"], genes_df["strand"]))
    left_len, right_len = W // 2, W - W // 2
    out = []
    for gene_id, seq, offset in zip(sequences_df["gene_id"], sequences_df["sequence"], sequences_df["tss_offset"]):
        strand = strands[gene_id]
        if strand == "-":
            upstream, downstream = reverse_complement(seq[offset + 1 :]), reverse_complement(seq[: offset + 1])
        else:
            upstream, downstream = seq[:offset], seq[offset:]
        upstream = upstream[-left_len:] if left_len else ""
        downstream = downstream[:right_len]
        out.append("N" * (left_len - len(upstream)) + upstream + downstream + "N" * (right_len - len(downstream)))
    return pd.DataFrame({"gene_id": sequences_df["gene_id"].to_numpy(), "hap_id": sequences_df["hap_id"].to_numpy(),
                         "window": out})


def legacy_store(vcf: str, fasta: str, genes: pd.DataFrame, chrom: str, window: int,
                 individuals: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sequences, map) as the previous build_store wrote them: distinct sequences numbered from 0 (the reference)
    in order of first appearance among the distinct allele combinations."""
    reader, reference = VcfReader(vcf, individuals), Reference(fasta)
    seq_rows, map_rows = [], []
    for w, records in iter_window_records(reader, chrom, gene_windows(genes, window)):
        refseq = reference.fetch(chrom, w.start, w.end)
        ref_hap = legacy_build_haplotype(refseq, w.start, w.tss, ())
        seen = {(ref_hap.sequence, ref_hap.tss_offset): 0}
        sequences = [ref_hap]
        carried = [r for r in records if r.alleles.any()]
        hap_ids = np.zeros(2 * len(individuals), dtype=int)
        if carried:
            matrix = np.stack([r.alleles for r in carried])
            first, inverse = unique_haplotypes(matrix)
            ids = []
            for column in first:
                alleles = matrix[:, column]
                edits = [(carried[i].pos, carried[i].ref, carried[i].alts[alleles[i] - 1])
                         for i in np.flatnonzero(alleles)]
                hap = legacy_build_haplotype(refseq, w.start, w.tss, edits)
                key = (hap.sequence, hap.tss_offset)
                if key not in seen:
                    seen[key] = len(sequences)
                    sequences.append(hap)
                ids.append(seen[key])
            hap_ids = np.asarray(ids)[inverse]
        seq_rows += [(w.gene_id, k, h.sequence, h.tss_offset) for k, h in enumerate(sequences)]
        map_rows += [(w.gene_id, ind, hap + 1, int(hap_ids[2 * i + hap]))
                     for i, ind in enumerate(individuals) for hap in (0, 1)]
    reader.close()
    reference.close()
    return (pd.DataFrame(seq_rows, columns=["gene_id", "hap_id", "sequence", "tss_offset"]),
            pd.DataFrame(map_rows, columns=["gene_id", "individual", "haplotype", "hap_id"]))


# ---------------------------------------------------------------- the test
@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_chrom")
    cfg = SimulationConfig.from_config({"chrom_length": 150000, "genes_per_chromosome": 10, "individuals": 60,
                                        "populations": ["POPA", "POPB"]}, ["chr1"], WINDOW, 5)
    paths = {"reference": root / "genome.fa.gz", "annotation": root / "genes.gtf.gz",
             "vcf": {"chr1": root / "chr1.vcf.gz"}, "expression": root / "expression.txt.gz",
             "populations": root / "populations.tsv", "phenotypes": root / "phenotypes.tsv", "truth_dir": root / "truth"}
    sim = simulate_demo(cfg, paths)
    genes = pd.DataFrame([(g.gene_id, g.chrom, g.tss, g.strand) for g in sim.genes],
                         columns=["gene_id", "chrom", "tss", "strand"])
    return root, paths, genes, list(sim.individuals)


@pytest.mark.parametrize("threads", [1, 2])
def test_windows_of_the_edit_store_equal_the_previous_full_text_store(simulated, threads):
    root, paths, genes, individuals = simulated
    vcf, fasta = str(paths["vcf"]["chr1"]), str(paths["reference"])
    out = root / f"store{threads}"
    counts = build_store(vcf, fasta, genes, "chr1", WINDOW, individuals, out / "chr1.sequences.parquet",
                         out / "chr1.map.parquet", out / "chr1.counts.tsv", threads=threads)
    assert counts["applied"].sum() > 0 and (counts["n_unique"] > 1).all()
    assert (counts["skipped_overlap"] + counts["trimmed_at_window_end"]).sum() > 0  # the edge rules are exercised
    legacy_sequences, legacy_map = legacy_store(vcf, fasta, genes, "chr1", WINDOW, individuals)
    hap_map = pd.read_parquet(out / "chr1.map.parquet")
    pd.testing.assert_frame_equal(hap_map, legacy_map, check_dtype=False)  # same hap_ids for everyone
    assert store_window(str(out / "chr1.sequences.parquet")) == WINDOW
    for window in (WINDOW, 1001, 600):  # the models' windows: the store's, and shorter (odd) crops
        new = read_windows([str(out / "chr1.sequences.parquet")], genes, window)
        old = legacy_fixed_windows(legacy_sequences, genes, window)
        pd.testing.assert_frame_equal(new.reset_index(drop=True), old, check_dtype=False)
        reference = read_windows([str(out / "chr1.sequences.parquet")], genes, window, reference_only=True)
        pd.testing.assert_frame_equal(reference.reset_index(drop=True),
                                      old[old["hap_id"] == 0].reset_index(drop=True), check_dtype=False)
    with pytest.raises(ValueError, match="built at 4000 bp"):
        read_windows([str(out / "chr1.sequences.parquet")], genes, WINDOW + 1)
