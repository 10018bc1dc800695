"""GTA on the demo: the full model beats a shuffled-target control cross-gene (minutes; needs the whole upstream).

Run alone on the demo's data (benchmarks/gta_cross_gene.py, benchmarks/README.md "GTA on the demo's cross-gene
data") with config/demo.yaml's settings (batches of 16 at lr 1e-3), the margin held at each of the seeds 0-7: test
Spearman 0.23-0.34 against controls of -0.24 to 0.08. With the settings before (batches of 8 at lr 2e-3) it held at the
demo's seed 7 only, so the test was opt-in. The lowest seeds clear 0.2 by 0.03-0.04 only; the thresholds are the
stated margin, unchanged. The control is the workflow's `gta_shuffled` (before session 6 this test trained it
itself, with the same settings and the training genes' targets permuted: the same control, a different permutation)."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr


def cross_gene_spearman(predictions: pd.DataFrame, truth: pd.DataFrame) -> float:
    p = predictions[(predictions["protocol"] == "cross_gene") & (predictions["split"] == "test")]
    p = p.merge(truth[["gene_id", "y_cross_gene"]], on="gene_id")
    return float(spearmanr(p["y_pred"], p["y_cross_gene"]).statistic)


@pytest.mark.slow
def test_gta_beats_a_shuffled_target_control_on_the_demo(demo_run):
    # the workflow's own control `gta_shuffled`: trained exactly like gta on targets permuted across the examples
    control = pd.read_parquet(demo_run / "results/predictions/default/gta_shuffled.parquet")
    assert set(control["protocol"]) == {"cross_gene"}  # demo.yaml: variant_protocols
    full = pd.read_parquet(demo_run / "results/predictions/default/gta.parquet")
    assert set(full["protocol"]) == {"cross_gene", "cross_individual", "cross_population", "unseen_gene_individual"}
    truth = pd.read_csv(demo_run / "results/genes/default/genes.tsv", sep="\t")
    rho_full = cross_gene_spearman(full, truth)
    rho_control = cross_gene_spearman(control, truth)
    assert rho_full > rho_control + 0.1, (rho_full, rho_control)
    assert rho_full > 0.2, rho_full
    by_distance = pd.read_csv(demo_run / "results/models/default/gta/attribution_by_distance.tsv", sep="\t")
    assert np.isclose(by_distance["mean_share"].sum(), 1.0)
