"""DNABERT-2 speed: tokens/s and peak memory of inference and training at 4 kb windows; unique-haplotype savings.

    python benchmarks/dnabert2.py speed --config 117m --tokens 1000 --batch 1 --reps 3
    python benchmarks/dnabert2.py speed --config tiny --tokens 1000 --batch 8 --reps 5
    python benchmarks/dnabert2.py unique --vcf ../shared/realdata/chr22_20Mb_matched/genotypes/...phased.vcf.gz \
        --tss ../shared/realdata/chr22_20Mb_matched/annotation/gencode_v19_chr22_gene_tss.tsv --window 4000

Each `speed` run is one fresh process, so its peak RSS (CPU) or torch.cuda.max_memory_allocated (GPU) is the
model's. Random weights (speed does not depend on them); token ids are random, the count per 4 kb window is
--tokens (DNABERT-2's BPE averages about 4-5 bp per token, so 4 kb is about 800-1000 tokens).
"""

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from hapexpr.dnabert2 import DNABERT2Config, DNABERT2ForRegression  # noqa: E402
from hapexpr.training import autocast_dtype, pick_device  # noqa: E402

CONFIGS = {
    "117m": dict(vocab_size=4096, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072),
    "tiny": dict(vocab_size=1024, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128),
}


def speed(args) -> dict:
    torch.manual_seed(0)
    device = pick_device(args.device)
    amp = autocast_dtype(device, args.precision)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = DNABERT2ForRegression(DNABERT2Config(**CONFIGS[args.config]), pooling="cls").to(device)
    ids = torch.randint(5, CONFIGS[args.config]["vocab_size"], (args.batch, args.tokens), device=device)
    mask = torch.ones_like(ids)
    y = torch.zeros(args.batch, device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def run(train: bool) -> float:
        model.train(train)
        t = time.perf_counter()
        with torch.set_grad_enabled(train), torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            pred = model(ids, mask).float()
        if train:
            loss = ((pred - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    out = {"config": args.config, "device": str(device), "precision": str(amp), "batch": args.batch,
           "tokens": args.tokens, "threads": torch.get_num_threads(),
           "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 1)}
    for mode in ("inference", "training"):
        run(mode == "training")  # warm-up
        times = [run(mode == "training") for _ in range(args.reps)]
        out[f"{mode}_tokens_per_s"] = round(args.batch * args.tokens / statistics.median(times), 1)
        out[f"{mode}_median_s"] = round(statistics.median(times), 4)
    out["peak_rss_MB"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if device.type == "cuda":
        out["peak_gpu_MB"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def unique(args) -> dict:
    """Unique haplotypes per gene window, counted directly from the phased VCF (distinct allele vectors of the
    variants inside TSS +- window/2), against 2 x individuals windows per gene."""
    import pandas as pd
    from cyvcf2 import VCF

    vcf = VCF(args.vcf)
    n_ind = len(vcf.samples)
    records = [(v.POS - 1, np.array(v.genotypes)[:, :2]) for v in vcf]  # 0-based position, [ind, 2]
    pos = np.array([p for p, _ in records])
    tss = pd.read_csv(args.tss, sep="\t")
    tss["tss0"] = tss["tss_1based"] - 1
    lo, hi = pos.min(), pos.max()
    rows = []
    for g in tss.itertuples():
        a, b = g.tss0 - args.window // 2, g.tss0 + args.window - args.window // 2
        inside = np.nonzero((pos >= a) & (pos < b))[0]
        if len(inside) == 0:
            n_unique = 1
        else:
            alleles = np.stack([records[i][1].reshape(-1) for i in inside], axis=1)  # [2*ind, variants]
            n_unique = len(np.unique(alleles, axis=0))
        rows.append({"gene": g.gene_id, "in_genotyped": bool(a < hi and b > lo), "variants": len(inside),
                     "unique": n_unique})
    df = pd.DataFrame(rows)
    out = {"individuals": n_ind, "window": args.window}
    for label, sub in (("genes_overlapping_genotyped_region", df[df["in_genotyped"]]), ("all_chr22_genes", df)):
        total = 2 * n_ind * len(sub)
        out[label] = {"genes": len(sub), "haplotype_windows": total, "unique_windows": int(sub["unique"].sum()),
                      "unique_share": round(sub["unique"].sum() / total, 4),
                      "encoding_speedup": round(total / sub["unique"].sum(), 1),
                      "median_unique_per_gene": float(sub["unique"].median())}
    return out


def unique_store(args) -> dict:
    """Unique haplotypes per gene as the workflow's haplotype store holds them (results/haplotypes/*.map.parquet:
    one row per gene x individual x haplotype, hap_id the unique window it uses), against all haplotype windows."""
    import pandas as pd

    maps = pd.concat([pd.read_parquet(p, columns=["gene_id", "individual", "hap_id"]) for p in args.maps])
    per_gene = maps.groupby("gene_id").agg(windows=("hap_id", "size"), unique=("hap_id", "nunique"))
    total, unique_windows = int(per_gene["windows"].sum()), int(per_gene["unique"].sum())
    return {"individuals": int(maps["individual"].nunique()), "genes": len(per_gene), "haplotype_windows": total,
            "unique_windows": unique_windows, "unique_share": round(unique_windows / total, 4),
            "encoding_speedup": round(total / unique_windows, 1),
            "median_unique_per_gene": float(per_gene["unique"].median())}


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--config", choices=CONFIGS, default="tiny")
    s.add_argument("--tokens", type=int, default=1000)
    s.add_argument("--batch", type=int, default=1)
    s.add_argument("--reps", type=int, default=3)
    s.add_argument("--device", default="auto")
    s.add_argument("--precision", default="auto")
    s.add_argument("--threads", type=int, default=0)
    u = sub.add_parser("unique")
    u.add_argument("--vcf", required=True)
    u.add_argument("--tss", required=True)
    u.add_argument("--window", type=int, default=4000)
    m = sub.add_parser("unique-store")
    m.add_argument("maps", nargs="+", help="results/haplotypes/<chrom>.map.parquet of a run")
    args = ap.parse_args()
    print(json.dumps({"speed": speed, "unique": unique, "unique-store": unique_store}[args.cmd](args)))


if __name__ == "__main__":
    main()
