"""Elastic net at Geuvadis scale: hapexpr.elastic_net.fit_gene against a plain per-gene ElasticNetCV loop.

450 individuals (msprime genotypes with realistic LD), cis windows of 2,000-10,000 variants (MAF >= 0.01), 1-3 planted
causal variants per gene; 360 training individuals (5 shared folds, lambda by CV) and 90 held out. Both methods get
the same standardised dosages, the same lambda grid (100 values, min ratio 0.01), the same folds and tolerance, so the
held-out r should agree; seconds per gene are medians over genes, measured in the same run, one thread.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/elastic_net.py --genes 3 --sizes 2000 5000 10000
"""

import argparse
import sys
import time
from pathlib import Path

import msprime
import numpy as np
from sklearn.linear_model import ElasticNetCV
from sklearn.model_selection import PredefinedSplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
from hapexpr.elastic_net import ElasticNetConfig, fit_gene, lambda_grid, make_folds  # noqa: E402


def genotypes(n_individuals: int, length: float, seed: int) -> np.ndarray:
    ts = msprime.sim_ancestry(samples=n_individuals, population_size=10_000, sequence_length=length,
                              recombination_rate=1e-8, random_seed=seed)
    ts = msprime.sim_mutations(ts, rate=2.5e-8, random_seed=seed + 1)
    haps = ts.genotype_matrix()
    dosage = (haps[:, 0::2] + haps[:, 1::2]).astype(np.int8)
    freq = dosage.mean(axis=1) / 2
    return dosage[(np.minimum(freq, 1 - freq) >= 0.01)].T  # individuals x variants


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genes", type=int, default=3, help="genes per window size")
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 10000])
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    dos = genotypes(450, 2_400_000, args.seed)
    print(f"simulated {dos.shape[1]} variants with MAF >= 0.01 for {dos.shape[0]} individuals", flush=True)
    n = dos.shape[0]
    train = np.zeros(n, bool)
    train[rng.permutation(n)[:360]] = True
    folds = make_folds(int(train.sum()), 5, args.seed)
    rows = []
    for p in args.sizes:
        p = min(p, dos.shape[1])
        for g in range(args.genes):
            start = int(rng.integers(0, dos.shape[1] - p + 1))
            d = dos[:, start : start + p].astype(float)
            mean, sd = d[train].mean(axis=0), d[train].std(axis=0)
            keep = sd > 0
            x = (d[:, keep] - mean[keep]) / sd[keep]
            causal = rng.choice(x.shape[1], int(rng.integers(1, 4)), replace=False)
            genetic = x[:, causal] @ rng.normal(0, 1, len(causal))
            h2 = rng.uniform(0.1, 0.5)
            y = genetic + rng.normal(scale=np.sqrt(genetic.var() * (1 - h2) / h2), size=n)
            result = {"p": int(keep.sum()), "gene": g}
            for label, patience in (("hapexpr", 20), ("hapexpr_full_path", 0)):
                t0 = time.perf_counter()
                fit = fit_gene(x[train], y[train], folds, ElasticNetConfig(patience=patience))
                result[f"{label}_s"] = time.perf_counter() - t0
                result[f"{label}_r"] = np.corrcoef(x[~train] @ fit.coef + fit.intercept, y[~train])[0, 1]
            lambdas = lambda_grid(x[train], y[train], 0.5, 100, 0.01)
            t0 = time.perf_counter()
            model = ElasticNetCV(l1_ratio=0.5, alphas=lambdas, cv=PredefinedSplit(folds), tol=1e-4,
                                 max_iter=10_000).fit(x[train], y[train])
            result["sklearn_s"] = time.perf_counter() - t0
            result["sklearn_r"] = np.corrcoef(model.predict(x[~train]), y[~train])[0, 1]
            rows.append(result)
            print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()),
                  flush=True)
    print("\n| cis variants | genes | hapexpr s/gene | full path s/gene | ElasticNetCV s/gene | speed-up | "
          "speed-up (full path) | mean r hapexpr | mean r full path | mean r ElasticNetCV | max abs r diff |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for p in args.sizes:
        part = rows[args.sizes.index(p) * args.genes : (args.sizes.index(p) + 1) * args.genes]
        med = {k: float(np.median([r[k] for r in part])) for k in ("hapexpr_s", "hapexpr_full_path_s", "sklearn_s")}
        mean_r = {k: float(np.mean([r[k] for r in part])) for k in ("hapexpr_r", "hapexpr_full_path_r", "sklearn_r")}
        diff = max(abs(r["hapexpr_r"] - r["sklearn_r"]) for r in part)
        print(f"| {int(np.median([r['p'] for r in part]))} | {len(part)} | {med['hapexpr_s']:.3f} | "
              f"{med['hapexpr_full_path_s']:.3f} | {med['sklearn_s']:.2f} | "
              f"{med['sklearn_s'] / med['hapexpr_s']:.1f}x | {med['sklearn_s'] / med['hapexpr_full_path_s']:.1f}x | "
              f"{mean_r['hapexpr_r']:.4f} | {mean_r['hapexpr_full_path_r']:.4f} | {mean_r['sklearn_r']:.4f} | "
              f"{diff:.4f} |")


if __name__ == "__main__":
    main()
