"""Personal haplotype sequences of gene windows, each distinct one built once.

For every gene, the window is W bp around the TSS (`window_bounds`). Among the 2N haplotypes of the chosen
individuals, the distinct combinations of carried alleles in the window are found with numpy; each is turned
into a sequence once, with the semantics of `bcftools consensus -H 1pIu` on the same region (the equivalence is
tested on real data):
  * variants are applied in file order; a variant starting at or before the last reference base covered by an
    applied variant on the same haplotype is skipped (reason `overlap`), except an indel anchored on exactly
    that base (REF and ALT share their first base, htslib calls it an indel) after a non-insertion: then only
    its bases after the anchor are applied, as bcftools does;
  * a variant starting before the window is skipped (`before_window`); one running past the window end is
    trimmed to the window (`trimmed_at_window_end`: REF and ALT cut to the bases inside);
  * inserted bases take the case of the reference base they replace (soft-masking kept as is);
  * symbolic (`<DEL>`...), breakend and `*` alleles are skipped and counted;
  * positions off the chromosome are N.
The store (Parquet, see README "Haplotype store") holds the unique sequences, the map (individual, haplotype)
-> hap_id, and per-gene counts. `fixed_windows` gives the fixed-length, strand-oriented view models use.
"""

import bisect
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hapexpr.io import atomic_path, write_tsv
from hapexpr.reference import Reference
from hapexpr.variants import APPLIED_KINDS, GenotypePolicy, Record, ReferenceMismatchError, VcfReader, allele_kind
from hapexpr.variants import htslib_is_indel

log = logging.getLogger(__name__)

SKIP_REASONS = ("overlap", "before_window", "symbolic", "breakend", "star")
COUNT_COLUMNS = (
    ["gene_id", "chrom", "start", "end", "n_variants", "n_unique", "applied", "trimmed_at_window_end"]
    + [f"skipped_{r}" for r in SKIP_REASONS]
    + ["missing", "unphased"]
)
SEQUENCE_SCHEMA = pa.schema(
    [("gene_id", pa.string()), ("hap_id", pa.int32()), ("sequence", pa.large_string()), ("tss_offset", pa.int64())]
)
MAP_SCHEMA = pa.schema(
    [("gene_id", pa.string()), ("individual", pa.string()), ("haplotype", pa.int8()), ("hap_id", pa.int32())]
)
_COMPLEMENT = str.maketrans("ACGTNacgtnRYKMSWBDHVrykmswbdhv", "TGCANtgcanYRMKSWVHDByrmkswvhdb")


def reverse_complement(seq: str) -> str:
    """Reverse complement that keeps case and IUPAC codes."""
    return seq.translate(_COMPLEMENT)[::-1]


def window_bounds(tss: int, strand: str, length: int) -> tuple[int, int]:
    """[start, end) of the W-bp forward-strand region whose strand-oriented view has the TSS at index W//2."""
    if strand == "-":
        return tss - (length - length // 2 - 1), tss + length // 2 + 1
    return tss - length // 2, tss - length // 2 + length


@dataclass
class Window:
    gene_id: str
    start: int
    end: int
    tss: int


@dataclass
class Haplotype:
    """One built haplotype: the variable-length sequence, the index of the TSS in it, and what happened."""

    sequence: str
    tss_offset: int
    counts: dict[str, int] = field(default_factory=dict)


def build_haplotype(
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


def unique_haplotypes(alleles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct columns of a (records x haplotypes) allele matrix: (index of a representative, inverse map)."""
    n_records, n_haps = alleles.shape
    if n_records == 0:
        return np.zeros(1, dtype=np.int64), np.zeros(n_haps, dtype=np.int64)
    rows = np.ascontiguousarray(alleles.T)
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * n_records))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first, inverse.ravel()


@dataclass
class WindowResult:
    gene_id: str
    sequences: list[str]
    tss_offsets: list[int]
    hap_ids: np.ndarray  # one per haplotype column (2N), 0 = reference
    counts: dict[str, int]


def build_window(window: Window, refseq: str, records: Sequence[Record], n_haps: int) -> WindowResult:
    """All haplotypes of one window: each distinct allele combination built once, identical sequences merged."""
    counts = dict.fromkeys(COUNT_COLUMNS[4:], 0)
    counts["n_variants"] = len(records)
    counts["missing"] = sum(r.missing for r in records)
    counts["unphased"] = sum(r.unphased for r in records)
    carried = [r for r in records if r.alleles.any()]
    ref_hap = build_haplotype(refseq, window.start, window.tss, ())
    sequences, offsets = [ref_hap.sequence], [ref_hap.tss_offset]
    seen = {(ref_hap.sequence, ref_hap.tss_offset): 0}
    if not carried:
        counts["n_unique"] = 1
        return WindowResult(window.gene_id, sequences, offsets, np.zeros(n_haps, dtype=np.int32), counts)
    matrix = np.stack([r.alleles for r in carried])
    first, inverse = unique_haplotypes(matrix)
    multiplicity = np.bincount(inverse, minlength=len(first))
    hap_of_unique = np.empty(len(first), dtype=np.int32)
    for u, column in enumerate(first):
        alleles = matrix[:, column]
        edits = []
        for i in np.flatnonzero(alleles):
            r, a = carried[i], alleles[i] - 1
            edits.append((r.pos, r.ref, r.alts[a], r.kinds[a]))
        hap = build_haplotype(refseq, window.start, window.tss, edits)
        key = (hap.sequence, hap.tss_offset)
        if key not in seen:
            seen[key] = len(sequences)
            sequences.append(hap.sequence)
            offsets.append(hap.tss_offset)
        hap_of_unique[u] = seen[key]
        for name, value in hap.counts.items():
            counts[name] += value * int(multiplicity[u])
    hap_ids = hap_of_unique[inverse]
    counts["n_unique"] = int(len(np.unique(hap_ids)))
    return WindowResult(window.gene_id, sequences, offsets, hap_ids, counts)


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


def _merged(windows: Sequence[Window]) -> list[tuple[int, int, list[Window]]]:
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
    for start, end, group in _merged(windows):
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


def gene_windows(genes: pd.DataFrame, length: int) -> list[Window]:
    """Windows of the genes of one chromosome, sorted by start."""
    windows = [Window(g, *window_bounds(int(t), s, length), int(t)) for g, t, s in
               zip(genes["gene_id"], genes["tss"], genes["strand"])]
    return sorted(windows, key=lambda w: (w.start, w.end, w.gene_id))


def _large_strings(strings: list[str]) -> pa.Array:
    """Arrow large_string array of ASCII sequences, built from one joined buffer (much faster than pa.array)."""
    try:
        data = "".join(strings).encode("ascii")
    except UnicodeEncodeError:
        return pa.array(strings, pa.large_string())
    offsets = np.zeros(len(strings) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in strings], out=offsets[1:])
    return pa.LargeStringArray.from_buffers(len(strings), pa.py_buffer(offsets), pa.py_buffer(data))


@dataclass
class StoreWriter:
    """Writes the three files of one chromosome's store, chunk by chunk, to temporary names renamed at the end."""

    sequences_path: str
    map_path: str
    individuals: Sequence[str]

    def __post_init__(self) -> None:
        self._individuals = pa.array(np.repeat(np.asarray(self.individuals, dtype=object), 2), pa.string())
        self._haplotype = np.tile(np.array([1, 2], dtype=np.int8), len(self.individuals))
        self._seq_rows: dict[str, list] = {"gene_id": [], "hap_id": [], "sequence": [], "tss_offset": []}
        self._map_genes: list[str] = []
        self._map_ids: list[np.ndarray] = []
        self.pending_bytes = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._pending = None

    def open(self, seq_tmp, map_tmp) -> None:
        # no dictionary or min/max statistics for the sequence column: hashing 100-kb strings costs, gains nothing
        self._seq_writer = pq.ParquetWriter(seq_tmp, SEQUENCE_SCHEMA, compression="zstd", use_dictionary=["gene_id"],
                                            write_statistics=["gene_id", "hap_id", "tss_offset"])
        self._map_writer = pq.ParquetWriter(map_tmp, MAP_SCHEMA, compression="zstd")

    def add(self, result: WindowResult) -> None:
        n = len(result.sequences)
        self._seq_rows["gene_id"].extend([result.gene_id] * n)
        self._seq_rows["hap_id"].extend(range(n))
        self._seq_rows["sequence"].extend(result.sequences)
        self._seq_rows["tss_offset"].extend(result.tss_offsets)
        self.pending_bytes += sum(len(s) for s in result.sequences)
        self._map_genes.append(result.gene_id)
        self._map_ids.append(result.hap_ids)

    def flush(self) -> None:
        """Turn the pending rows into Arrow tables and hand them to the writer thread: compression (which
        releases the GIL) of one chunk overlaps the building of the next; at most one chunk waits."""
        tables = []
        if self._seq_rows["gene_id"]:
            rows = self._seq_rows
            tables.append((self._seq_writer, pa.Table.from_arrays(
                [pa.array(rows["gene_id"], pa.string()), pa.array(rows["hap_id"], pa.int32()),
                 _large_strings(rows["sequence"]), pa.array(rows["tss_offset"], pa.int64())],
                schema=SEQUENCE_SCHEMA,
            )))
            for column in self._seq_rows.values():
                column.clear()
        if self._map_genes:
            n = len(self._haplotype)
            tables.append((self._map_writer, pa.Table.from_arrays(
                [
                    pa.array(np.repeat(np.asarray(self._map_genes, dtype=object), n), pa.string()),
                    pa.concat_arrays([self._individuals] * len(self._map_genes)),
                    pa.array(np.tile(self._haplotype, len(self._map_genes)), pa.int8()),
                    pa.array(np.concatenate(self._map_ids).astype(np.int32), pa.int32()),
                ],
                schema=MAP_SCHEMA,
            )))
            self._map_genes.clear()
            self._map_ids.clear()
        self.pending_bytes = 0
        self._wait()
        if tables:
            self._pending = self._pool.submit(lambda: [w.write_table(t) for w, t in tables])

    def _wait(self) -> None:
        if self._pending is not None:
            self._pending.result()  # re-raises a write error here
            self._pending = None

    def close(self) -> None:
        try:
            self.flush()
            self._wait()
        finally:
            self._pool.shutdown(wait=True)
            self._seq_writer.close()
            self._map_writer.close()


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
    chunk_bytes: int = 256_000_000,
) -> pd.DataFrame:
    """Build the haplotype store of one chromosome (FASTA spelling) and return the per-gene counts.

    Genes are streamed in chunks of `chunk_genes` (or fewer when their sequences pass `chunk_bytes`), so memory
    holds one chunk of unique sequences and the VCF records of one window span, never a whole chromosome.
    """
    reference = Reference(fasta)
    fasta_chrom = reference.resolve(chrom, source=f"{fasta} (gene table chromosome)")
    genes = genes[genes["chrom"] == chrom]
    reader = VcfReader(str(vcf), individuals, policy) if vcf is not None else None
    vcf_chrom = reader.chrom_name(fasta_chrom) if reader is not None else None
    if reader is not None and vcf_chrom is None:
        log.warning("%s names no contig; every window of %s is the reference", vcf, chrom)
    individuals = list(reader.individuals) if reader is not None else list(individuals)
    n_haps = 2 * len(individuals)
    windows = gene_windows(genes, window)
    writer = StoreWriter(str(sequences_path), str(map_path), individuals)
    rows = []
    with atomic_path(sequences_path) as seq_tmp, atomic_path(map_path) as map_tmp:
        writer.open(seq_tmp, map_tmp)
        try:
            in_chunk = 0
            for i, (w, records) in enumerate(iter_window_records(reader, vcf_chrom, windows)):
                first = min([w.start] + [r.pos for r in records])
                last = max([w.end] + [r.end for r in records])
                span = reference.fetch(fasta_chrom, first, last)
                for r in records:
                    if span[r.pos - first : r.end - first].upper() != r.ref.upper():
                        check_ref_alleles([r], reference, fasta_chrom, str(vcf))
                result = build_window(w, span[w.start - first : w.end - first], records, n_haps)
                writer.add(result)
                rows.append({"gene_id": w.gene_id, "chrom": chrom, "start": w.start, "end": w.end, **result.counts})
                in_chunk += 1
                if in_chunk >= chunk_genes or writer.pending_bytes >= chunk_bytes:
                    writer.flush()
                    in_chunk = 0
                    log.info("%s: %d/%d genes", chrom, i + 1, len(windows))
        finally:
            writer.close()  # also on error: the writer thread is joined before the temporary files go
        counts = pd.DataFrame(rows, columns=COUNT_COLUMNS)
        write_tsv(counts, counts_path)
    reference.close()
    if reader is not None:
        reader.close()
    log.info("%s: %d genes, %d haplotype windows, %d unique sequences", chrom, len(counts), len(counts) * n_haps,
             int(counts["n_unique"].sum()) if len(counts) else 0)
    return counts


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
    vcf: str, fasta: str, genes_tsv: str, individuals_tsv: str, chrom: str, window: int, sequences_path: str,
    map_path: str, counts_path: str, missing: str = "reference", unphased: str = "error",
    individuals: str = "expression", seed: int = 0, chunk_genes: int = 64,
) -> pd.DataFrame:
    """The `haplotypes` rule: the store of one chromosome from the workflow's gene and individual tables."""
    genes = pd.read_csv(genes_tsv, sep="\t", dtype={"gene_id": str, "chrom": str})
    chosen = select_individuals(pd.read_csv(individuals_tsv, sep="\t", dtype={"individual": str}), individuals)
    if not chosen:
        raise ValueError(f"{individuals_tsv}: no individual is selected by haplotypes.individuals={individuals!r}")
    log.info("%s: %d genes, %d individuals, window %d bp", chrom, int((genes["chrom"] == chrom).sum()),
             len(chosen), window)
    return build_store(vcf, fasta, genes, chrom, window, chosen, sequences_path, map_path, counts_path,
                       GenotypePolicy(missing, unphased, seed), chunk_genes)


def fixed_windows(sequences_df: pd.DataFrame, genes_df: pd.DataFrame, W: int) -> pd.DataFrame:
    """The fixed-length, strand-oriented view: gene_id, hap_id, window (W bp, TSS at index W//2).

    Anchored at the TSS, cropped or padded with N to exactly W; minus-strand genes reverse-complemented so that
    upstream is left and downstream is right for every gene.
    """
    strands = dict(zip(genes_df["gene_id"], genes_df["strand"]))
    left_len, right_len = W // 2, W - W // 2
    out = []
    for gene_id, seq, offset in zip(sequences_df["gene_id"], sequences_df["sequence"], sequences_df["tss_offset"]):
        strand = strands.get(gene_id)
        if strand is None:
            raise KeyError(f"gene {gene_id} of the haplotype store is not in the gene table")
        offset = int(offset)
        if strand == "-":
            upstream, downstream = reverse_complement(seq[offset + 1 :]), reverse_complement(seq[: offset + 1])
        else:
            upstream, downstream = seq[:offset], seq[offset:]
        upstream = upstream[-left_len:] if left_len else ""
        downstream = downstream[:right_len]
        out.append("N" * (left_len - len(upstream)) + upstream + downstream + "N" * (right_len - len(downstream)))
    return pd.DataFrame(
        {"gene_id": sequences_df["gene_id"].to_numpy(), "hap_id": sequences_df["hap_id"].to_numpy(), "window": out}
    )


def store_paths(root: str | os.PathLike, chrom: str) -> dict[str, str]:
    root = str(root)
    return {
        "sequences": os.path.join(root, f"{chrom}.sequences.parquet"),
        "map": os.path.join(root, f"{chrom}.map.parquet"),
        "counts": os.path.join(root, f"{chrom}.counts.tsv"),
    }


def read_store(
    root: str | os.PathLike, chroms: str | Iterable[str], genes: Iterable[str] | None = None,
    individuals: Iterable[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sequences, map) of one or more chromosomes of a store directory, optionally only some genes/individuals."""
    chroms = [chroms] if isinstance(chroms, str) else list(chroms)
    seq_filter = [("gene_id", "in", list(genes))] if genes is not None else None
    map_filter = list(seq_filter or [])
    if individuals is not None:
        map_filter.append(("individual", "in", list(individuals)))
    sequences, maps = [], []
    for chrom in chroms:
        paths = store_paths(root, chrom)
        sequences.append(pq.read_table(paths["sequences"], filters=seq_filter).to_pandas())
        maps.append(pq.read_table(paths["map"], filters=map_filter or None).to_pandas())
    return pd.concat(sequences, ignore_index=True), pd.concat(maps, ignore_index=True)


def haplotype_sequences(sequences: pd.DataFrame, hap_map: pd.DataFrame) -> pd.DataFrame:
    """Join the map onto the sequences: one row per (gene_id, individual, haplotype) with its sequence."""
    return hap_map.merge(sequences, on=["gene_id", "hap_id"], how="left", validate="many_to_one")


def export_fasta(
    root: str | os.PathLike, chrom: str, genes: Sequence[str], individuals: Sequence[str] | None,
    out: str | os.PathLike, include_reference: bool = True,
) -> int:
    """Write the variable-length haplotypes (forward strand) of `genes` for `individuals` (None: all) as FASTA.

    Headers: `>{gene_id}|{individual}|{haplotype}|hap_id={k}|tss_offset={o}`; the reference as individual
    `reference`, haplotype 0. Returns the number of records written.
    """
    sequences, hap_map = read_store(root, chrom, genes=genes, individuals=individuals)
    missing = sorted(set(genes) - set(sequences["gene_id"]))
    if missing:
        raise KeyError(f"genes {missing[:10]} are not in the haplotype store of {chrom} ({root})")
    if individuals is not None:
        absent = sorted(set(individuals) - set(hap_map["individual"]))
        if absent:
            raise KeyError(f"individuals {absent[:10]} are not in the haplotype store of {chrom} ({root})")
    rows = haplotype_sequences(sequences, hap_map).sort_values(["gene_id", "individual", "haplotype"])
    n = 0
    with atomic_path(out) as tmp, open(tmp, "w") as fh:
        for gene_id in genes:
            parts = []
            if include_reference:
                ref = sequences[(sequences["gene_id"] == gene_id) & (sequences["hap_id"] == 0)].iloc[0]
                parts.append((f"{gene_id}|reference|0|hap_id=0|tss_offset={ref.tss_offset}", ref.sequence))
            for r in rows[rows["gene_id"] == gene_id].itertuples():
                parts.append((f"{gene_id}|{r.individual}|{r.haplotype}|hap_id={r.hap_id}|tss_offset={r.tss_offset}",
                              r.sequence))
            for header, seq in parts:
                fh.write(f">{header}\n")
                for i in range(0, len(seq), 60):
                    fh.write(seq[i : i + 60] + "\n")
                n += 1
    return n
