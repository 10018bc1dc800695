"""Personal haplotype sequences of gene windows, stored as the variants each distinct one applies.

For every gene, the window is W bp around the TSS (`window_bounds`). Among the 2N haplotypes of the chosen
individuals, the distinct combinations of carried alleles in the window are found with numpy; each is resolved
once, with the semantics of `bcftools consensus -H 1pIu` on the same region (the equivalence is tested on real data
and on the benchmark harness's adversarial set):
  * variants are applied in file order; a variant starting at or before the last reference base covered by an
    applied variant on the same haplotype is skipped (reason `overlap`), except an indel anchored on exactly
    that base (REF and ALT share their first base, htslib calls it an indel) after a non-insertion: then only
    its bases after the anchor are applied, as bcftools does;
  * a variant starting before the window is skipped (`before_window`); one running past the window end is
    trimmed to the window (`trimmed_at_window_end`: REF and ALT cut to the bases inside);
  * inserted bases take the case of the reference base they replace (soft-masking kept as is);
  * symbolic (`<DEL>`...), breakend and `*` alleles are skipped and counted;
  * positions off the chromosome are N.
The store (Parquet, see README "Haplotype store") grows with the variants, not with the bases: per gene the
reference window once, and per distinct haplotype its resolved edits (window offsets `[edit_start, edit_end)`
replaced by `edit_alt`), plus the map (individual, haplotype) -> hap_id and per-gene counts. Sequences are
materialised on demand by a numpy gather kernel (`materialise`): `read_windows` gives the fixed-length,
strand-oriented view models use, `read_store`/`export_fasta`/`export_digests` the variable-length haplotypes.
`python -m hapexpr.haplotypes build|export` runs the same code outside Snakemake (without importing pandas).
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import csv
import hashlib
import itertools
import json
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

if __name__ == "__main__":  # the command line does no linear algebra: OpenBLAS need not start its threads (~0.1 CPU s)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hapexpr.io import atomic_path
from hapexpr.reference import Reference
from hapexpr.variants import (
    APPLIED_KINDS,
    GenotypePolicy,
    Record,
    ReferenceMismatchError,
    VcfReader,
    allele_kind,
    htslib_is_indel,
)

if TYPE_CHECKING:  # imported where a DataFrame is made: the command line builds and exports without pandas
    import pandas as pd

log = logging.getLogger(__name__)

SKIP_REASONS = ("overlap", "before_window", "symbolic", "breakend", "star")
COUNT_COLUMNS = (
    ["gene_id", "chrom", "start", "end", "n_variants", "n_unique", "applied", "trimmed_at_window_end"]
    + [f"skipped_{r}" for r in SKIP_REASONS]
    + ["missing", "unphased"]
)
STORE_FORMAT = "edits-1"  # Parquet key-value metadata `hapexpr.store` of the sequences file
WINDOW_KEY = b"hapexpr.window"  # Parquet key-value metadata of the sequences file: the W it was built at
STORE_SCHEMA = pa.schema(
    [
        ("gene_id", pa.string()),
        ("hap_id", pa.int32()),
        ("tss_offset", pa.int64()),
        ("length", pa.int64()),
        ("start", pa.int64()),
        ("reference", pa.large_string()),
        ("edit_start", pa.list_(pa.int32())),
        ("edit_end", pa.list_(pa.int32())),
        ("edit_alt", pa.list_(pa.string())),
    ]
)
# A table of full sequences (what read_store returns); also readable as a store when it records WINDOW_KEY (stores
# written by hand in tests, and by hapexpr before the edit store)
SEQUENCE_SCHEMA = pa.schema(
    [("gene_id", pa.string()), ("hap_id", pa.int32()), ("sequence", pa.large_string()), ("tss_offset", pa.int64())]
)
MAP_SCHEMA = pa.schema(
    [("gene_id", pa.string()), ("individual", pa.string()), ("haplotype", pa.int8()), ("hap_id", pa.int32())]
)
_COMPLEMENT = str.maketrans("ACGTNacgtnRYKMSWBDHVrykmswbdhv", "TGCANtgcanYRMKSWVHDByrmkswvhdb")
_COMPLEMENT_BYTES = np.frombuffer(bytes(range(256)).decode("latin-1").translate(_COMPLEMENT).encode("latin-1"),
                                  dtype=np.uint8)
_UPPER_BYTES = np.frombuffer(bytes(range(256)).upper(), dtype=np.uint8)
_N = ord("N")


def reverse_complement(seq: str) -> str:
    """Reverse complement that keeps case and IUPAC codes."""
    return seq.translate(_COMPLEMENT)[::-1]


def window_bounds(tss: int, strand: str, length: int) -> tuple[int, int]:
    """[start, end) of the W-bp forward-strand region whose strand-oriented view has the TSS at index W//2."""
    if strand == "-":
        return tss - (length - length // 2 - 1), tss + length // 2 + 1
    return tss - length // 2, tss - length // 2 + length


def tss_of_window(start: int, end: int, strand: str) -> int:
    """The TSS whose `window_bounds` is exactly [start, end) (the inverse of window_bounds)."""
    length = end - start
    return start + length - length // 2 - 1 if strand == "-" else start + length // 2


@dataclass
class Window:
    gene_id: str
    start: int
    end: int
    tss: int


@dataclass
class Resolved:
    """One haplotype of a window as edits of its reference: the output is ref[0:s0] + alt0 + ref[e0:s1] + alt1 ...
    + ref[e_last:], with offsets relative to the window start; `tss_offset` indexes the TSS base in the output."""

    starts: list[int]
    ends: list[int]
    alts: list[str]
    tss_offset: int
    length: int
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Haplotype:
    """One built haplotype: the variable-length sequence, the index of the TSS in it, and what happened."""

    sequence: str
    tss_offset: int
    counts: dict[str, int] = field(default_factory=dict)


def resolve_haplotype(refseq: str, start: int, tss: int, edits: Sequence[tuple]) -> Resolved:
    """Resolve one haplotype's carried alleles `(pos, REF, ALT[, kind])` (file order) against the window `refseq`
    (the reference of [start, start + len(refseq)), soft-masking kept) into edits, with bcftools' rules.

    The TSS offset is the index of the output base derived from the TSS base; where a variant replaced the TSS base,
    the base at the same distance into its ALT, or the first base after it when the ALT is shorter.
    """
    end = start + len(refseq)
    counts = dict.fromkeys(["applied", "trimmed_at_window_end"] + [f"skipped_{r}" for r in SKIP_REASONS], 0)
    starts: list[int] = []
    ends: list[int] = []
    alts: list[str] = []
    # index in `alts` of the last piece of output: a non-anchored variant always ends the output with its (non-empty)
    # ALT, and only an anchored insertion, which follows one, rewrites that piece's last base
    last = -1
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
            lower = out_len > 0 and alts[last][-1:].islower()
            span, replacement = pos + 1, alt[1:]
            anchor = alt[0].lower() if lower else alt[0].upper()
            if len(alt) > rlen and anchor != ref[0]:
                # bcftools compares REF with the case-converted ALT to find the bases an insertion leaves alone:
                # in soft-masked sequence the anchor base is rewritten with ALT's first base
                alts[last] = alts[last][:-1] + anchor
        else:
            if tss_offset < 0 and cursor <= tss < pos:
                tss_offset = out_len + tss - cursor
            out_len += pos - cursor
            lower = refseq[pos - start].islower()
            span, replacement = pos, alt
        replacement = replacement.lower() if lower else replacement.upper()
        if tss_offset < 0 and span <= tss < pos + rlen:
            tss_offset = out_len + min(tss - span, len(replacement))
        if replacement or pos + rlen > span:
            starts.append(span - start)
            ends.append(pos + rlen - start)
            alts.append(replacement)
            if replacement:
                last = len(alts) - 1
                out_len += len(replacement)
        cursor = pos + rlen
        frozen = pos + rlen - 1
        prev_insert = len(alt) > rlen
        counts["applied"] += 1
    if tss_offset < 0:
        tss_offset = out_len + max(tss - cursor, 0)
    return Resolved(starts, ends, alts, tss_offset, out_len + end - cursor, counts)


def apply_edits(refseq: str, starts: Sequence[int], ends: Sequence[int], alts: Sequence[str]) -> str:
    """One haplotype's sequence from its edits (plain Python; `materialise` does many at once)."""
    parts, cursor = [], 0
    for s, e, a in zip(starts, ends, alts):
        parts += [refseq[cursor:s], a]
        cursor = e
    parts.append(refseq[cursor:])
    return "".join(parts)


def build_haplotype(refseq: str, start: int, tss: int, edits: Sequence[tuple]) -> Haplotype:
    """Apply one haplotype's carried alleles `(pos, REF, ALT)` (file order) to the window sequence `refseq`."""
    r = resolve_haplotype(refseq, start, tss, edits)
    return Haplotype(apply_edits(refseq, r.starts, r.ends, r.alts), r.tss_offset, r.counts)


def materialise(reference: np.ndarray, starts: np.ndarray, ends: np.ndarray, alt_bytes: np.ndarray,
                alt_offsets: np.ndarray, hap_offsets: np.ndarray,
                block_bytes: int = 1 << 21) -> tuple[np.ndarray, np.ndarray]:
    """Sequences of H haplotypes of one window at once: (bytes, offsets of each haplotype in them, H + 1).

    `reference`: the window (uint8); haplotype h owns edits hap_offsets[h]:hap_offsets[h + 1] (window offsets
    `starts`/`ends`, sorted and disjoint within a haplotype), edit k's replacement is
    alt_bytes[alt_offsets[k]:alt_offsets[k + 1]]. Every output byte is one gather from reference + alt bytes,
    its source index a running sum that jumps at each piece; done in blocks of about `block_bytes` of output so
    that the index stays in cache.
    """
    n_ref = len(reference)
    hap_offsets = np.asarray(hap_offsets, dtype=np.int64)
    n_haps, n_edits = len(hap_offsets) - 1, len(starts)
    per_hap = np.diff(hap_offsets)
    hap_of_edit = np.repeat(np.arange(n_haps, dtype=np.int64), per_hap)
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    alt_offsets = np.asarray(alt_offsets, dtype=np.int64)
    alt_len = np.diff(alt_offsets)
    growth = alt_len - (ends - starts)
    offsets = np.zeros(n_haps + 1, dtype=np.int64)
    np.cumsum(n_ref + np.bincount(hap_of_edit, weights=growth, minlength=n_haps).astype(np.int64), out=offsets[1:])
    if n_edits == 0:
        return np.tile(reference, n_haps), offsets
    shifted = growth != 0
    if offsets[-1] > 256 * (int(shifted.sum()) + n_haps):
        buffer = np.empty(int(offsets[-1]), dtype=np.uint8)
        # long stretches of reference: copy each stretch between length-changing edits (memcpy), then write every
        # ALT byte in place with one scatter
        shift = _exclusive_sums(growth, hap_offsets)
        out_start = offsets[:-1][hap_of_edit] + starts + shift  # where each edit's ALT goes
        cut = np.flatnonzero(shifted)
        cut_hap = hap_of_edit[cut]
        # stretch i of a haplotype: reference [from, to) written at `at`; one more per haplotype than its cuts
        order = np.argsort(np.concatenate([cut_hap, np.arange(n_haps)]), kind="stable")
        is_tail = order >= len(cut)
        idx = np.where(is_tail, 0, order)
        stretch_to = np.where(is_tail, n_ref, starts[cut][idx] if len(cut) else 0)
        stretch_hap = np.where(is_tail, order - len(cut), cut_hap[idx] if len(cut) else 0)
        after_cut = np.where(is_tail, -1, cut[idx] if len(cut) else 0)
        prev_cut = np.concatenate([[-1], after_cut[:-1]])
        new_hap = np.concatenate([[True], stretch_hap[1:] != stretch_hap[:-1]])
        prev_cut[new_hap] = -1
        stretch_from = np.where(prev_cut >= 0, ends[np.maximum(prev_cut, 0)], 0)
        stretch_shift = np.where(prev_cut >= 0, shift[np.maximum(prev_cut, 0)] + growth[np.maximum(prev_cut, 0)], 0)
        stretch_at = offsets[:-1][stretch_hap] + stretch_from + stretch_shift
        for a, b, at in zip(stretch_from.tolist(), stretch_to.tolist(), stretch_at.tolist()):
            if b > a:
                buffer[at : at + b - a] = reference[a:b]
        if len(alt_bytes):
            within = np.arange(len(alt_bytes), dtype=np.int64) - np.repeat(alt_offsets[:-1], alt_len)
            buffer[np.repeat(out_start, alt_len) + within] = alt_bytes
        return buffer, offsets
    # pieces per haplotype: ref gap, alt, ref gap, alt, ..., final ref tail
    prev_end = np.zeros(n_edits, dtype=np.int64)
    prev_end[1:] = ends[:-1]
    prev_end[hap_offsets[:-1][per_hap > 0]] = 0
    src = np.empty(2 * n_edits + n_haps, dtype=np.int64)
    size = np.empty(2 * n_edits + n_haps, dtype=np.int64)
    gap = 2 * np.arange(n_edits, dtype=np.int64) + hap_of_edit
    src[gap], size[gap] = prev_end, starts - prev_end
    src[gap + 1], size[gap + 1] = n_ref + alt_offsets[:-1], alt_len
    tail = 2 * hap_offsets[1:] + np.arange(n_haps, dtype=np.int64)
    last_end = np.zeros(n_haps, dtype=np.int64)
    last_end[per_hap > 0] = ends[hap_offsets[1:][per_hap > 0] - 1]
    src[tail], size[tail] = last_end, n_ref - last_end
    piece_out = np.zeros(len(size) + 1, dtype=np.int64)
    np.cumsum(size, out=piece_out[1:])
    first_piece = np.append(2 * hap_offsets[:-1] + np.arange(n_haps), len(size))
    buffer = np.empty(int(offsets[-1]), dtype=np.uint8)
    source = np.concatenate([reference, alt_bytes])
    index_type = np.int32 if len(source) < 2**31 - 1 else np.int64
    h = 0
    while h < n_haps:
        # haplotypes h:g fill one block (at least one haplotype)
        g = max(h + 1, int(np.searchsorted(offsets, offsets[h] + block_bytes, side="right")) - 1)
        g = min(g, n_haps)
        a, b = first_piece[h], first_piece[g]
        out_a, out_b = piece_out[a], piece_out[b]
        keep = size[a:b] > 0
        at = piece_out[a:b][keep] - out_a
        jump = src[a:b][keep] - at  # source index minus output index, per piece
        steps = np.ones(out_b - out_a, dtype=index_type)
        steps[at] += np.diff(jump, prepend=0).astype(index_type)
        np.cumsum(steps, out=steps)
        steps -= 1
        np.take(source, steps, out=buffer[out_a:out_b])
        h = g
    return buffer, offsets


def unique_haplotypes(alleles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct columns of a (records x haplotypes) allele matrix: (index of a representative, inverse map)."""
    n_records, n_haps = alleles.shape
    if n_records == 0:
        return np.zeros(1, dtype=np.int64), np.zeros(n_haps, dtype=np.int64)
    rows = np.ascontiguousarray(alleles.T)
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * n_records))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first, inverse.ravel()


def _ascii(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8)


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The ranges starts[i]:starts[i] + counts[i], concatenated."""
    ends = np.cumsum(counts)
    total = int(ends[-1]) if len(ends) else 0
    return np.repeat(np.asarray(starts, dtype=np.int64) - (ends - counts), counts) + np.arange(total, dtype=np.int64)


def _joined_offsets(parts: Sequence[np.ndarray]) -> np.ndarray:
    """Offset arrays (each from 0) of consecutive parts as one."""
    shift = np.cumsum([0] + [int(p[-1]) for p in parts[:-1]])
    return np.concatenate([np.zeros(1, dtype=np.int64)] + [p[1:] + d for p, d in zip(parts, shift)])


@dataclass
class Edits:
    """The edits of several haplotypes of one window, flat (the arguments of `materialise`): haplotype h owns edits
    offsets[h]:offsets[h + 1], edit k replaces window offsets [starts[k], ends[k]) with
    alt_bytes[alt_offsets[k]:alt_offsets[k + 1]]."""

    offsets: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    alt_bytes: np.ndarray
    alt_offsets: np.ndarray

    @classmethod
    def of(cls, resolved: Sequence[Resolved]) -> Edits:
        offsets = np.zeros(len(resolved) + 1, dtype=np.int64)
        np.cumsum([len(r.starts) for r in resolved], out=offsets[1:])
        alts = [a for r in resolved for a in r.alts]
        alt_offsets = np.zeros(len(alts) + 1, dtype=np.int64)
        np.cumsum([len(a) for a in alts], out=alt_offsets[1:])
        return cls(offsets, np.array([e for r in resolved for e in r.starts], dtype=np.int32),
                   np.array([e for r in resolved for e in r.ends], dtype=np.int32), _ascii("".join(alts)), alt_offsets)

    @classmethod
    def concatenate(cls, parts: Sequence[Edits]) -> Edits:
        """The haplotypes of `parts`, one after another."""
        return cls(_joined_offsets([p.offsets for p in parts]), np.concatenate([p.starts for p in parts]),
                   np.concatenate([p.ends for p in parts]), np.concatenate([p.alt_bytes for p in parts]),
                   _joined_offsets([p.alt_offsets for p in parts]))

    def take(self, haps: np.ndarray) -> Edits:
        """The edits of haplotypes `haps`, in that order."""
        counts = np.diff(self.offsets)[haps]
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        edit = _ranges(self.offsets[:-1][haps], counts)
        alt_len = np.diff(self.alt_offsets)[edit]
        alt_offsets = np.zeros(len(edit) + 1, dtype=np.int64)
        np.cumsum(alt_len, out=alt_offsets[1:])
        return Edits(offsets, self.starts[edit], self.ends[edit],
                     self.alt_bytes[_ranges(self.alt_offsets[:-1][edit], alt_len)], alt_offsets)

    def materialise(self, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return materialise(reference, self.starts, self.ends, self.alt_bytes, self.alt_offsets, self.offsets)


@dataclass
class WindowResult:
    """The distinct haplotypes of one window as edits (hap_id 0 = the reference, no edits) and the map."""

    gene_id: str
    start: int
    reference: str
    tss_offsets: np.ndarray
    lengths: np.ndarray
    edits: Edits  # of the stored haplotypes, hap_id order
    hap_ids: np.ndarray  # one per haplotype column (2N), 0 = reference
    counts: dict[str, int]
    digests: tuple[list[int], list[str]] | None = None  # (length, sha1) per hap_id, when the build is asked for them


def build_window(window: Window, refseq: str, records: Sequence[Record], n_haps: int) -> WindowResult:
    """All haplotypes of one window: each distinct allele combination resolved once, identical sequences merged
    (hap_ids numbered in order of first appearance, as sequences, after the reference)."""
    counts = dict.fromkeys(COUNT_COLUMNS[4:], 0)
    counts["n_variants"] = len(records)
    counts["missing"] = sum(r.missing for r in records)
    counts["unphased"] = sum(r.unphased for r in records)
    carried = [r for r in records if r.alleles.any()]
    reference = resolve_haplotype(refseq, window.start, window.tss, ())
    if not carried:
        counts["n_unique"] = 1
        return WindowResult(window.gene_id, window.start, refseq, np.array([reference.tss_offset]),
                            np.array([len(refseq)]), Edits.of([reference]), np.zeros(n_haps, dtype=np.int32), counts)
    matrix = np.stack([r.alleles for r in carried])
    first, inverse = unique_haplotypes(matrix)
    multiplicity = np.bincount(inverse, minlength=len(first))
    columns = matrix[:, first]
    independent, fast, fast_tss, fast_lengths = _resolve_independent(window, refseq, carried, columns, multiplicity,
                                                                     counts)
    is_other = np.ones(columns.shape[1], dtype=bool)
    is_other[independent] = False
    others = np.flatnonzero(is_other)
    resolved = [reference]  # then the combinations with overlapping variants, one by one
    for u in others:
        alleles = columns[:, u]
        edits = []
        for i in np.flatnonzero(alleles):
            r, a = carried[i], alleles[i] - 1
            edits.append((r.pos, r.ref, r.alts[a], r.kinds[a]))
        resolved.append(resolve_haplotype(refseq, window.start, window.tss, edits))
        for name, value in resolved[-1].counts.items():
            counts[name] += value * int(multiplicity[u])
    # candidate 0 is the reference, candidate u + 1 the combination u; `place`: where each is in resolved + fast
    place = np.empty(columns.shape[1] + 1, dtype=np.int64)
    place[np.concatenate([[0], others + 1, independent + 1])] = np.arange(len(place))
    both = Edits.concatenate([Edits.of(resolved), fast])
    candidates = both if not len(others) else both.take(place)  # without others, place is the identity
    tss_offsets = np.concatenate([[r.tss_offset for r in resolved], fast_tss]).astype(np.int64)[place]
    lengths = np.concatenate([[r.length for r in resolved], fast_lengths]).astype(np.int64)[place]
    canonical = _identical_sequences(refseq, candidates, tss_offsets, lengths)
    hap_of_candidate = np.empty(len(canonical), dtype=np.int32)
    kept: list[int] = []
    for k, c in enumerate(canonical):
        if c == k:
            hap_of_candidate[k] = len(kept)
            kept.append(k)
        else:
            hap_of_candidate[k] = hap_of_candidate[c]
    hap_ids = hap_of_candidate[1:][inverse]
    # every combination is some haplotype's; the reference (candidate 0) only where one equals it
    counts["n_unique"] = len(kept) - int(not (hap_of_candidate[1:] == 0).any())
    return WindowResult(window.gene_id, window.start, refseq, tss_offsets[kept], lengths[kept],
                        candidates.take(np.array(kept)), hap_ids, counts)


# one prime below 2**31 (products of two residues fit in int64): a collision only costs a byte-for-byte comparison
_HASH_MODULI = (2_147_483_647,)
_HASH_BASES = (1_000_003,)
_hash_powers: dict[tuple[int, bool], np.ndarray] = {}


def _powers(which: int, n: int, inverse: bool = False) -> np.ndarray:
    """B**i (or B**-i) mod p for i < n (at least), grown by doubling and kept between windows."""
    p, base = _HASH_MODULI[which], _HASH_BASES[which]
    if inverse:
        base = pow(base, p - 2, p)
    table = _hash_powers.get((which, inverse), np.ones(1, dtype=np.int64))
    while len(table) < n:
        step = pow(base, len(table), p)
        table = np.concatenate([table, table * step % p])
    _hash_powers[(which, inverse)] = table
    return table


def _sequence_hashes(refseq: str, edits: Edits) -> list[tuple[int, ...]]:
    """Polynomial hashes of each haplotype's sequence (one per modulus), computed from its edits without building
    it (equal sequences have equal hashes): a reference piece [a, b) that lands at output position a + d contributes
    its prefix-hash difference times B**d, an ALT at output position o its own hash times B**o."""
    hap_offsets, starts, ends = edits.offsets, edits.starts, edits.ends
    alt_bytes, alt_offsets = edits.alt_bytes, edits.alt_offsets
    reference = _ascii(refseq).astype(np.int64)
    n_ref, n_haps = len(reference), len(hap_offsets) - 1
    starts, ends = starts.astype(np.int64), ends.astype(np.int64)
    alt_len = np.diff(alt_offsets)
    growth = alt_len - (ends - starts)
    per_hap = np.diff(hap_offsets)
    hap_of_edit = np.repeat(np.arange(n_haps), per_hap)
    shift = _exclusive_sums(growth, hap_offsets)  # growth of the output before each edit, within its haplotype
    prev_end = np.zeros(len(starts), dtype=np.int64)
    if len(starts):
        prev_end[1:] = ends[:-1]
        prev_end[hap_offsets[:-1][per_hap > 0]] = 0
    last_end = np.zeros(n_haps, dtype=np.int64)
    last_end[per_hap > 0] = ends[hap_offsets[1:][per_hap > 0] - 1]
    final_shift = np.bincount(hap_of_edit, weights=growth, minlength=n_haps).astype(np.int64)
    longest = n_ref + int(alt_len.sum()) + 1
    keys = []
    for which, p in enumerate(_HASH_MODULI):
        power, inverse = _powers(which, longest), _powers(which, longest, inverse=True)

        def scale(d: np.ndarray, power: np.ndarray = power, inverse: np.ndarray = inverse) -> np.ndarray:
            return np.where(d >= 0, power[np.clip(d, 0, None)], inverse[np.clip(-d, 0, None)])

        prefix = np.zeros(n_ref + 1, dtype=np.int64)
        np.cumsum(reference * power[:n_ref] % p, out=prefix[1:])
        prefix %= p
        position = np.arange(len(alt_bytes), dtype=np.int64) - np.repeat(alt_offsets[:-1], alt_len)
        alt_hash = np.bincount(np.repeat(np.arange(len(alt_len)), alt_len),
                               weights=alt_bytes.astype(np.int64) * power[position] % p,
                               minlength=len(alt_len)).astype(np.int64) % p
        gaps = (prefix[starts] - prefix[prev_end]) % p * scale(shift) % p
        inserted = alt_hash * power[starts + shift] % p
        tails = (prefix[n_ref] - prefix[last_end]) % p * scale(final_shift) % p
        total = np.bincount(hap_of_edit, weights=(gaps + inserted) % p, minlength=n_haps).astype(np.int64) + tails
        keys.append(total % p)
    return list(zip(*(k.tolist() for k in keys)))


def _exclusive_sums(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Running sum of `values` before each element, restarting at every group (group g: offsets[g]:offsets[g+1])."""
    before = np.cumsum(values) - values
    per_group = np.diff(offsets)
    first = np.zeros(len(per_group), dtype=before.dtype)
    first[per_group > 0] = before[offsets[:-1][per_group > 0]]
    return before - np.repeat(first, per_group)


def _resolve_independent(window: Window, refseq: str, carried: Sequence[Record], columns: np.ndarray,
                         multiplicity: np.ndarray, counts: dict[str, int],
                         ) -> tuple[np.ndarray, Edits, np.ndarray, np.ndarray]:
    """`resolve_haplotype` for every distinct allele combination (column of `columns`, records x combinations)
    whose applicable variants do not overlap one another, at once with numpy: there bcftools' rules reduce to
    "apply each, trimmed at the window end, in the case of the base it replaces". Returns those columns and their
    edits, TSS offsets and lengths; their counts (times `multiplicity`) are added to `counts`. The other
    combinations are for resolve_haplotype."""
    start, end = window.start, window.end
    pos = np.array([r.pos for r in carried], dtype=np.int64)
    reflen = np.array([len(r.ref) for r in carried], dtype=np.int64)
    stop = np.minimum(pos + reflen, end)
    base = np.zeros(len(carried) + 1, dtype=np.int64)
    np.cumsum([len(r.alts) for r in carried], out=base[1:])
    kinds = [k for r in carried for k in r.kinds]
    code = np.where(columns > 0, base[:-1, None].astype(np.int32) + columns - 1, -1)  # index of the carried ALT
    carried_mask = code >= 0
    applied_kind = [k in APPLIED_KINDS for k in kinds]
    is_applied = np.array(applied_kind + [False])  # index -1: no allele
    applicable = is_applied[code] & carried_mask
    inside = applicable & (pos >= start)[:, None]
    reach = np.maximum.accumulate(np.where(inside, stop[:, None] - 1, -1), axis=0)
    reach = np.vstack([np.full((1, columns.shape[1]), -1), reach[:-1]])
    independent = ~np.any(inside & (pos[:, None] <= reach), axis=0)
    cols = np.flatnonzero(independent)
    weight = multiplicity[cols]
    sub_inside, sub_code = inside[:, cols], code[:, cols]
    counts["applied"] += int(sub_inside.sum(axis=0) @ weight)
    trimmed, before_window = pos + reflen > end, pos < start  # (counted only where some record is)
    if trimmed.any():
        counts["trimmed_at_window_end"] += int((sub_inside & trimmed[:, None]).sum(axis=0) @ weight)
    if before_window.any():
        counts["skipped_before_window"] += int((applicable[:, cols] & before_window[:, None]).sum(axis=0) @ weight)
    if not all(applied_kind):
        kind_of_code = np.array(kinds + [""])  # index -1: no allele
        for kind in SKIP_REASONS[2:]:
            counts[f"skipped_{kind}"] += int((kind_of_code == kind)[sub_code].sum(axis=0) @ weight)
    hap, record = np.nonzero(sub_inside.T)  # edits, by combination then file order
    alleles = sub_code.T[hap, record]
    codes = np.unique(alleles)
    replacements = []
    first_code, kept = base.tolist(), (stop - pos).tolist()  # per record: code of its first ALT, REF bases kept
    for c, i in zip(codes.tolist(), (np.searchsorted(base, codes, side="right") - 1).tolist()):
        r = carried[i]
        alt, rlen = r.alts[c - first_code[i]], kept[i]
        alt = alt[:rlen] if rlen < len(r.ref) and len(alt) > rlen else alt
        replacements.append(alt.lower() if refseq[r.pos - start].islower() else alt.upper())
    replacement_offsets = np.zeros(len(codes) + 1, dtype=np.int64)
    np.cumsum([len(a) for a in replacements], out=replacement_offsets[1:])
    which = np.searchsorted(codes, alleles)  # each edit's replacement
    alt_len = np.diff(replacement_offsets)[which]
    alt_offsets = np.zeros(len(alleles) + 1, dtype=np.int64)
    np.cumsum(alt_len, out=alt_offsets[1:])
    alt_bytes = _ascii("".join(replacements))[_ranges(replacement_offsets[:-1][which], alt_len)]
    starts, ends = pos[record] - start, stop[record] - start
    growth = alt_len - (ends - starts)
    per_hap = np.bincount(hap, minlength=len(cols))
    offsets = np.zeros(len(cols) + 1, dtype=np.int64)
    np.cumsum(per_hap, out=offsets[1:])
    before = _exclusive_sums(growth, offsets)
    total = np.bincount(hap, weights=growth, minlength=len(cols)).astype(np.int64)
    tss = window.tss - start
    # the TSS lies in the first edit that ends after it, or in the reference gap before that edit, or after all
    after = np.where(ends > tss, np.arange(len(ends)), len(ends))
    first_after = np.full(len(cols), len(ends), dtype=np.int64)
    np.minimum.at(first_after, hap, after)
    tss_offsets = tss + total
    has = first_after < len(ends)
    if has.any():
        k = first_after[has]
        s = starts[k]
        tss_offsets[has] = np.where(s <= tss, s + before[k] + np.minimum(tss - s, alt_len[k]), tss + before[k])
    edits = Edits(offsets, starts.astype(np.int32), ends.astype(np.int32), alt_bytes, alt_offsets)
    return cols, edits, tss_offsets, len(refseq) + total


_COMPARE_BYTES = 1 << 20  # candidates of a window shorter than this in all are compared without hashing


def _identical_sequences(refseq: str, candidates: Edits, tss_offsets: np.ndarray, lengths: np.ndarray) -> list[int]:
    """For each haplotype, the first one with the same sequence and TSS offset. Different edits can give equal
    sequences (an MNP and two SNVs, a deletion shifted in a repeat): haplotypes with equal hashes, length and TSS
    offset are materialised and compared byte for byte, so the answer is exact. Few short haplotypes are compared
    byte for byte at once (cheaper than hashing)."""
    canonical = list(range(len(lengths)))
    if int(lengths.sum()) <= _COMPARE_BYTES:
        suspects, compared = list(canonical), candidates
    else:
        groups: dict[tuple, list[int]] = {}
        for k, key in enumerate(zip(_sequence_hashes(refseq, candidates), lengths.tolist(), tss_offsets.tolist())):
            groups.setdefault(key, []).append(k)
        suspects = [k for group in groups.values() if len(group) > 1 for k in group]
        compared = candidates.take(np.array(suspects, dtype=np.int64))
    if suspects:
        buffer, offsets = compared.materialise(_ascii(refseq))
        seen: dict[tuple[bytes, int], int] = {}
        for i, k in enumerate(suspects):
            canonical[k] = seen.setdefault((buffer[offsets[i] : offsets[i + 1]].tobytes(), int(tss_offsets[k])), k)
    return canonical


def check_ref_alleles(records: Iterable[Record], reference: Reference, chrom: str, vcf: str) -> None:
    """Every REF must equal the FASTA there (case-insensitive); else the VCF and FASTA are different builds."""
    for r in records:
        actual = reference.fetch(chrom, r.pos, r.pos + len(r.ref))
        if actual.upper() != r.ref.upper():
            raise ReferenceMismatchError(
                f"{vcf}: REF allele {r.ref} at {chrom}:{r.pos + 1} but the reference {reference.path} has {actual} "
                f"there. The VCF and the FASTA probably come from different genome builds (e.g. GRCh37 vs GRCh38) "
                f"or the VCF is not normalised against this FASTA; use a VCF called on the same reference "
                f"(or `bcftools norm -c e -f REF.fa` to list every mismatching site)."
            )


def merged_windows(windows: Sequence[Window]) -> list[tuple[int, int, list[Window]]]:
    """Windows (sorted by start) grouped into disjoint intervals; each interval is read from the VCF once."""
    groups: list[tuple[int, int, list[Window]]] = []
    for w in windows:
        if groups and w.start <= groups[-1][1]:
            s, e, ws = groups[-1]
            ws.append(w)
            groups[-1] = (s, max(e, w.end), ws)
        else:
            groups.append((w.start, w.end, [w]))
    return groups


def iter_window_records(reader: VcfReader | None, vcf_chrom: str | None,
                        windows: Sequence[Window]) -> Iterator[tuple[Window, list[Record]]]:
    """Each window (sorted by start) with the records overlapping it, streaming: every record is parsed once
    per merged interval, and records are dropped once no later window can reach them."""
    for start, end, group in merged_windows(windows):
        source = reader.records(vcf_chrom, start, end) if reader is not None and vcf_chrom else iter(())
        buffer: list[Record] = []
        positions: list[int] = []
        head = 0
        longest = 1
        pending = next(source, None)
        for w in group:
            while pending is not None and pending.pos < w.end:
                buffer.append(pending)
                positions.append(pending.pos)
                longest = max(longest, len(pending.ref))
                pending = next(source, None)
            while head < len(buffer) and buffer[head].pos + longest <= w.start:
                head += 1
            if head > 4096 and head > len(buffer) // 2:
                del buffer[:head], positions[:head]
                head = 0
            lo = bisect.bisect_left(positions, w.start - longest + 1, lo=head)
            hi = bisect.bisect_left(positions, w.end, lo=lo)
            yield w, [r for r in buffer[lo:hi] if r.end > w.start]


def gene_windows(genes: pd.DataFrame | dict[str, list], length: int) -> list[Window]:
    """Windows of the genes (columns gene_id, tss, strand) of one chromosome, sorted by start."""
    windows = [Window(g, *window_bounds(int(t), s, length), int(t)) for g, t, s in
               zip(genes["gene_id"], genes["tss"], genes["strand"])]
    return sorted(windows, key=lambda w: (w.start, w.end, w.gene_id))


@dataclass
class StoreWriter:
    """Writes the sequence and map files of one chromosome's store, chunk by chunk, to temporary names (atomic_path
    renames them at the end), and the digest line of every map row to `digests` when given (the results then carry
    their digests). The store is small (edits, not sequences), so writing is cheap and synchronous."""

    sequences_path: str
    map_path: str
    individuals: Sequence[str]
    window: int
    digests: BinaryIO | None = None

    def __post_init__(self) -> None:
        self._individuals = pa.array(np.repeat(np.asarray(self.individuals, dtype=object), 2), pa.string())
        self._haplotype = np.tile(np.array([1, 2], dtype=np.int8), len(self.individuals))
        self._results: list[WindowResult] = []

    def open(self, seq_tmp, map_tmp) -> None:
        metadata = {b"hapexpr.store": STORE_FORMAT.encode(), WINDOW_KEY: str(int(self.window)).encode()}
        schema = STORE_SCHEMA.with_metadata(metadata)
        # no dictionary or statistics for the reference text: hashing 100-kb strings costs, gains nothing
        self._seq_writer = pq.ParquetWriter(seq_tmp, schema, compression="zstd", use_dictionary=["gene_id"],
                                            write_statistics=["gene_id", "hap_id"])
        self._map_writer = pq.ParquetWriter(map_tmp, MAP_SCHEMA, compression="zstd")

    def add(self, result: WindowResult) -> None:
        self._results.append(result)

    def flush(self) -> None:
        results, self._results = self._results, []
        if not results:
            return
        n_rows = [len(r.tss_offsets) for r in results]
        gene_ids = np.repeat(np.asarray([r.gene_id for r in results], dtype=object), n_rows)
        edits = Edits.concatenate([r.edits for r in results])
        offsets = pa.array(edits.offsets.astype(np.int32), pa.int32())
        alts = pa.StringArray.from_buffers(len(edits.starts), pa.py_buffer(edits.alt_offsets.astype(np.int32)),
                                           pa.py_buffer(edits.alt_bytes))
        references = []
        for r, n in zip(results, n_rows):
            references += [r.reference] + [None] * (n - 1)
        table = pa.Table.from_arrays(
            [
                pa.array(gene_ids, pa.string()),
                pa.array(np.concatenate([np.arange(n, dtype=np.int32) for n in n_rows]), pa.int32()),
                pa.array(np.concatenate([r.tss_offsets for r in results]).astype(np.int64), pa.int64()),
                pa.array(np.concatenate([r.lengths for r in results]).astype(np.int64), pa.int64()),
                pa.array(np.repeat([r.start for r in results], n_rows).astype(np.int64), pa.int64()),
                pa.array(references, pa.large_string()),
                pa.ListArray.from_arrays(offsets, pa.array(edits.starts, pa.int32())),
                pa.ListArray.from_arrays(offsets, pa.array(edits.ends, pa.int32())),
                pa.ListArray.from_arrays(offsets, alts),
            ],
            schema=self._seq_writer.schema,
        )
        self._seq_writer.write_table(table)
        n = len(self._haplotype)
        hap_map = pa.Table.from_arrays(
            [
                pa.array(np.repeat(np.asarray([r.gene_id for r in results], dtype=object), n), pa.string()),
                pa.concat_arrays([self._individuals] * len(results)),
                pa.array(np.tile(self._haplotype, len(results)), pa.int8()),
                pa.array(np.concatenate([r.hap_ids for r in results]).astype(np.int32), pa.int32()),
            ],
            schema=MAP_SCHEMA,
        )
        self._map_writer.write_table(hap_map)
        if self.digests is not None:
            first_row = np.repeat(np.cumsum([0] + n_rows[:-1]), n)  # of each map row's gene in the digests
            _write_digests(self.digests, hap_map, [x for r in results for x in r.digests[0]],
                           [x for r in results for x in r.digests[1]], first_row + hap_map.column("hap_id").to_numpy())

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._seq_writer.close()
            self._map_writer.close()


@dataclass(frozen=True)
class _Source:
    """What a build worker opens for itself: files, chromosome spellings, individuals, policy."""

    vcf: str | None
    fasta: str
    fasta_chrom: str
    vcf_chrom: str | None
    individuals: tuple[str, ...]
    policy: GenotypePolicy
    digests: bool = False


def _build_windows(source: _Source, windows: Sequence[Window]) -> list[WindowResult]:
    """The haplotypes of consecutive windows (sorted by start), with their own reference and VCF handles."""
    reference = Reference(source.fasta)
    reader = VcfReader(source.vcf, list(source.individuals), source.policy) if source.vcf is not None else None
    n_haps = 2 * len(source.individuals)
    results = []
    try:
        for w, records in iter_window_records(reader, source.vcf_chrom, windows):
            first = min([w.start] + [r.pos for r in records])
            last = max([w.end] + [r.end for r in records])
            span = reference.fetch(source.fasta_chrom, first, last)
            for r in records:
                if span[r.pos - first : r.end - first].upper() != r.ref.upper():
                    check_ref_alleles([r], reference, source.fasta_chrom, str(source.vcf))
            results.append(build_window(w, span[w.start - first : w.end - first], records, n_haps))
            if source.digests:  # here, in the worker, from the edits just built (as export_digests from the store)
                results[-1].digests = _digests(_GeneJob.of(results[-1]))
    finally:
        reference.close()
        if reader is not None:
            reader.close()
    return results


def _chunks(windows: Sequence[Window], size: int) -> list[Sequence[Window]]:
    return [windows[i : i + size] for i in range(0, len(windows), size)]


def build_store(
    vcf: str | os.PathLike | None,
    fasta: str | os.PathLike,
    genes: pd.DataFrame,
    chrom: str,
    window: int,
    individuals: Sequence[str],
    sequences_path: str | os.PathLike,
    map_path: str | os.PathLike,
    counts_path: str | os.PathLike,
    policy: GenotypePolicy = GenotypePolicy(),
    chunk_genes: int = 64,
    threads: int = 1,
) -> pd.DataFrame:
    """Build the haplotype store of one chromosome (FASTA spelling) and return the per-gene counts (`write_store`
    on the windows of the genes of `chrom`)."""
    import pandas as pd

    windows = gene_windows(genes[genes["chrom"] == chrom], window)
    rows = write_store(vcf, fasta, chrom, windows, window, individuals, sequences_path, map_path, counts_path, policy,
                       chunk_genes, threads)
    return pd.DataFrame(rows, columns=COUNT_COLUMNS)


def write_store(
    vcf: str | os.PathLike | None,
    fasta: str | os.PathLike,
    chrom: str,
    windows: Sequence[Window],
    window: int,
    individuals: Sequence[str],
    sequences_path: str | os.PathLike,
    map_path: str | os.PathLike,
    counts_path: str | os.PathLike,
    policy: GenotypePolicy,
    chunk_genes: int = 64,
    threads: int = 1,
    digests: BinaryIO | None = None,
) -> list[dict]:
    """Build the store of `windows` (sorted by start, as `gene_windows` gives) of one chromosome; write its three
    files and return the per-gene count rows (COUNT_COLUMNS). With `digests` (an open file), also write the digest
    line of every (gene, individual, haplotype) there (`export_digests`' layout, no header), hashed by the workers.

    Windows are built in chunks of at most `chunk_genes` consecutive genes, by `threads` worker processes when
    more than one (results are written in gene order, so the store does not depend on `threads`). Memory holds the
    edits of the chunks in flight and the VCF records of one window span, never a whole chromosome.
    """
    reference = Reference(fasta)
    fasta_chrom = reference.resolve(chrom, source=f"{fasta} (gene table chromosome)")
    reference.close()
    reader = VcfReader(str(vcf), individuals, policy) if vcf is not None else None
    vcf_chrom = reader.chrom_name(fasta_chrom) if reader is not None else None
    if reader is not None:
        if vcf_chrom is None:
            log.warning("%s names no contig; every window of %s is the reference", vcf, chrom)
        individuals = list(reader.individuals)
        reader.close()
    source = _Source(str(vcf) if vcf is not None else None, str(fasta), fasta_chrom, vcf_chrom, tuple(individuals),
                     policy, digests is not None)
    threads = max(1, min(threads, len(windows)))
    size = max(1, min(chunk_genes, -(-len(windows) // (4 * threads)))) if threads > 1 else max(1, chunk_genes)
    chunks = _chunks(windows, size)
    rows = []
    # made before the workers are forked: its first pa.array() imports numpy.ma, which they then need not import
    writer = StoreWriter(str(sequences_path), str(map_path), individuals, window, digests)
    pool = None
    if threads > 1:  # fork: workers inherit the imported modules; each opens its own files
        pool = ProcessPoolExecutor(threads, mp_context=multiprocessing.get_context("fork"))
    try:
        # the chunks are handed out first, so that the workers build while this process opens the store
        parts = (pool.map(_build_windows, [source] * len(chunks), chunks) if pool is not None
                 else (_build_windows(source, c) for c in chunks))
        with atomic_path(sequences_path) as seq_tmp, atomic_path(map_path) as map_tmp:
            writer.open(seq_tmp, map_tmp)
            try:
                done = 0
                for part in parts:
                    for result in part:
                        writer.add(result)
                        rows.append({"gene_id": result.gene_id, "chrom": chrom, "start": result.start,
                                     "end": result.start + len(result.reference), **result.counts})
                    writer.flush()
                    done += len(part)
                    log.info("%s: %d/%d genes", chrom, done, len(windows))
            finally:
                writer.close()  # also on error, before the temporary files go
            with atomic_path(counts_path) as tmp, open(tmp, "w", newline="") as fh:
                table = csv.writer(fh, delimiter="\t", lineterminator="\n")
                table.writerow(COUNT_COLUMNS)
                table.writerows([row[c] for c in COUNT_COLUMNS] for row in rows)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    log.info("%s: %d genes, %d haplotype windows, %d unique sequences", chrom, len(rows),
             len(rows) * 2 * len(individuals), sum(row["n_unique"] for row in rows))
    return rows


def select_individuals(individuals: pd.DataFrame, which: str) -> list[str]:
    """Individuals whose haplotypes are built: `expression` (in the VCF and with expression, the default) or
    `vcf` (everyone in the VCF)."""
    keep = individuals["in_vcf"].astype(bool)
    if which == "expression":
        keep &= individuals["in_expression"].astype(bool)
    elif which != "vcf":
        raise ValueError(f"haplotypes.individuals must be 'expression' or 'vcf', got {which!r}")
    return individuals.loc[keep, "individual"].astype(str).tolist()


def build_chromosome(
    vcf: str | None, fasta: str, genes_tsv: str, individuals_tsv: str, chrom: str, window: int, sequences_path: str,
    map_path: str, counts_path: str, missing: str = "reference", unphased: str = "error",
    individuals: str = "expression", seed: int = 0, chunk_genes: int = 64, threads: int = 1,
) -> pd.DataFrame:
    """The `haplotypes` rule: the store of one chromosome from the workflow's gene and individual tables.

    Without a VCF (a cross-gene-only run) the store holds the reference windows (hap_id 0) and an empty map."""
    import pandas as pd

    from hapexpr.genes import read_genes

    genes = read_genes(genes_tsv)
    if vcf is None:
        chosen: list[str] = []
        log.info("%s: no VCF (cross-gene-only run): reference windows only", chrom)
    else:
        chosen = select_individuals(pd.read_csv(individuals_tsv, sep="\t", dtype={"individual": str}), individuals)
        if not chosen:
            raise ValueError(f"{individuals_tsv}: no individual is selected by haplotypes.individuals={individuals!r}")
    log.info("%s: %d genes, %d individuals, window %d bp, %d threads", chrom, int((genes["chrom"] == chrom).sum()),
             len(chosen), window, threads)
    return build_store(vcf, fasta, genes, chrom, window, chosen, sequences_path, map_path, counts_path,
                       GenotypePolicy(missing, unphased, seed), chunk_genes, threads)


def store_paths(root: str | os.PathLike, chrom: str) -> dict[str, str]:
    root = str(root)
    return {
        "sequences": os.path.join(root, f"{chrom}.sequences.parquet"),
        "map": os.path.join(root, f"{chrom}.map.parquet"),
        "counts": os.path.join(root, f"{chrom}.counts.tsv"),
    }


def _is_edit_store(schema: pa.Schema) -> bool:
    """True for the edit store; False for a table of full sequences (gene_id, hap_id, sequence, tss_offset: the
    format of stores built before the edit store, still read so that hand-made tables keep working)."""
    return "edit_start" in schema.names


def store_window(store_path: str | os.PathLike) -> int:
    """The window length (bp) a chromosome's store was built at (recorded in its Parquet metadata)."""
    metadata = pq.read_schema(store_path).metadata or {}
    if WINDOW_KEY not in metadata:
        raise ValueError(f"{store_path}: the haplotype store does not record the window it was built at (made by an "
                         f"older hapexpr); delete results/haplotypes and rerun the haplotypes rule")
    return int(metadata[WINDOW_KEY])


@dataclass
class GeneHaplotypes:
    """The stored haplotypes of one gene, materialised: haplotype k is buffer[offsets[k]:offsets[k + 1]]."""

    gene_id: str
    hap_ids: np.ndarray
    tss_offsets: np.ndarray
    buffer: np.ndarray
    offsets: np.ndarray

    def sequence(self, k: int) -> str:
        return self.buffer[self.offsets[k] : self.offsets[k + 1]].tobytes().decode("ascii")


def _read_parquet(path: str | os.PathLike, filters: list | None = None, read_dictionary: list | None = None
                  ) -> pa.Table:
    """A Parquet file, optionally filtered. Unfiltered through ParquetFile, which does not import pyarrow.compute
    (a tenth of a second: much of a short command-line build with its digests)."""
    if filters:
        return pq.read_table(path, filters=filters, read_dictionary=read_dictionary)
    return pq.ParquetFile(path, read_dictionary=read_dictionary).read()


def _list_column(table: pa.Table, name: str) -> tuple[pa.Array, np.ndarray]:
    """(values, row offsets from 0) of a list column (of a table with rows)."""
    lists = table.column(name).combine_chunks()
    offsets = lists.offsets.to_numpy().astype(np.int64)
    return lists.values.slice(offsets[0], offsets[-1] - offsets[0]), offsets - offsets[0]


def _string_buffers(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(bytes, offsets from 0) of an Arrow string array, read from its buffers without making Python strings."""
    _, offsets, data = strings.buffers()
    offsets = np.frombuffer(offsets, dtype=np.int32)[strings.offset : strings.offset + len(strings) + 1]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    return data[offsets[0] : offsets[-1]], offsets.astype(np.int64) - offsets[0]


_THREADED_BYTES = 1 << 26  # haplotypes materialised in threads only above this many bytes in all


@dataclass
class _GeneJob:
    """One gene's stored rows, ready to be materialised (possibly in another thread: numpy and hashlib release
    the GIL)."""

    gene_id: str
    hap_ids: np.ndarray
    tss_offsets: np.ndarray
    arguments: tuple  # of materialise, or (buffer, offsets) of a table of full sequences
    full_text: bool = False

    @classmethod
    def of(cls, result: WindowResult) -> _GeneJob:
        """A window just built, as its rows of the store will read."""
        e = result.edits
        return cls(result.gene_id, np.arange(len(result.tss_offsets)), result.tss_offsets,
                   (_ascii(result.reference), e.starts, e.ends, e.alt_bytes, e.alt_offsets, e.offsets))

    @property
    def size(self) -> int:
        """About how many bytes the haplotypes take materialised."""
        return len(self.arguments[0]) * (1 if self.full_text else len(self.hap_ids))

    def haplotypes(self, upper: bool = False) -> GeneHaplotypes:
        """Materialised; `upper`: upper-cased (the sources are, before the gather)."""
        if self.full_text:
            buffer, offsets = self.arguments
            buffer = _UPPER_BYTES[buffer] if upper else buffer
        else:
            reference, starts, ends, alt_bytes, alt_offsets, hap_offsets = self.arguments
            if upper:
                reference, alt_bytes = _UPPER_BYTES[reference], _UPPER_BYTES[alt_bytes]
            buffer, offsets = materialise(reference, starts, ends, alt_bytes, alt_offsets, hap_offsets)
        return GeneHaplotypes(self.gene_id, self.hap_ids, self.tss_offsets, buffer, offsets)

    def blocks(self, upper: bool = False, block_bytes: int = 1 << 22) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The haplotypes in order, materialised about `block_bytes` at a time: (buffer, offsets of its haplotypes).
        A small buffer stays in cache for its reader and is reused by the allocator (no fresh pages to fault in)."""
        if self.full_text:
            haps = self.haplotypes(upper)
            yield haps.buffer, haps.offsets
            return
        reference, starts, ends, alt_bytes, alt_offsets, hap_offsets = self.arguments
        if upper:
            reference, alt_bytes = _UPPER_BYTES[reference], _UPPER_BYTES[alt_bytes]
        step = max(1, block_bytes // max(1, len(reference)))
        for h in range(0, len(hap_offsets) - 1, step):
            g = min(h + step, len(hap_offsets) - 1)
            a, b = hap_offsets[h], hap_offsets[g]
            yield materialise(reference, starts[a:b], ends[a:b], alt_bytes[alt_offsets[a] : alt_offsets[b]],
                              alt_offsets[a : b + 1] - alt_offsets[a], hap_offsets[h : g + 1] - a)


def _gene_jobs(store_path: str, genes: Iterable[str] | None = None,
               reference_only: bool = False) -> Iterator[_GeneJob]:
    filters = []
    if genes is not None:
        genes = list(genes)
        if not genes:
            return
        filters.append(("gene_id", "in", genes))
    if reference_only:
        filters.append(("hap_id", "==", 0))
    table = _read_parquet(store_path, filters)
    gene_ids = table.column("gene_id").to_numpy(zero_copy_only=False)
    if not len(gene_ids):
        return
    hap_ids = table.column("hap_id").to_numpy()
    tss = table.column("tss_offset").to_numpy()
    bounds = np.flatnonzero(np.append(True, gene_ids[1:] != gene_ids[:-1]))
    bounds = np.append(bounds, len(gene_ids))
    if not _is_edit_store(table.schema):
        sequences = table.column("sequence").to_pylist()
        for a, b in itertools.pairwise(bounds):
            parts = sequences[a:b]
            offsets = np.zeros(len(parts) + 1, dtype=np.int64)
            np.cumsum([len(s) for s in parts], out=offsets[1:])
            yield _GeneJob(str(gene_ids[a]), hap_ids[a:b], tss[a:b], (_ascii("".join(parts)), offsets), True)
        return
    references = table.column("reference").to_pylist()
    starts, edit_offsets = _list_column(table, "edit_start")
    ends, _ = _list_column(table, "edit_end")
    starts, ends = starts.to_numpy(), ends.to_numpy()
    alt_bytes, alt_offsets = _string_buffers(_list_column(table, "edit_alt")[0])
    for a, b in itertools.pairwise(bounds):
        if hap_ids[a] != 0 or references[a] is None:
            raise ValueError(f"{store_path}: gene {gene_ids[a]} has no reference row (hap_id 0); the store is damaged, "
                             f"rebuild it with rule haplotypes")
        ea, eb = edit_offsets[a], edit_offsets[b]
        yield _GeneJob(str(gene_ids[a]), hap_ids[a:b], tss[a:b],
                       (_ascii(references[a]), starts[ea:eb], ends[ea:eb], alt_bytes[alt_offsets[ea] : alt_offsets[eb]],
                        alt_offsets[ea : eb + 1] - alt_offsets[ea], edit_offsets[a : b + 1] - ea))


def iter_haplotypes(store_path: str, genes: Iterable[str] | None = None,
                    reference_only: bool = False) -> Iterator[GeneHaplotypes]:
    """Each gene of a chromosome's store (optionally only `genes`, or only the reference hap_id 0), in store order,
    with its haplotypes materialised by `materialise`."""
    for job in _gene_jobs(store_path, genes, reference_only):
        yield job.haplotypes()


def _fixed(haps: GeneHaplotypes, minus: bool, W: int) -> np.ndarray:
    """(haplotypes x W) uint8: each haplotype strand-oriented (minus: reverse-complemented), TSS at index W // 2,
    cropped or padded with N."""
    out = np.full((len(haps.hap_ids), W), _N, dtype=np.uint8)
    bounds = haps.offsets.tolist()
    for k, (a, b) in enumerate(itertools.pairwise(bounds)):
        anchor = int(haps.tss_offsets[k])
        if minus:
            anchor = b - a - 1 - anchor  # the TSS's index in the reverse complement
        lo = anchor - W // 2  # window start in the oriented haplotype
        first, last = max(lo, 0), min(lo + W, b - a)
        if last <= first:
            continue
        if minus:  # oriented[i] = complement(seq[n - 1 - i])
            out[k, first - lo : last - lo] = _COMPLEMENT_BYTES[haps.buffer[b - last : b - first][::-1]]
        else:
            out[k, first - lo : last - lo] = haps.buffer[a + first : a + last]
    return out


def _strands(genes: pd.DataFrame) -> dict[str, str]:
    return dict(zip(genes["gene_id"].astype(str), genes["strand"]))


def _windows_frame(parts: list[tuple[str, np.ndarray, np.ndarray]]) -> pd.DataFrame:
    import pandas as pd

    gene_ids, hap_ids, windows = [], [], []
    for gene_id, ids, block in parts:
        gene_ids += [gene_id] * len(ids)
        hap_ids.append(np.asarray(ids))
        if len(block):
            text, width = block.tobytes().decode("ascii"), block.shape[1]
            windows += [text[i * width : (i + 1) * width] for i in range(len(block))]
    return pd.DataFrame({"gene_id": pd.Series(gene_ids, dtype=object),
                         "hap_id": np.concatenate(hap_ids).astype(np.int32) if hap_ids else np.zeros(0, dtype=np.int32),
                         "window": pd.Series(windows, dtype=object)})


def read_windows(store_paths: Sequence[str], genes: pd.DataFrame, window: int, *,
                 reference_only: bool = False) -> pd.DataFrame:
    """Fixed-length windows (columns gene_id, hap_id, window) of the genes in `genes` (needs gene_id, tss, strand),
    TSS at index window // 2, gene orientation (minus strand reverse-complemented), cropped/padded with N exactly as
    fixed_windows does. `store_paths`: one path per chromosome, the store's main file as rule haplotypes writes it
    (results/haplotypes/{chrom}.sequences.parquet). Raises ValueError naming the store if `window` exceeds the
    window the store was built at (recorded in the store)."""
    strands = _strands(genes)
    parts = []
    for path in [store_paths] if isinstance(store_paths, (str, os.PathLike)) else store_paths:
        path = str(path)
        built = store_window(path)
        if window > built:
            raise ValueError(f"{path}: windows of {window} bp asked for, but this haplotype store was built at "
                             f"{built} bp; rebuild it with the larger window (the store is built at the largest "
                             f"window of the enabled models)")
        for haps in iter_haplotypes(path, genes=list(strands), reference_only=reference_only):
            parts.append((haps.gene_id, haps.hap_ids, _fixed(haps, strands[haps.gene_id] == "-", window)))
    return _windows_frame(parts)


def fixed_windows(sequences_df: pd.DataFrame, genes_df: pd.DataFrame, W: int) -> pd.DataFrame:
    """The fixed-length, strand-oriented view of a table of full sequences (gene_id, hap_id, sequence,
    tss_offset, as read_store gives): gene_id, hap_id, window (W bp, TSS at index W//2), as `read_windows`."""
    strands = _strands(genes_df)
    parts = []
    for gene_id, seq, offset, hap_id in zip(sequences_df["gene_id"], sequences_df["sequence"],
                                            sequences_df["tss_offset"], sequences_df["hap_id"]):
        strand = strands.get(gene_id)
        if strand is None:
            raise KeyError(f"gene {gene_id} of the haplotype store is not in the gene table")
        haps = GeneHaplotypes(gene_id, np.array([hap_id]), np.array([offset]), _ascii(seq),
                              np.array([0, len(seq)], dtype=np.int64))
        parts.append((gene_id, haps.hap_ids, _fixed(haps, strand == "-", W)))
    return _windows_frame(parts)


def read_store(
    root: str | os.PathLike, chroms: str | Iterable[str], genes: Iterable[str] | None = None,
    individuals: Iterable[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sequences, map) of one or more chromosomes of a store directory, optionally only some genes/individuals.

    `sequences` has gene_id, hap_id, sequence (materialised: forward strand, variable length), tss_offset."""
    import pandas as pd

    chroms = [chroms] if isinstance(chroms, str) else list(chroms)
    genes = list(genes) if genes is not None else None
    map_filter = [("gene_id", "in", genes)] if genes is not None else []
    if individuals is not None:
        map_filter.append(("individual", "in", list(individuals)))
    rows: dict[str, list] = {"gene_id": [], "hap_id": [], "sequence": [], "tss_offset": []}
    maps = []
    for chrom in chroms:
        paths = store_paths(root, chrom)
        for haps in iter_haplotypes(paths["sequences"], genes):
            n = len(haps.hap_ids)
            rows["gene_id"] += [haps.gene_id] * n
            rows["hap_id"] += haps.hap_ids.tolist()
            rows["sequence"] += [haps.sequence(k) for k in range(n)]
            rows["tss_offset"] += haps.tss_offsets.tolist()
        maps.append(pq.read_table(paths["map"], filters=map_filter or None).to_pandas())
    sequences = pd.DataFrame(rows).astype({"hap_id": np.int32, "tss_offset": np.int64})
    return sequences, pd.concat(maps, ignore_index=True)


def read_map(map_paths: Sequence[str | os.PathLike], genes: Iterable[str] | None = None) -> pd.DataFrame:
    """gene_id, individual, haplotype, hap_id of one or more chromosomes' maps (optionally only some genes)."""
    import pandas as pd

    paths = [map_paths] if isinstance(map_paths, (str, os.PathLike)) else list(map_paths)
    filters = [("gene_id", "in", list(genes))] if genes is not None else None
    parts = [pq.read_table(p, columns=list(MAP_SCHEMA.names), filters=filters).to_pandas() for p in paths]
    if not parts:
        return MAP_SCHEMA.empty_table().to_pandas()
    return pd.concat(parts, ignore_index=True)


def haplotype_sequences(sequences: pd.DataFrame, hap_map: pd.DataFrame) -> pd.DataFrame:
    """Join the map onto the sequences: one row per (gene_id, individual, haplotype) with its sequence."""
    return hap_map.merge(sequences, on=["gene_id", "hap_id"], how="left", validate="many_to_one")


def _export_selection(root: str | os.PathLike, chrom: str, genes: Sequence[str] | None,
                      individuals: Sequence[str] | None, gene_codes: bool = False) -> tuple[str, pa.Table]:
    """The store file of `chrom` and its map rows for the chosen genes/individuals (None: all), checked;
    `gene_codes`: gene_id dictionary-encoded."""
    paths = store_paths(root, chrom)
    for path in (paths["sequences"], paths["map"]):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no haplotype store of {chrom} in {root}")
    filters = []
    if genes is not None:
        filters.append(("gene_id", "in", list(genes)))
    if individuals is not None:
        filters.append(("individual", "in", list(individuals)))
    hap_map = _read_parquet(paths["map"], filters, ["gene_id"] if gene_codes else None)
    if genes is not None:
        stored = set(pq.read_table(paths["sequences"], columns=["gene_id"],
                                   filters=[("gene_id", "in", list(genes))])["gene_id"].to_pylist())
        missing = sorted(set(genes) - stored)
        if missing:
            raise KeyError(f"genes {missing[:10]} are not in the haplotype store of {chrom} ({root})")
    if individuals is not None:
        absent = sorted(set(individuals) - set(hap_map.column("individual").to_pylist()))
        if absent:
            raise KeyError(f"individuals {absent[:10]} are not in the haplotype store of {chrom} ({root})")
    return paths["sequences"], hap_map


def _fasta_record(fh, header: str, seq: str) -> None:
    fh.write(f">{header}\n")
    for i in range(0, len(seq), 60):
        fh.write(seq[i : i + 60] + "\n")


def export_fasta(
    root: str | os.PathLike, chrom: str, genes: Sequence[str] | None, individuals: Sequence[str] | None,
    out: str | os.PathLike, include_reference: bool = True,
) -> int:
    """Write the variable-length haplotypes (forward strand) of `genes` (None: all) for `individuals` (None: all)
    as FASTA, gene by gene in the order asked (store order for all).

    Headers: `>{gene_id}|{individual}|{haplotype}|hap_id={k}|tss_offset={o}`; the reference as individual
    `reference`, haplotype 0. Returns the number of records written.
    """
    path, hap_map = _export_selection(root, chrom, genes, individuals)
    hap_map = hap_map.to_pandas().sort_values(["gene_id", "individual", "haplotype"])
    by_gene = dict(tuple(hap_map.groupby("gene_id", sort=False)))
    materialised = {}
    order = list(genes) if genes is not None else None
    n = 0
    with atomic_path(out) as tmp, open(tmp, "w") as fh:
        def write(haps: GeneHaplotypes) -> int:
            row = {int(h): k for k, h in enumerate(haps.hap_ids)}
            records = [("reference", 0, 0)] if include_reference else []
            rows = by_gene.get(haps.gene_id)
            if rows is not None:
                records += list(zip(rows["individual"], rows["haplotype"], rows["hap_id"]))
            for individual, haplotype, hap_id in records:
                k = row[int(hap_id)]
                _fasta_record(fh, f"{haps.gene_id}|{individual}|{haplotype}|hap_id={hap_id}|"
                                  f"tss_offset={haps.tss_offsets[k]}", haps.sequence(k))
            return len(records)

        for haps in iter_haplotypes(path, genes):
            if order is None:
                n += write(haps)
            else:
                materialised[haps.gene_id] = haps
        for gene_id in order or []:
            n += write(materialised[gene_id])
    return n


DIGEST_HEADER = b"gene_id\tsample\thap\tlength\tsha1\n"


def _digests(job: _GeneJob) -> tuple[list[int], list[str]]:
    """Length and sha1 (hex, of the upper-cased forward-strand sequence) of each of a gene's haplotypes, in order."""
    lengths, digests = [], []
    for buffer, offsets in job.blocks(upper=True):
        bounds = offsets.tolist()
        lengths += [b - a for a, b in itertools.pairwise(bounds)]
        digests += [hashlib.sha1(buffer[a:b]).hexdigest() for a, b in itertools.pairwise(bounds)]
    return lengths, digests


def _write_digests(fh: BinaryIO, hap_map: pa.Table, lengths: list[int], sha1: list[str], row: np.ndarray) -> int:
    """Write one digest line (DIGEST_HEADER's columns) per map row; `row[i]`: where map row i's haplotype is in
    `lengths` and `sha1`. Returns the number of lines."""
    import pyarrow.csv as pacsv

    width = 40  # a sha1 in hex
    table = pa.table({"gene_id": hap_map.column("gene_id"), "sample": hap_map.column("individual"),
                      "hap": hap_map.column("haplotype"), "length": np.asarray(lengths, dtype=np.int64)[row],
                      "sha1": pa.LargeStringArray.from_buffers(
                          len(row), pa.py_buffer(np.arange(len(row) + 1, dtype=np.int64) * width),
                          pa.py_buffer(np.array(sha1, dtype=f"S{width}")[row].tobytes()))})
    pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none"))
    return len(table)


def export_digests(root: str | os.PathLike, chrom: str, out: str | os.PathLike, genes: Sequence[str] | None = None,
                   individuals: Sequence[str] | None = None, append: bool = False, threads: int = 1) -> int:
    """Write one line per (gene, individual, haplotype): `gene_id sample hap length sha1` (sha1 of the upper-cased
    forward-strand sequence; the benchmark harness's digest layout). Each distinct haplotype is hashed once, genes
    in `threads` threads.
    Returns the number of lines written."""
    path, hap_map = _export_selection(root, chrom, genes, individuals, gene_codes=True)
    jobs = list(_gene_jobs(path, genes))
    # one gene at a time per thread, in store order; small haplotypes in this thread (on small arrays the threads
    # would mostly wait for the GIL)
    if threads > 1 and sum(job.size for job in jobs) > _THREADED_BYTES:
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(_digests, jobs))
    else:
        parts = [_digests(job) for job in jobs]
    lengths, sha1 = [], []
    for size, digests in parts:
        lengths += size
        sha1 += digests
    # row of each map entry in the digests: the first row of its gene (hap_ids are 0..n-1 in store order) + hap_id
    first_row = dict(zip([job.gene_id for job in jobs], np.cumsum([0] + [len(job.hap_ids) for job in jobs])))
    rows = [np.zeros(0, dtype=np.int64)]
    for chunk in hap_map.column("gene_id").chunks:  # by the dictionary code of each row's gene
        first_of_code = np.array([first_row[g] for g in chunk.dictionary.to_pylist()], dtype=np.int64)
        rows.append(first_of_code[chunk.indices.to_numpy()])
    row = np.concatenate(rows) + hap_map.column("hap_id").to_numpy()
    with open(out, "ab" if append else "wb") as fh:
        if not append:
            fh.write(DIGEST_HEADER)
        return _write_digests(fh, hap_map, lengths, sha1, row)


# ---------------------------------------------------------------- command line (outside Snakemake)
def read_regions(bed: str) -> tuple[dict[str, list[Window]], int]:
    """The windows of a BED (chrom, start0, end0, name[, score, strand]) by chromosome (in file order; each sorted as
    `gene_windows` sorts) and their common length; a window's TSS is the one whose `window_bounds` is exactly it."""
    genes: dict[str, dict[str, list]] = {}
    names: set[str] = set()
    length = None
    with open(bed) as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 4:
                raise ValueError(f"{bed}: line {i} has {len(fields)} columns; a BED of windows needs at least 4 "
                                 f"(chrom, start, end, name)")
            chrom, start, end, name = fields[:4]
            strand = fields[5] if len(fields) >= 6 else "+"
            if strand not in ("+", "-", "."):
                raise ValueError(f"{bed}: line {i} has strand {strand!r}; use +, - or .")
            try:
                start, end = int(start), int(end)
            except ValueError:
                raise ValueError(f"{bed}: line {i} has start {start!r} and end {end!r}; both must be integers"
                                 ) from None
            if length is None:
                length = end - start
            if end - start != length or length <= 0:
                raise ValueError(f"{bed}: line {i} is a window of {end - start} bp, the first one of {length} bp; "
                                 f"every window must have the same positive length (the store's window)")
            if name in names:
                raise ValueError(f"{bed}: window name {name!r} appears twice; names are the gene ids of the store "
                                 f"and must be unique")
            names.add(name)
            strand = "+" if strand == "." else strand
            columns = genes.setdefault(chrom, {"gene_id": [], "tss": [], "strand": []})
            columns["gene_id"].append(name)
            columns["tss"].append(tss_of_window(start, end, strand))
            columns["strand"].append(strand)
    if length is None:
        raise ValueError(f"{bed}: no windows")
    return {chrom: gene_windows(columns, length) for chrom, columns in genes.items()}, length


def _read_list(path: str | None) -> list[str] | None:
    if path is None:
        return None
    with open(path) as fh:
        return [line.strip() for line in fh if line.strip()]


def _record_timing(path: str | None, phase: str, seconds: float) -> None:
    """Add a phase to a harness-style timing.json (core_s: the sum of the phases, without Python start-up)."""
    if path is None:
        return
    timing = {}
    if os.path.exists(path):
        with open(path) as fh:
            timing = json.load(fh)
    timing[f"{phase}_s"] = seconds
    timing["core_s"] = timing.get("core_s", 0.0) + seconds
    with open(path, "w") as fh:
        json.dump(timing, fh, indent=1)


def _cli_build(args: argparse.Namespace) -> None:
    t = time.perf_counter()
    windows, length = read_regions(args.regions)
    samples = _read_list(args.samples)
    if samples is None:
        reader = VcfReader(args.vcf)
        samples = list(reader.individuals)
        reader.close()
    policy = GenotypePolicy(args.missing, args.unphased, args.seed)
    with contextlib.ExitStack() as stack:
        digests = None
        if args.digests:  # written as the store is, by the same workers (the lines of `export --format digests`)
            digests = stack.enter_context(open(stack.enter_context(atomic_path(args.digests)), "wb"))
            digests.write(DIGEST_HEADER)
        for chrom, chrom_windows in windows.items():
            paths = store_paths(args.out, chrom)
            write_store(args.vcf, args.fasta, chrom, chrom_windows, length, samples, paths["sequences"],
                        paths["map"], paths["counts"], policy, args.chunk_genes, args.threads, digests)
    _record_timing(args.timing, "build", time.perf_counter() - t)


def _store_chromosomes(root: str) -> list[str]:
    suffix = ".sequences.parquet"
    chroms = sorted(f[: -len(suffix)] for f in os.listdir(root) if f.endswith(suffix) and not f.startswith("."))
    if not chroms:
        raise FileNotFoundError(f"{root}: no haplotype store (*{suffix}) here")
    return chroms


def _cli_export(args: argparse.Namespace) -> None:
    t = time.perf_counter()
    chroms = args.chrom or _store_chromosomes(args.store)
    genes, samples = _read_list(args.genes), _read_list(args.samples)
    if genes is not None:  # genes of other chromosomes are not an error when several are exported
        wanted = set(genes)
        per_chrom = {}
        for chrom in chroms:
            stored = pq.read_table(store_paths(args.store, chrom)["sequences"], columns=["gene_id"])
            per_chrom[chrom] = [g for g in dict.fromkeys(stored["gene_id"].to_pylist()) if g in wanted]
        missing = wanted - {g for gs in per_chrom.values() for g in gs}
        if missing:
            raise KeyError(f"genes {sorted(missing)[:10]} are in no haplotype store of {args.store}")
    n = 0
    if args.format == "fasta":
        for chrom in chroms:
            n += export_fasta(args.store, chrom, per_chrom[chrom] if genes is not None else None, samples,
                              os.path.join(args.out, f"{chrom}.fa"), include_reference=not args.no_reference)
    else:
        with atomic_path(args.out) as tmp:
            for i, chrom in enumerate(chroms):
                n += export_digests(args.store, chrom, tmp, per_chrom[chrom] if genes is not None else None,
                                    samples, append=i > 0, threads=args.threads)
    log.info("%d records written to %s", n, args.out)
    _record_timing(args.timing, "export", time.perf_counter() - t)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m hapexpr.haplotypes",
        description="Build a haplotype store from a FASTA, a phased VCF, a BED of windows and a sample list, or "
                    "export one as FASTA or per-haplotype digests (README, 'Haplotype store').")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the store of every chromosome of the BED")
    b.add_argument("--fasta", required=True, help="reference FASTA (plain with .fai, or bgzipped with .fai/.gzi)")
    b.add_argument("--vcf", required=True, help="phased VCF, bgzipped and tabix-indexed")
    b.add_argument("--regions", required=True, help="BED of windows: chrom start0 end0 gene_id [score strand]; "
                                                     "all the same length")
    b.add_argument("--samples", help="individuals, one per line (default: every sample of the VCF)")
    b.add_argument("--out", required=True, help="store directory: {chrom}.sequences.parquet, .map.parquet, "
                                                "counts.tsv")
    b.add_argument("--threads", type=int, default=1, help="worker processes within a chromosome")
    b.add_argument("--missing", default="reference", help="missing genotypes: reference or error")
    b.add_argument("--unphased", default="error", help="unphased heterozygous genotypes: error, random, reference")
    b.add_argument("--seed", type=int, default=0, help="seed of --unphased random")
    b.add_argument("--chunk-genes", type=int, default=64, help="genes per work unit")
    b.add_argument("--digests", help="also write the digests of every haplotype to this TSV (the lines of export "
                                     "--format digests, hashed by the build's workers as they build)")
    b.add_argument("--timing", help="add build_s (--digests included) and core_s to this JSON file")
    e = sub.add_parser("export", help="write FASTA or digests of a store")
    e.add_argument("--store", required=True, help="store directory")
    e.add_argument("--chrom", action="append", help="chromosome (repeatable; default: every one in --store)")
    e.add_argument("--format", choices=["fasta", "digests"], default="fasta",
                   help="fasta: --out is a directory of {chrom}.fa, headers gene|individual|haplotype|hap_id=|"
                        "tss_offset=; digests: --out is a TSV gene_id sample hap length sha1 (sha1 of the "
                        "upper-cased sequence)")
    e.add_argument("--genes", help="gene ids, one per line (default: all)")
    e.add_argument("--samples", help="individuals, one per line (default: all)")
    e.add_argument("--no-reference", action="store_true", help="fasta: leave out the reference records")
    e.add_argument("--out", required=True)
    e.add_argument("--threads", type=int, default=1, help="digests: genes hashed in this many threads")
    e.add_argument("--timing", help="add export_s to core_s of this JSON file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    if args.command == "build":
        _cli_build(args)
    else:
        _cli_export(args)


class _WithoutPandas:
    """An import finder under which pandas is not installed. pyarrow imports pandas (half a second) at its first
    pa.array() only to recognise pandas inputs; `build` (and its --digests) gives it none and needs no pandas."""

    def find_spec(self, name: str, path=None, target=None) -> None:
        if name.split(".")[0] == "pandas":
            raise ModuleNotFoundError("pandas is not needed by `python -m hapexpr.haplotypes build`", name=name)


if __name__ == "__main__":
    if sys.argv[1:2] == ["build"] and "pandas" not in sys.modules:
        sys.meta_path.insert(0, _WithoutPandas())
    main()
    # every output is closed and renamed by now: skip the interpreter's teardown of numpy, pyarrow and pysam
    # (~0.07 s of a sub-second build)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
