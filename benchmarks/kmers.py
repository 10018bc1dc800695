"""k-mer counting speed: hapexpr.kmers.count_kmers against a Python loop and collections.Counter, same run.

All of k = 1..6, over 13 DExTER-style bins covering 4,001 bp windows (random ACGT with 1% N), so every occurrence is
counted once per k in the bin of its start. bp/s per core = window bases / seconds (one thread, median of runs).
The pure-Python methods run on fewer windows (they are slow) and are scaled per base.

    OMP_NUM_THREADS=1 python benchmarks/kmers.py --windows 2000 --python-windows 20 --runs 3
"""

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
from hapexpr.kmers import count_kmers  # noqa: E402

KS = (1, 2, 3, 4, 5, 6)
W = 4001
# DExTER's 13 bins of a 4,001 bp window aligned at 2,000 (inclusive offsets from the TSS), as index pairs [start, end)
BINS = [(-2000, -1926), (-1925, -1197), (-1196, -685), (-684, -342), (-341, -126), (-125, -1), (0, 0), (1, 125),
        (126, 341), (342, 684), (685, 1196), (1197, 1925), (1926, 2000)]
BINS = [(s + 2000, e + 2001) for s, e in BINS]


def python_loop(seq: str) -> list[dict]:
    """One dict per (k, bin), a position loop with a base-by-base ACGT check."""
    out = [[{} for _ in BINS] for _ in KS]
    bin_of = [0] * len(seq)
    for b, (s, e) in enumerate(BINS):
        for i in range(s, e):
            bin_of[i] = b
    for ki, k in enumerate(KS):
        for i in range(len(seq) - k + 1):
            word = seq[i : i + k]
            ok = True
            for ch in word:
                if ch not in "ACGT":
                    ok = False
                    break
            if ok:
                d = out[ki][bin_of[i]]
                d[word] = d.get(word, 0) + 1
    return out


def counter_slices(seq: str) -> list[Counter]:
    """collections.Counter over the sliced k-mers of each bin; k-mers with N dropped afterwards."""
    out = []
    for k in KS:
        for s, e in BINS:
            c = Counter(seq[i : i + k] for i in range(s, min(e, len(seq) - k + 1)))
            out.append(Counter({w: n for w, n in c.items() if "N" not in w}))
    return out


def timed(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=2000)
    ap.add_argument("--python-windows", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    letters = np.array(list("ACGTN"))
    seqs = ["".join(rng.choice(letters, size=W, p=[0.2475] * 4 + [0.01])) for _ in range(args.windows)]
    few = seqs[: args.python_windows]
    # same answer first: the vectorised counts equal the Counter counts on the small set
    ours = count_kmers(few, KS, BINS)
    for w, seq in enumerate(few):
        ref = counter_slices(seq)
        for ki, k in enumerate(KS):
            for b in range(len(BINS)):
                assert ours[k][w, b].sum() == sum(ref[ki * len(BINS) + b].values())
    t_ours = timed(lambda: count_kmers(seqs, KS, BINS), args.runs)
    t_whole = timed(lambda: count_kmers(seqs, KS), args.runs)
    t_loop = timed(lambda: [python_loop(s) for s in few], args.runs)
    t_counter = timed(lambda: [counter_slices(s) for s in few], args.runs)
    bp, bp_few = len(seqs) * W, len(few) * W
    rates = {"hapexpr.kmers.count_kmers, 13 bins": bp / t_ours, "hapexpr.kmers.count_kmers, whole window": bp / t_whole,
             "Python loop over positions": bp_few / t_loop, "collections.Counter over sliced strings": bp_few / t_counter}
    print(f"k = 1..6, {W} bp windows: {len(seqs)} windows (vectorised), {len(few)} windows (Python), "
          f"median of {args.runs} runs\n")
    print("| method | bp/s per core | vs Python loop | vs Counter |")
    print("|---|---|---|---|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} | {rate / rates['Python loop over positions']:.1f}x | "
              f"{rate / rates['collections.Counter over sliced strings']:.1f}x |")


if __name__ == "__main__":
    main()
