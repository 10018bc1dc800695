"""GTA on the demo: the full model beats a shuffled-target control cross-gene (minutes; needs the whole upstream).

Run alone on the demo's data (benchmarks/gta_cross_gene.py, benchmarks/README.md "GTA on the demo's cross-gene
data") with config/demo.yaml's settings (batches of 16 at lr 1e-3), the margin held at each of the seeds 0-7: test
Spearman 0.23-0.34 against controls of -0.24 to 0.08. With the settings before (batches of 8 at lr 2e-3) it held at the
demo's seed 7 only, so the test was opt-in. The lowest seeds clear 0.2 by 0.03-0.04 only; the thresholds are the
stated margin, unchanged."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import spearmanr

from conftest import ROOT

CHROMOSOMES = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())["chromosomes"]


def shuffled_target_control(workdir: Path, out: Path) -> pd.DataFrame:
    """Cross-gene predictions of GTA trained exactly like `gta` but on y_cross_gene permuted among training genes."""
    import torch

    from hapexpr import gta

    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    settings = gta.GTASettings.from_config(config["models"]["gta"], config["seed"])
    genes = pd.read_csv(workdir / "results/genes/genes.tsv", sep="\t", dtype={"gene_id": str, "chrom": str})
    train = genes["split"] == "train"
    rng = np.random.default_rng(config["seed"])
    genes.loc[train, "y_cross_gene"] = rng.permutation(genes.loc[train, "y_cross_gene"].to_numpy())
    out.mkdir(parents=True, exist_ok=True)
    genes.to_csv(out / "genes.tsv", sep="\t", index=False)
    hap = workdir / "results/haplotypes"
    window = config["models"]["gta"].get("window", config["window"]["length"])
    windows, hapmap = gta.load_haplotypes([str(hap / f"{c}.sequences.parquet") for c in CHROMOSOMES],
                                          [str(hap / f"{c}.map.parquet") for c in CHROMOSOMES], genes, window)
    torch.set_num_threads(2)
    args = (str(out / "genes.tsv"), str(workdir / "results/expression/expression.parquet"),
            str(workdir / "results/individuals.tsv"), windows, hapmap, str(workdir / "resources/models/gta_llm"),
            settings, window)
    gta.train_gta("gta", *args, str(out / "model"), protocols=["cross_gene"])
    return gta.predict_gta("gta", *args, str(out / "model"), protocols=["cross_gene"])


def cross_gene_spearman(predictions: pd.DataFrame, truth: pd.DataFrame) -> float:
    p = predictions[(predictions["protocol"] == "cross_gene") & (predictions["split"] == "test")]
    p = p.merge(truth[["gene_id", "y_cross_gene"]], on="gene_id")
    return float(spearmanr(p["y_pred"], p["y_cross_gene"]).statistic)


@pytest.mark.slow
def test_gta_beats_a_shuffled_target_control_on_the_demo(demo_run, tmp_path):
    control = shuffled_target_control(demo_run, tmp_path / "control")
    tmp_path = demo_run
    full = pd.read_parquet(tmp_path / "results/predictions/gta.parquet")
    assert set(full["protocol"]) == {"cross_gene", "cross_individual", "cross_population", "unseen_gene_individual"}
    truth = pd.read_csv(tmp_path / "results/genes/genes.tsv", sep="\t")
    rho_full = cross_gene_spearman(full, truth)
    rho_control = cross_gene_spearman(control, truth)
    assert rho_full > rho_control + 0.1, (rho_full, rho_control)
    assert rho_full > 0.2, rho_full
    by_distance = pd.read_csv(tmp_path / "results/models/gta/attribution_by_distance.tsv", sep="\t")
    assert np.isclose(by_distance["mean_share"].sum(), 1.0)
