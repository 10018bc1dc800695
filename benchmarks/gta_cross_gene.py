"""GTA cross-gene on a finished demo run: Spearman per gene split (train, valid, test) of `gta` and of the
shuffled-target control (the training genes' targets permuted, as the workflow's `gta_shuffled` does), per seed,
with the CPU seconds of each train + predict.

    .venv/bin/python benchmarks/gta_cross_gene.py --demo <finished demo directory> --seeds 0 1 2 \
        --out benchmarks/results/gta_cross_gene.tsv

The demo directory is only read (results/genes, results/expression, results/individuals.tsv, results/haplotypes,
resources/models/gta_llm); models are written to a temporary directory. Settings are `config/demo.yaml`'s
`models.gta`, changed by `--set key=value` (YAML values, e.g. `--set encoder=cnn --set encoder_channels=32`).
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
from hapexpr import gta  # noqa: E402


def shuffled_targets(genes: pd.DataFrame, seed: int) -> pd.DataFrame:
    """y_cross_gene permuted among the training genes: the control the workflow's `gta_shuffled` is (that one permutes
    the training examples through hapexpr.training.shuffled_targets; one example per gene cross-gene)."""
    out = genes.copy()
    train = out["split"] == "train"
    out.loc[train, "y_cross_gene"] = np.random.default_rng(seed).permutation(out.loc[train, "y_cross_gene"].to_numpy())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", required=True, help="a finished demo run's directory (read only)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override models.gta.KEY")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="TSV of the results (printed in any case)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    demo = Path(args.demo)
    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    section = dict(config["models"]["gta"])
    for item in args.set:
        key, _, value = item.partition("=")
        section[key] = yaml.safe_load(value)
    window = section.get("window", config["window"]["length"])
    genes = pd.read_csv(demo / "results/genes/genes.tsv", sep="\t", dtype={"gene_id": str, "chrom": str})
    store = demo / "results/haplotypes"
    chroms = config["chromosomes"]
    windows, hapmap = gta.load_haplotypes([str(store / f"{c}.sequences.parquet") for c in chroms],
                                          [str(store / f"{c}.map.parquet") for c in chroms], genes, window,
                                          reference_only=True)
    truth = genes[["gene_id", "y_cross_gene", "split"]].rename(columns={"y_cross_gene": "truth", "split": "set"})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            settings = gta.GTASettings.from_config(section, seed)
            for kind, table in (("gta", genes), ("shuffled_target", shuffled_targets(genes, config["seed"]))):
                out = Path(tmp, f"{kind}_{seed}")
                out.mkdir()
                table.to_csv(out / "genes.tsv", sep="\t", index=False)
                inputs = (str(out / "genes.tsv"), str(demo / "results/expression/expression.parquet"),
                          str(demo / "results/individuals.tsv"), windows, hapmap,
                          str(demo / "resources/models/gta_llm"), settings, window)
                start = time.process_time()
                gta.train_gta("gta", *inputs, str(out / "model"), protocols=["cross_gene"])
                pred = gta.predict_gta("gta", *inputs, str(out / "model"), protocols=["cross_gene"])
                cpu = time.process_time() - start
                pred = pred[pred["protocol"] == "cross_gene"].merge(truth, on="gene_id")
                row = {"model": kind, "seed": seed, "cpu_s": round(cpu)}
                row.update({s: round(float(spearmanr(d["y_pred"], d["truth"]).statistic), 3)
                            for s, d in pred.groupby("set")})
                rows.append(row)
                print(json.dumps(row), flush=True)
    result = pd.DataFrame(rows)[["model", "seed", "train", "valid", "test", "cpu_s"]]
    print(result.to_string(index=False))
    print("settings:", json.dumps({k: section[k] for k in sorted(section) if k not in ("variants",)}))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        result.to_csv(args.out, sep="\t", index=False)


if __name__ == "__main__":
    main()
