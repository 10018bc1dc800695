"""Check a haplotype store against `bcftools consensus -s SAMPLE -H 1pIu/2pIu` on the same regions.

One bcftools call per (individual, haplotype) covers every window: the windows are written as one FASTA whose
records are named `CHROM:FROM-TO` (VCF spelling), which bcftools consensus reads as regions.
"""

import os
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from hapexpr.haplotypes import Window, gene_windows, merged_windows, read_store
from hapexpr.reference import Reference
from hapexpr.variants import VcfReader


def read_fasta(text: str) -> list[tuple[str, str]]:
    records, name, parts = [], None, []
    for line in text.splitlines():
        if line.startswith(">"):
            if name is not None:
                records.append((name, "".join(parts)))
            name, parts = line[1:].strip(), []
        elif line:
            parts.append(line.strip())
    if name is not None:
        records.append((name, "".join(parts)))
    return records


def write_region_fasta(reference: Reference, fasta_chrom: str, vcf_chrom: str, windows: Sequence[Window],
                       path: str | os.PathLike) -> list[tuple[int, int]]:
    """Windows clipped to the chromosome as a region FASTA; returns the N padding (left, right) of each."""
    length = reference.length(fasta_chrom)
    pads = []
    with open(path, "w") as fh:
        for w in windows:
            s, e = max(w.start, 0), min(w.end, length)
            seq = reference.fetch(fasta_chrom, s, e)
            fh.write(f">{vcf_chrom}:{s + 1}-{e}\n")
            for i in range(0, len(seq), 60):
                fh.write(seq[i : i + 60] + "\n")
            pads.append((s - w.start, w.end - e))
    return pads


def bcftools_consensus(
    vcf: str, region_fasta: str, sample: str, haplotype: int, bcftools: str = "bcftools"
) -> list[str]:
    """Sequences of every region of `region_fasta` with `sample`'s haplotype (1|2) applied by bcftools."""
    proc = subprocess.run(
        [bcftools, "consensus", "-s", sample, "-H", f"{haplotype}pIu", "-f", region_fasta, vcf],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bcftools consensus -s {sample} -H {haplotype}pIu failed: {proc.stderr[-2000:]}")
    return [seq for _, seq in read_fasta(proc.stdout)]


def gt_only_vcf(vcf: str, out: str, bcftools: str = "bcftools", regions: str | None = None,
                samples: Sequence[str] | None = None) -> str:
    """A BCF copy of `vcf` without INFO and FORMAT fields other than GT (bcftools consensus reads only GT, and parsing
    GL/DS of every sample for every overlapping window dominates its run time otherwise), of the records that overlap
    `regions` (a bcftools regions file; records elsewhere cannot change a window) and the columns of `samples` only:
    each bcftools consensus call reads the whole file once. The CSI index has 1-Mb bins (`-m 20`): bcftools consensus
    queries the index from each FASTA region's start to the chromosome's end, and at the default 16-kb bins that query
    was 90% of a call's time (perf: hts_itr_query; 127 ms instead of 14 for 31 windows, the same output)."""
    steps = [[bcftools, "annotate", "-x", "INFO,^FORMAT/GT", *(["-R", regions] if regions else []), "-Ou", "-o",
              f"{out}.tmp.bcf", vcf],
             [bcftools, "view", *(["-s", ",".join(samples)] if samples is not None else []), "-Ob", "-o", out,
              f"{out}.tmp.bcf"],
             [bcftools, "index", "-m", "20", out]]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr[-2000:]}")
    os.remove(f"{out}.tmp.bcf")
    return out


def _describe(w: Window, sample: str, hap: int, got: str, expected: str) -> str:
    where = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
    return (f"{w.gene_id} {sample} hap {hap} [{w.start},{w.end}): store length {len(got)}, bcftools {len(expected)}, "
            f"first difference at {where}: store {got[where:where + 20]!r} bcftools {expected[where:where + 20]!r}")


def compare_with_bcftools(
    store_root: str | os.PathLike, chrom: str, vcf: str, fasta: str, genes: pd.DataFrame, window: int,
    individuals: Sequence[str] | None = None, vcf_chrom: str | None = None, threads: int = 2,
    bcftools: str = "bcftools",
) -> tuple[int, list[str]]:
    """Compare every stored variable-length haplotype with bcftools consensus; returns (n compared, mismatches)."""
    genes = genes[genes["chrom"] == chrom]
    windows = gene_windows(genes, window)
    sequences, hap_map = read_store(store_root, chrom, individuals=individuals)
    stored = hap_map.merge(sequences, on=["gene_id", "hap_id"])
    by_key = {(g, i, h): s for g, i, h, s in
              zip(stored["gene_id"], stored["individual"], stored["haplotype"], stored["sequence"])}
    samples = sorted(set(hap_map["individual"])) if individuals is None else list(individuals)
    if vcf_chrom is None:
        reader = VcfReader(vcf)
        vcf_chrom = reader.chrom_name(chrom) or chrom
        reader.close()
    reference = Reference(fasta)
    with tempfile.TemporaryDirectory() as tmp:
        region_fasta = str(Path(tmp) / "windows.fa")
        pads = write_region_fasta(reference, chrom, vcf_chrom, windows, region_fasta)
        regions = Path(tmp) / "windows.tsv"  # the windows, merged where they overlap, as a bcftools regions file
        regions.write_text("".join(f"{vcf_chrom}\t{max(a, 0) + 1}\t{max(b, 1)}\n"
                                   for a, b, _ in merged_windows(sorted(windows, key=lambda w: w.start))))
        vcf = gt_only_vcf(vcf, str(Path(tmp) / "gt.bcf"), bcftools, str(regions),
                          samples if individuals is not None else None)
        jobs = [(s, h) for s in samples for h in (1, 2)]
        mismatches: list[str] = []
        n = 0
        with ThreadPoolExecutor(max_workers=threads) as pool:
            outputs = pool.map(lambda job: bcftools_consensus(vcf, region_fasta, job[0], job[1], bcftools), jobs)
            for (sample, hap), seqs in zip(jobs, outputs):  # compared as they come: memory holds a few calls
                if len(seqs) != len(windows):
                    mismatches.append(f"{sample} hap {hap}: bcftools returned {len(seqs)} regions for "
                                      f"{len(windows)} windows")
                    continue
                for w, (left, right), expected in zip(windows, pads, seqs):
                    expected = "N" * left + expected + "N" * right
                    got = by_key.get((w.gene_id, sample, hap))
                    n += 1
                    if got != expected:
                        mismatches.append(_describe(w, sample, hap, got or "", expected))
    reference.close()
    return n, mismatches
