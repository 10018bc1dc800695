"""Benchmark: DExTER re-implementation at the published human size (14,940 training genes of 4 kb) on 2 cores.

Simulated windows with planted signal (three motifs in three bins, plus GC content) are searched and fitted;
wall time per run is reported as the median of --repeats runs, with the domains found.

With --original DIR (a checkout of DExTER's code, https://gite.lirmm.fr/menichelli/DExTER, not shipped here),
the original's exploration (its Segmentator, Models, fasta_parser and JobScheduler modules, driven the way its
Main.py drives them, without the display threads) runs on the same genes, and the two domain sets are compared.
The original is pure Python (hours at full size), so the comparison uses the first --original-genes genes.

    python benchmarks/dexter.py              # full size
    python benchmarks/dexter.py --quick      # 1,500 genes
    python benchmarks/dexter.py --quick --original /path/to/DExTER --original-pythonpath /path/with/bitarray
"""

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")

import json  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from hapexpr.dexter import DExTER, dexter_bins  # noqa: E402

# (motif, first and last position relative to the TSS, effect per copy, mean copies)
PLANTED = [("TATAAA", -100, -20, 0.6, 1.5), ("GGGCGG", -330, -130, 0.4, 2.0), ("CAGCTG", 130, 330, -0.5, 1.5)]


def simulate(n: int, length: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Windows (TSS at length // 2) with per-gene GC content and planted motif copies; target = signal + noise."""
    rng = np.random.default_rng(seed)
    gc = rng.beta(8, 8, n)
    u = rng.random((n, length))
    at = (1 - gc)[:, None] / 2
    codes = np.where(u < at, 0, np.where(u < 2 * at, 3, np.where(u < 2 * at + gc[:, None] / 2, 1, 2))).astype(np.uint8)
    y = 2.0 * (gc - 0.5)
    tss = length // 2
    for motif, lo, hi, effect, mean in PLANTED:
        copies = rng.poisson(mean, n)
        m = np.array(["ACGT".index(c) for c in motif], dtype=np.uint8)
        for g in np.nonzero(copies)[0]:
            for p in rng.integers(tss + lo, tss + hi - len(motif) + 1, copies[g]):
                codes[g, p : p + len(motif)] = m
        y = y + effect * copies
    y = y + rng.normal(0, 0.8, n)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)[codes]
    return [row.tobytes().decode() for row in letters], y


def run_mine(seqs, y, args):
    times, model = [], None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        model = DExTER(n_jobs=2, max_k=args.max_k).fit(seqs, y)
        times.append(time.perf_counter() - t0)
    return model, times


def run_original_subprocess(seqs, y, args, workdir: Path) -> dict:
    fasta = workdir / "genes.fa"
    with open(fasta, "w") as fh:
        for i, s in enumerate(seqs):
            fh.write(f">g{i:05d}\n{s}\n")
    expr = {f"g{i:05d}": float(v) for i, v in enumerate(y)}
    (workdir / "expr.json").write_text(json.dumps(expr))
    cmd = [sys.executable, __file__, "--_original-driver", str(workdir), "--original", args.original,
           "--original-pythonpath", args.original_pythonpath or "", "--max-k", str(args.max_k or 0)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"the original failed:\n{proc.stderr[-4000:]}")
    result = json.loads((workdir / "original_domains.json").read_text())
    result["wall_s"] = wall
    return result


def original_driver(workdir: Path, original: str, pythonpath: str, max_k: int) -> None:
    """Run in a child process: the original's exploration, with its display and file-output helpers stubbed."""
    import types
    import warnings

    np.warnings = warnings  # the original's Models.py calls np.warnings (removed in numpy 2)
    for p in [pythonpath, original]:
        if p:
            sys.path.insert(0, p)
    pw = types.SimpleNamespace(
        motif_min_size=2, correlation_increase=0.01, correlation_increase_ratio=0.10, correlation_min=0.0,
        kmer_max_length=max_k, init_lasso=False, logistic=False, verbose=False, nb_thread=2,
        experience_directory=str(workdir / "experience"), fasta_parser=None,
    )
    printer = types.SimpleNamespace(print_root_domain=lambda *a: None, print_domain=lambda *a: None)
    pw.graph_printer = printer
    stubs = {
        "PropertiesWrapper": types.SimpleNamespace(properties_wrapper_instance=pw),
        "Broker": types.SimpleNamespace(),
        "GraphPrinter": types.SimpleNamespace(GraphPrinter=types.SimpleNamespace(BLUE=0, GREEN=0, MAGENTA=0)),
        "LatticePrinter": types.SimpleNamespace(), "build_model": types.SimpleNamespace(),
        "lasso": types.SimpleNamespace(),
    }
    for name, mod in stubs.items():
        sys.modules[name] = mod
    import JobScheduler
    import Segmentator
    from fasta_parser import FastaParser
    from Models import Domain

    expr = json.loads((workdir / "expr.json").read_text())
    pw.training_set = list(expr)
    pw.dct_gene_expr = expr
    t0 = time.perf_counter()
    pw.fasta_parser = FastaParser(str(workdir / "genes.fa"))
    length = len(open(workdir / "genes.fa").readlines()[1].strip())
    lattice = Segmentator.generate_segment_lattice(13, length, length // 2)
    Segmentator.lattice_segments = lattice
    broker = types.SimpleNamespace(NUCLEOTIDES=["A", "T", "G", "C"], IUPAC=[], domain_obj_waiting=[],
                                   domain_obj_done=set(), lattice_kmer_obj_ready={}, time_kmers=0, time_domains=0)
    for n1 in broker.NUCLEOTIDES:  # as Main.py seeds the search
        for n2 in broker.NUCLEOTIDES:
            root = Domain(n1 + n2, lattice.get_max_rank(), 0)
            root.is_root = True
            root.is_valid = True
            broker.domain_obj_waiting.append(root)
    JobScheduler.JobScheduler(broker, 2).run()
    search_s = time.perf_counter() - t0
    rows = []
    for d in broker.domain_obj_done:
        if d.is_valid:
            start, end = lattice.get_bounds(d.rank, d.index)
            rho = broker.lattice_kmer_obj_ready[d.kmer_str].structure[d.rank][d.index]
            rows.append([d.kmer_str, start, end, float(rho)])
    (workdir / "original_domains.json").write_text(json.dumps({"domains": rows, "search_s": search_s,
                                                               "kmers_scored": len(broker.lattice_kmer_obj_ready)}))


def compare(mine_domains, original_rows) -> dict:
    mine = {(r.kmer, int(r.start), int(r.end)): r.correlation for r in mine_domains.itertuples()}
    orig = {(k, s, e): rho for k, s, e, rho in original_rows}
    common = set(mine) & set(orig)
    diff = max((abs(mine[c] - orig[c]) for c in common), default=float("nan"))
    return {"mine": len(mine), "original": len(orig), "common": len(common), "only_mine": sorted(set(mine) - set(orig))[:10],
            "only_original": sorted(set(orig) - set(mine))[:10], "max_abs_rho_diff": diff, "identical": set(mine) == set(orig)}


def planted_found(domains) -> list[str]:
    out = []
    bins = dexter_bins(4000, 2000)
    for motif, lo, hi, _, _ in PLANTED:
        want = {i for i, (s, e) in enumerate(bins) if s <= hi and e >= lo}
        hits = domains[(domains.kmer.str.len() >= 4) & domains.kmer.apply(lambda k: k in motif)]
        inside = np.array([set(range(a, b + 1)) <= want for a, b in zip(hits.start_bin, hits.end_bin)], dtype=bool)
        hits = hits.loc[inside]
        best = hits.sort_values("correlation").tail(1)
        out.append(f"{motif}: " + (f"{best.kmer.iloc[0]} [{best.start.iloc[0]},{best.end.iloc[0]}] rho {best.correlation.iloc[0]:.3f}"
                                   if len(best) else "not found"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--genes", type=int, default=14940)
    ap.add_argument("--quick", action="store_true", help="1,500 genes")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-k", type=int, default=None, help="k-mer length limit (default: none, as DExTER)")
    ap.add_argument("--original", help="directory with DExTER's Python modules, to compare against")
    ap.add_argument("--original-pythonpath", help="extra path for the original's dependencies (bitarray)")
    ap.add_argument("--original-genes", type=int, default=1000)
    ap.add_argument("--_original-driver", dest="driver", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.driver:
        original_driver(Path(args.driver), args.original, args.original_pythonpath, args.max_k or 0)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    n = 1500 if args.quick else args.genes
    seqs, y = simulate(n, 4000, args.seed)
    print(f"DExTER re-implementation: {n} genes x 4,000 bp, 2 threads, {args.repeats} run(s)")
    model, times = run_mine(seqs, y, args)
    dom = model.domains_
    print(f"  fit (search + frequencies + LASSO CV) wall s: median {statistics.median(times):.1f}  runs {[round(t, 1) for t in times]}")
    print(f"  domains {len(dom)}, k-mers scored {model.n_kmers_scored_}, domains treated {model.n_domains_treated_}, "
          f"non-zero LASSO coefficients {(dom.coef != 0).sum()}")
    for line in planted_found(dom):
        print("  planted " + line)
    if args.original:
        m = min(args.original_genes, n)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            small = DExTER().search(__import__("hapexpr.dexter", fromlist=["encode"]).encode(seqs[:m]), y[:m])
            mine_s = time.perf_counter() - t0
            res = run_original_subprocess(seqs[:m], y[:m], args, Path(tmp))
        cmp = compare(small, res["domains"])
        print(f"Comparison with the original's exploration on the first {m} genes:")
        print(f"  search wall s: re-implementation {mine_s:.1f}, original {res['search_s']:.1f} "
              f"(ratio {res['search_s'] / mine_s:.0f}x; original process total {res['wall_s']:.1f})")
        print(f"  domains: re-implementation {cmp['mine']}, original {cmp['original']}, common {cmp['common']}, "
              f"identical sets: {cmp['identical']}; max |rho| difference on common domains {cmp['max_abs_rho_diff']:.2e}")
        if not cmp["identical"]:
            print(f"  only re-implementation: {cmp['only_mine']}\n  only original: {cmp['only_original']}")


if __name__ == "__main__":
    main()
