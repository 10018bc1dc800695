"""Cross-individual training objectives (mse, centred, pairwise) of the sequence models on the demo, beside the
elastic net and elastic_net_window (the elastic net on the variants inside the sequence window: the same information
the sequence models see): mean and mean |per-gene r| across the test individuals, and each mean r as a share of
elastic_net_window's, on the training genes (the cross_individual
protocol's genes), a gene without a defined r counting as r = 0 (as the benchmark's common gene set does).

Each DIR holds the results/predictions/*.parquet of one run of the demo with `models.<model>.objective` set
(benchmarks/README.md, "Training objectives", gives the snakemake command lines):

    .venv/bin/python benchmarks/objectives.py --genes /tmp/demo/results/genes/genes.tsv mse=/tmp/m/mse \
        centred=/tmp/m/centred pairwise=/tmp/m/pairwise
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
from hapexpr.evaluate import per_gene_correlations  # noqa: E402


def score(predictions: pd.DataFrame, genes: pd.Series) -> dict:
    """Mean r, mean |r| and the number of genes with a defined r, over `genes`, on the test individuals."""
    per_gene = per_gene_correlations(predictions, {("cross_individual", "test"): pd.Index(genes)})
    r = per_gene["r"].to_numpy()  # a gene without a usable prediction is r = 0 there
    return {"mean_r": float(np.mean(r)), "mean_abs_r": float(np.mean(np.abs(r))),
            "genes_with_r": int((per_gene["status"] == "ok").sum()), "genes": len(genes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--genes", required=True, help="results/genes/genes.tsv of the run")
    parser.add_argument("runs", nargs="+", help="OBJECTIVE=DIR with the run's predictions/*.parquet")
    args = parser.parse_args()
    genes = pd.read_csv(args.genes, sep="\t")
    train_genes = genes.loc[genes["split"] == "train", "gene_id"]
    rows = []
    for run in args.runs:
        objective, directory = run.split("=", 1)
        for path in sorted(Path(directory).glob("*.parquet")):
            rows.append({"objective": objective, "model": path.stem, **score(pd.read_parquet(path), train_genes)})
    table = pd.DataFrame(rows)
    window = table.loc[table["model"] == "elastic_net_window", "mean_r"]
    if len(window):  # the control with the same information as a sequence model: what share of it each one reaches
        table["share_of_elastic_net_window"] = table["mean_r"] / float(window.iloc[0])
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
