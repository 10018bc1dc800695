"""Benchmark: building every (individual, haplotype, gene) window sequence, hapexpr vs peers, same input.

Input: a chromosome simulated with msprime (realistic linkage: Ne 10,000, recombination 1e-8, mutation
1.25e-8 per bp), SNVs from the coalescent plus a share of them turned into indels, phased; genes at random
positions. Peers, each run in a fresh subprocess (peak memory = its ru_maxrss):
  hapexpr       build_store: unique haplotypes once, Parquet store written (and `hapexpr_mem`: built, not written)
  naive         pyfaidx + cyvcf2: every haplotype of every gene built as a string (same overlap rule)
  bcftools_gene `bcftools consensus -s S -H 1pIu|2pIu` per gene, individual, haplotype (the published method):
                a random sample of calls is timed and extrapolated to all of them
  bcftools_ind  one bcftools consensus call per individual and haplotype over all windows: a sample of
                individuals is timed and extrapolated
  genvarloader  GenVarLoader (PyPI genvarloader): gvl.write (conversion, reported apart) then reading every
                haplotype of every region through its Dataset API

Usage: python benchmarks/haplotypes.py [--quick] [--individuals N] [--genes G] [--length L] [--repeats R]
Results: a table on stdout and benchmarks/results/haplotypes.tsv (medians over repeats).
"""

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

WINDOWS = (4_000, 49_152, 196_608)


# ---------------------------------------------------------------- simulation
def simulate(out: Path, n_individuals: int, length: int, n_genes: int, seed: int, indel_share: float = 0.1) -> dict:
    """Reference FASTA, phased VCF (bgzip + tbi) and gene table of one simulated chromosome."""
    import msprime
    import pysam

    rng = np.random.default_rng(seed)
    ts = msprime.sim_ancestry(n_individuals, sequence_length=length, recombination_rate=1e-8,
                              population_size=10_000, random_seed=seed)
    ts = msprime.sim_mutations(ts, rate=1.25e-8, random_seed=seed)
    ref = np.array(list("ACGT"))[rng.integers(0, 4, length)]
    sites, rows = [], []
    G = ts.genotype_matrix()  # sites x 2N, allele indices into variant.alleles
    last_end = 0
    for var, g in zip(ts.variants(), G):
        pos = int(var.site.position)
        alleles = [a for a in var.alleles if a is not None]
        if pos < 1 or pos >= length - 60 or len(alleles) < 2:
            continue
        ref[pos] = alleles[0]
        r, alts = alleles[0], alleles[1:]
        u = rng.random()
        if u < indel_share / 2 and len(alts) == 1:  # deletion of 1-20 bp
            k = int(rng.integers(1, 21))
            r, alts = "".join(ref[pos : pos + k + 1]), [alleles[0]]
        elif u < indel_share and len(alts) == 1:  # insertion of 1-20 bp
            alts = [r + "".join(rng.choice(list("ACGT"), int(rng.integers(1, 21))))]
        sites.append((pos, r, alts))
        rows.append(g)
        last_end = pos
    # REF of deletions taken after all ancestral states are set (a deletion may span later SNV sites)
    sites = [(p, "".join(ref[p : p + len(r)]) if len(r) > 1 else ref[p], a) for p, r, a in sites]
    seq = "".join(ref)
    chrom = "chr1"
    with open(out / "ref.fa", "w") as fh:
        fh.write(f">{chrom}\n")
        for i in range(0, length, 60):
            fh.write(seq[i : i + 60] + "\n")
    pysam.faidx(str(out / "ref.fa"))
    samples = [f"I{i:05d}" for i in range(n_individuals)]
    pair = {}
    with open(out / "sim.vcf", "w") as fh:
        fh.write("##fileformat=VCFv4.2\n" f"##contig=<ID={chrom},length={length}>\n"
                 '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
                 "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n")
        for (pos, r, alts), g in zip(sites, rows):
            g = g.reshape(-1, 2)
            codes = g[:, 0] * 16 + g[:, 1]
            gts = [pair.setdefault(c, f"{c // 16}|{c % 16}") for c in codes.tolist()]
            fh.write(f"{chrom}\t{pos + 1}\t.\t{r}\t{','.join(alts)}\t.\tPASS\t.\tGT\t" + "\t".join(gts) + "\n")
    pysam.tabix_compress(str(out / "sim.vcf"), str(out / "sim.vcf.gz"), force=True)
    pysam.tabix_index(str(out / "sim.vcf.gz"), preset="vcf", force=True)
    os.unlink(out / "sim.vcf")
    tss = np.sort(rng.choice(np.arange(200_000, length - 200_000), n_genes, replace=False))
    genes = pd.DataFrame({"gene_id": [f"G{i:04d}" for i in range(n_genes)], "gene_name": "g",
                          "biotype": "protein_coding",
                          "chrom": chrom, "tss": tss, "strand": rng.choice(["+", "-"], n_genes), "split": "train",
                          "y_cross_gene": 0.0})
    genes.to_csv(out / "genes.tsv", sep="\t", index=False)
    info = {"individuals": n_individuals, "length": length, "genes": n_genes, "records": len(sites),
            "indels": sum(len(r) != len(a[0]) for _, r, a in sites)}
    (out / "sim.json").write_text(json.dumps(info))
    return info


# ---------------------------------------------------------------- methods (run in a child process)
N_GENES = None  # set by the child from --n-genes: the first N genes only (long windows)


def read_genes(d: Path) -> pd.DataFrame:
    genes = pd.read_csv(d / "genes.tsv", sep="\t")
    return genes.iloc[:N_GENES] if N_GENES else genes

def run_hapexpr(d: Path, window: int, write: bool) -> dict:
    from hapexpr.haplotypes import build_store, build_window, gene_windows, iter_window_records
    from hapexpr.reference import Reference
    from hapexpr.variants import VcfReader

    genes = read_genes(d)
    samples = VcfReader(str(d / "sim.vcf.gz")).individuals
    t = time.perf_counter()
    if write:
        out = Path(tempfile.mkdtemp(dir=d))
        counts = build_store(d / "sim.vcf.gz", d / "ref.fa", genes, "chr1", window, samples,
                             out / "s.parquet", out / "m.parquet", out / "c.tsv")
        unique = counts["n_unique"].to_numpy()
        bp = None
        size = sum(f.stat().st_size for f in out.iterdir())
        shutil.rmtree(out)
    else:
        reader, ref = VcfReader(str(d / "sim.vcf.gz"), samples), Reference(d / "ref.fa")
        unique, bp, size = [], 0, None
        for w, records in iter_window_records(reader, "chr1", gene_windows(genes, window)):
            res = build_window(w, ref.fetch("chr1", w.start, w.end), records, 2 * len(samples))
            unique.append(res.counts["n_unique"])
        unique = np.array(unique)
    elapsed = time.perf_counter() - t
    return {"seconds": elapsed, "unique_share": float(np.mean(unique) / (2 * len(samples))), "store_bytes": size}


def run_naive(d: Path, window: int) -> dict:
    """pyfaidx + cyvcf2: every haplotype of every window as its own string; overlapping variants skipped."""
    import cyvcf2
    import pyfaidx

    from hapexpr.haplotypes import window_bounds

    genes = read_genes(d)
    t = time.perf_counter()
    fasta = pyfaidx.Fasta(str(d / "ref.fa"), as_raw=True)
    vcf = cyvcf2.VCF(str(d / "sim.vcf.gz"))
    n_haps = 2 * len(vcf.samples)
    total_bp = 0
    for tss, strand in zip(genes["tss"], genes["strand"]):
        start, end = window_bounds(int(tss), strand, window)
        refseq = fasta["chr1"][start:end]
        recs, gts = [], []
        for v in vcf(f"chr1:{start + 1}-{end}"):
            if v.POS - 1 < start:
                continue
            recs.append((v.POS - 1, v.REF, v.ALT))
            gts.append(v.genotype.array()[:, :2].reshape(-1))
        gts = np.array(gts, dtype=np.int8).reshape(len(recs), n_haps)
        for h in range(n_haps):
            out, cursor = [], start
            for i in np.flatnonzero(gts[:, h] > 0):
                pos, ref, alts = recs[i]
                if pos < cursor:
                    continue
                out.append(refseq[cursor - start : pos - start])
                out.append(alts[gts[i, h] - 1])
                cursor = min(pos + len(ref), end)
            out.append(refseq[cursor - start :])
            total_bp += len("".join(out))
    return {"seconds": time.perf_counter() - t, "bp": total_bp}


def _region_fasta(d: Path, windows, path: Path) -> None:
    from hapexpr.reference import Reference

    ref = Reference(d / "ref.fa")
    with open(path, "w") as fh:
        for w in windows:
            seq = ref.fetch("chr1", w.start, w.end)
            fh.write(f">chr1:{w.start + 1}-{w.end}\n")
            for i in range(0, len(seq), 60):
                fh.write(seq[i : i + 60] + "\n")


def run_bcftools_gene(d: Path, window: int, n_calls: int, seed: int) -> dict:
    """Time `n_calls` random (gene, individual, haplotype) consensus calls; extrapolate to all of them."""
    from hapexpr.haplotypes import gene_windows
    from hapexpr.variants import VcfReader

    genes = read_genes(d)
    windows = gene_windows(genes, window)
    samples = VcfReader(str(d / "sim.vcf.gz")).individuals
    rng = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(dir=d))
    calls = [(rng.randrange(len(windows)), rng.choice(samples), rng.choice((1, 2))) for _ in range(n_calls)]
    for g in {c[0] for c in calls}:
        _region_fasta(d, [windows[g]], tmp / f"{g}.fa")
    t = time.perf_counter()
    for g, s, h in calls:
        subprocess.run(["bcftools", "consensus", "-s", s, "-H", f"{h}pIu", "-f", str(tmp / f"{g}.fa"),
                        "-o", str(tmp / "out.fa"), str(d / "sim.vcf.gz")], check=True, capture_output=True)
    per_call = (time.perf_counter() - t) / n_calls
    shutil.rmtree(tmp)
    return {"seconds": per_call * len(windows) * 2 * len(samples), "extrapolated_from_calls": n_calls}


def run_bcftools_individual(d: Path, window: int, n_individuals: int, seed: int) -> dict:
    """Time one consensus call per (individual, haplotype) over all windows for a sample; extrapolate."""
    from hapexpr.haplotypes import gene_windows
    from hapexpr.variants import VcfReader

    genes = read_genes(d)
    windows = gene_windows(genes, window)
    samples = VcfReader(str(d / "sim.vcf.gz")).individuals
    chosen = random.Random(seed).sample(samples, n_individuals)
    tmp = Path(tempfile.mkdtemp(dir=d))
    _region_fasta(d, windows, tmp / "all.fa")
    t = time.perf_counter()
    for s in chosen:
        for h in (1, 2):
            subprocess.run(["bcftools", "consensus", "-s", s, "-H", f"{h}pIu", "-f", str(tmp / "all.fa"),
                            "-o", str(tmp / "out.fa"), str(d / "sim.vcf.gz")], check=True, capture_output=True)
    per_individual = (time.perf_counter() - t) / n_individuals
    shutil.rmtree(tmp)
    return {"seconds": per_individual * len(samples), "extrapolated_from_individuals": n_individuals}


def run_genvarloader(d: Path, window: int) -> dict:
    """GenVarLoader: gvl.write (VCF -> its dataset; timed apart) then every haplotype of every region read."""
    import genvarloader as gvl

    from hapexpr.haplotypes import gene_windows

    genes = read_genes(d)
    windows = gene_windows(genes, window)
    bed = pd.DataFrame({"chrom": "chr1", "chromStart": [w.start for w in windows],
                        "chromEnd": [w.end for w in windows]})
    out = Path(tempfile.mkdtemp(dir=d)) / "gvl"
    t = time.perf_counter()
    import polars as pl

    # gvl reconstructs bi-allelic variants only: split multi-allelic records first, as its error message advises
    split = out.parent / "split.vcf.gz"
    subprocess.run(["bcftools", "norm", "-m", "-any", "-Oz", "-o", str(split), str(d / "sim.vcf.gz")], check=True,
                   capture_output=True)
    subprocess.run(["bcftools", "index", "-t", str(split)], check=True)
    gvl.write(out, pl.from_pandas(bed), variants=str(split), overwrite=True)
    convert = time.perf_counter() - t
    t = time.perf_counter()
    ds = gvl.Dataset.open(out, reference=str(d / "ref.fa")).with_seqs("haplotypes").with_len("variable")
    n_regions, n_samples = ds.shape
    step = max(1, int(1e9 // (2 * n_samples * window)))  # about 1 GB of sequence per batch of regions
    total_bp = 0
    for r in range(0, n_regions, step):
        haps = ds[r : r + step, :]
        total_bp += int(sum(x.size for x in _flatten(haps)))
    elapsed = time.perf_counter() - t
    shutil.rmtree(out.parent)
    return {"seconds": elapsed, "convert_seconds": convert, "bp": total_bp}


def _flatten(obj):
    if hasattr(obj, "to_numpy") or isinstance(obj, np.ndarray):
        yield np.asarray(obj)
    elif hasattr(obj, "data") and hasattr(obj, "offsets"):
        yield np.asarray(obj.data)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _flatten(o)
    else:
        yield np.asarray(obj)


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss it is not inherited across fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args) -> None:
    global N_GENES
    N_GENES = args.n_genes
    d, w = Path(args.data), args.window
    if args.method == "hapexpr":
        res = run_hapexpr(d, w, write=True)
    elif args.method == "hapexpr_mem":
        res = run_hapexpr(d, w, write=False)
    elif args.method == "naive":
        res = run_naive(d, w)
    elif args.method == "bcftools_gene":
        res = run_bcftools_gene(d, w, args.calls, args.seed)
    elif args.method == "bcftools_ind":
        res = run_bcftools_individual(d, w, args.sample_individuals, args.seed)
    elif args.method == "genvarloader":
        res = run_genvarloader(d, w)
    else:
        raise SystemExit(f"unknown method {args.method}")
    res["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(res))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes: 100 individuals, 600 kb, 20 genes, 1 repeat")
    p.add_argument("--individuals", type=int, default=2000)
    p.add_argument("--length", type=int, default=5_000_000)
    p.add_argument("--genes", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--windows", type=int, nargs="+", default=list(WINDOWS))
    p.add_argument("--methods", nargs="+",
                   default=["hapexpr", "hapexpr_mem", "naive", "bcftools_gene", "bcftools_ind", "genvarloader"])
    p.add_argument("--calls", type=int, default=60, help="bcftools_gene: calls timed")
    p.add_argument("--sample-individuals", type=int, default=3, help="bcftools_ind: individuals timed")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", default=None)
    p.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "haplotypes.tsv"))
    p.add_argument("--method", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--window", type=int, help=argparse.SUPPRESS)
    p.add_argument("--n-genes", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--long-genes", type=int, default=50,
                   help="genes used for windows >= 100 kb (every haplotype of 196 kb x all genes is 150+ GB of text)")
    p.add_argument("--long-repeats", type=int, default=1, help="repeats for windows >= 100 kb")
    args = p.parse_args()
    if args.method:
        return child(args)
    if args.quick:
        args.individuals, args.length, args.genes, args.repeats = 100, 600_000, 20, 1
        args.calls, args.sample_individuals = 10, 1
    work = Path(args.workdir or tempfile.mkdtemp(prefix="hapbench_"))
    work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    info = simulate(work, args.individuals, args.length, args.genes, args.seed)
    print(f"simulated in {time.perf_counter() - t:.1f}s: {info}", flush=True)
    rows = []
    for window in args.windows:
        long = window >= 100_000
        n_genes = min(args.long_genes, info["genes"]) if long else info["genes"]
        n_hw = n_genes * 2 * info["individuals"]
        repeats = args.long_repeats if long else args.repeats
        for method in args.methods:
            runs = []
            for _ in range(1 if method.startswith("bcftools") else repeats):
                proc = subprocess.run([sys.executable, __file__, "--method", method, "--data", str(work), "--window",
                                       str(window), "--calls", str(args.calls), "--sample-individuals",
                                       str(args.sample_individuals), "--seed", str(args.seed), "--n-genes",
                                       str(n_genes)], capture_output=True, text=True)
                line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
                if proc.returncode != 0 or not line:
                    print(f"{method} W={window} failed:\n{proc.stderr[-3000:]}", flush=True)
                    break
                runs.append(json.loads(line[0][7:]))
            if not runs:
                rows.append({"window": window, "method": method, "genes": n_genes, "status": "failed"})
                continue
            sec = statistics.median(r["seconds"] for r in runs)
            row = {"window": window, "method": method, "genes": n_genes, "runs": len(runs), "seconds": sec,
                   "hap_windows_per_s": n_hw / sec, "bp_per_s": n_hw * window / sec,
                   "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "status": "ok"}
            for key in ("unique_share", "convert_seconds", "store_bytes", "extrapolated_from_calls",
                        "extrapolated_from_individuals"):
                if key in runs[0] and runs[0][key] is not None:
                    row[key] = statistics.median(r[key] for r in runs)
            rows.append(row)
            print(json.dumps(row), flush=True)
    table = pd.DataFrame(rows)
    for window in args.windows:
        sel = table[(table.window == window) & (table.status == "ok")].set_index("method")["seconds"]
        if "hapexpr" in sel:
            table.loc[table.window == window, "hapexpr_speedup"] = table.loc[table.window == window, "method"].map(
                lambda m: sel.get(m, np.nan) / sel["hapexpr"])
    for k, v in info.items():
        table[f"sim_{k}"] = v
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.output, sep="\t", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.drop(columns=[c for c in table if c.startswith("sim_")]).to_string(index=False))
    if not args.workdir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
