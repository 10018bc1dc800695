"""DExTER on the demo (config/demo.yaml): it must find the planted motifs in the bins where they were planted.

Reads the demo run's resources/truth/motifs.tsv (motif_id, sequence, bin_start, bin_end, effect; offsets relative
to the TSS in the gene's orientation, half-open) and the haplotype store. The demo's windows are strand-oriented,
so a planted motif reads as `sequence` in them.

Margins stated here:
- a motif counts as recovered when some domain's k-mer (k >= 4) is a substring of it and the domain's region
  (inclusive, relative to the TSS) lies inside the bins that overlap the planted offsets, widened by one bin
  on each side; at least half of the stronger half of the motifs (by |effect|) must be recovered;
- the predictions file follows the contract: both protocols, status ok or skipped, no ok row without y_pred;
- cross_gene test Pearson of dexter beats the 95th percentile of 200 shuffled-target controls by 0.15.
"""

import json

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def test_planted_motifs_are_found_in_their_bins(demo_run):
    motifs = pd.read_csv(demo_run / "resources/truth/motifs.tsv", sep="\t")
    domains = pd.read_csv(demo_run / "results/models/default/dexter/domains.tsv", sep="\t")
    bins = [tuple(b) for b in json.loads((demo_run / "results/models/default/dexter/config.json").read_text())["bins"]]
    strong = motifs[motifs["effect"].abs() >= motifs["effect"].abs().median()]  # the stronger half
    assert len(strong) >= len(motifs) // 2
    recovered = []
    for m in strong.itertuples():
        touched = [i for i, (s, e) in enumerate(bins) if s < m.bin_end and e >= m.bin_start]
        lo, hi = bins[max(min(touched) - 1, 0)][0], bins[min(max(touched) + 1, len(bins) - 1)][1]
        hits = domains[(domains["kmer"].str.len() >= 4) & domains["kmer"].apply(lambda k, s=m.sequence: k in s)
                       & (domains["start"] >= lo) & (domains["end"] <= hi)]
        recovered.append(len(hits) > 0)
    assert np.mean(recovered) >= 0.5, f"recovered {sum(recovered)} of {len(strong)} strong motifs:\n{strong}"


def test_predictions_follow_the_contract(demo_run):
    pred = pd.read_parquet(demo_run / "results/predictions/default/dexter.parquet")
    assert list(pred.columns) == ["gene_id", "individual", "protocol", "y_true", "y_pred", "split", "status"]
    assert set(pred["protocol"]) == {"cross_gene", "cross_individual", "cross_population", "unseen_gene_individual"}
    assert (pred.loc[pred["protocol"] == "cross_gene", "individual"] == "reference").all()
    ok = pred["status"] == "ok"
    assert (ok | pred["status"].str.startswith("skipped")).all()
    assert np.isfinite(pred.loc[ok, "y_pred"]).all()


def test_cross_gene_beats_shuffled_target(demo_run):
    pred = pd.read_parquet(demo_run / "results/predictions/default/dexter.parquet")
    test = pred[(pred["protocol"] == "cross_gene") & (pred["split"] == "test") & (pred["status"] == "ok")]
    r = np.corrcoef(test["y_true"], test["y_pred"])[0, 1]
    rng = np.random.default_rng(0)
    null = [np.corrcoef(rng.permutation(test["y_true"].to_numpy()), test["y_pred"])[0, 1] for _ in range(200)]
    assert r > np.quantile(null, 0.95) + 0.15, f"dexter cross_gene test r {r:.3f}"
