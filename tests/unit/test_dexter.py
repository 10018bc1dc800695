"""DExTER re-implementation: bins, lattice, occurrence placement, the search rules, the LASSO model."""

import numpy as np
import pytest
from scipy.stats import spearmanr

from hapexpr.dexter import (
    DExTER,
    _Domain,
    abs_spearman,
    bin_counts,
    cell_sums,
    dexter_bins,
    encode,
    lattice_cells,
)


# ---------------------------------------------------------------------------------------------------- bins
def test_bins_of_4001_bp_aligned_at_2000_are_dexters():
    assert dexter_bins(4001, 2000, 13) == [
        (-2000, -1926), (-1925, -1197), (-1196, -685), (-684, -342), (-341, -126), (-125, -1), (0, 0),
        (1, 125), (126, 341), (342, 684), (685, 1196), (1197, 1925), (1926, 2000),
    ]


def test_bins_of_2048_bp_aligned_at_1024_are_dexters():
    assert dexter_bins(2048, 1024, 13) == [
        (-1024, -776), (-775, -433), (-432, -217), (-216, -92), (-91, -28), (-27, -1), (0, 0),
        (1, 27), (28, 91), (92, 216), (217, 432), (433, 775), (776, 1023),
    ]


@pytest.mark.parametrize("length,align,n_bins", [(4000, 2000, 13), (1000, 500, 7), (3001, 100, 13), (41, 20, 5)])
def test_bins_tile_the_window_with_the_tss_alone(length, align, n_bins):
    bins = dexter_bins(length, align, n_bins)
    assert len(bins) <= n_bins and (0, 0) in bins
    assert bins[0][0] == -align and bins[-1][1] == length - align - 1
    assert all(b[0] == a[1] + 1 for a, b in zip(bins, bins[1:]))
    widths = [e - s + 1 for s, e in bins]
    middle = bins.index((0, 0))
    assert widths[middle + 1 : -1] == sorted(widths[middle + 1 : -1])  # growing away from the TSS
    assert widths[1:middle] == sorted(widths[1:middle], reverse=True)


def test_even_number_of_bins_is_refused():
    with pytest.raises(ValueError, match="odd"):
        dexter_bins(4000, 2000, 12)


@pytest.mark.parametrize("n", [1, 5, 13])
def test_lattice_has_every_run_of_adjacent_bins(n):
    cells = lattice_cells(n)
    assert len(cells) == n * (n + 1) // 2 == len(set(cells))
    runs = {(index, index + rank) for rank, index in cells}
    assert runs == {(i, j) for i in range(n) for j in range(i, n)}


# ----------------------------------------------------------------------------------------- occurrences
SMALL_EDGES = np.array([(s + 20, e + 20) for s, e in dexter_bins(41, 20, 5)])  # [-20,-9] [-8,-1] [0,0] [1,8] [9,20]


def _window(pieces: dict[int, str], length: int = 41, fill: str = "C") -> str:
    seq = list(fill * length)
    for pos, text in pieces.items():
        seq[pos : pos + len(text)] = text
    return "".join(seq)


def test_small_window_bins():
    assert dexter_bins(41, 20, 5) == [(-20, -9), (-8, -1), (0, 0), (1, 8), (9, 20)]


def test_occurrence_counts_in_the_bin_of_its_start_even_when_it_runs_past_it():
    seq = _window({20 + 7: "GTAG"})  # starts at +7 (bin [1,8]), ends at +10 (bin [9,20])
    counts = bin_counts(encode([seq]), ["GTAG"], SMALL_EDGES)
    assert counts[0, :, 0].tolist() == [0, 0, 0, 1, 0]


def test_overlapping_occurrences_all_count():
    seq = _window({0: "AAAAA"})  # AA at 0, 1, 2, 3: all in bin [-20,-9]
    assert bin_counts(encode([seq]), ["AA"], SMALL_EDGES)[0, :, 0].tolist() == [4, 0, 0, 0, 0]
    assert bin_counts(encode([seq]), ["AAA"], SMALL_EDGES)[0, :, 0].tolist() == [3, 0, 0, 0, 0]


def test_occurrence_at_the_tss_is_in_the_tss_bin():
    counts = bin_counts(encode([_window({20: "TT"})]), ["TT"], SMALL_EDGES)
    assert counts[0, :, 0].tolist() == [0, 0, 1, 0, 0]


def test_last_possible_start_is_not_counted_like_the_original_unless_asked():
    seq = _window({41 - 3: "TGA"})  # starts at L - k
    assert bin_counts(encode([seq]), ["TGA"], SMALL_EDGES).sum() == 0
    assert bin_counts(encode([seq]), ["TGA"], SMALL_EDGES, count_last_start=True)[0, 4, 0] == 1
    one_before = _window({41 - 4: "TGAC"})  # TGA at L - k - 1 is counted either way
    assert bin_counts(encode([one_before]), ["TGA"], SMALL_EDGES)[0, 4, 0] == 1


def test_kmer_with_n_never_matches_and_case_is_ignored():
    seq = _window({2: "TGNA", 12: "tgac"})
    # only the lower-case one counts, at 12 = TSS - 8
    assert bin_counts(encode([seq]), ["TGA"], SMALL_EDGES)[0, :, 0].tolist() == [0, 1, 0, 0, 0]
    assert bin_counts(encode([seq]), ["TGAC"], SMALL_EDGES)[0, :, 0].tolist() == [0, 1, 0, 0, 0]


def test_bin_counts_match_a_loop_over_positions():
    rng = np.random.default_rng(3)
    seqs = ["".join(rng.choice(list("ACGTN"), p=[0.24, 0.24, 0.24, 0.24, 0.04], size=41)) for _ in range(30)]
    kmers = ["AC", "CGT", "ACGT", "TTTTT", "GATTACA"]
    for count_last in (False, True):
        for km in kmers:
            got = bin_counts(encode(seqs), [km], SMALL_EDGES, count_last_start=count_last)[:, :, 0]
            last = 41 - len(km) + (1 if count_last else 0)
            want = np.zeros_like(got)
            for g, s in enumerate(seqs):
                for p in range(last):
                    if s[p : p + len(km)] == km:
                        want[g, next(b for b, (lo, hi) in enumerate(SMALL_EDGES) if lo <= p <= hi)] += 1
            np.testing.assert_array_equal(got, want)


def test_cell_sums_add_runs_of_bins():
    counts = np.arange(5)[None, :, None]
    sums = cell_sums(counts, lattice_cells(5))[0, :, 0]
    for (rank, index), value in zip(lattice_cells(5), sums):
        assert value == sum(range(index, index + rank + 1))


def test_abs_spearman_matches_scipy_with_ties_and_constant_columns():
    rng = np.random.default_rng(0)
    X = rng.poisson(1.5, size=(200, 6))
    X[:, 5] = 3
    y = rng.normal(size=200) + X[:, 0]
    got = abs_spearman(X, y)
    want = [abs(spearmanr(X[:, j], y)[0]) for j in range(5)] + [0.0]
    np.testing.assert_allclose(got, want, atol=1e-12)


# ------------------------------------------------------------------------------------------- search rules
def _model_with_scores(scores: dict[str, list[float]], n_bins: int = 3) -> DExTER:
    """A model whose lattice scores are set by hand (cells in lattice_cells order)."""
    m = DExTER(n_bins=n_bins)
    m.cells_ = lattice_cells(n_bins)
    m._cell_pos = {c: i for i, c in enumerate(m.cells_)}
    m._scores = {k: np.array(v, dtype=float) for k, v in scores.items()}
    return m


# cells for 3 bins: (0,0) (0,1) (0,2) (1,0) (1,1) (2,0)
def test_extension_kept_only_if_it_passes_both_absolute_and_relative_gain():
    base = {"AC": [0.25] * 6, "CG": [0.05] * 6}
    parent = ("AC", 0, 1)
    for score, kept in [(0.30, True), (0.27, False), (0.2751, True)]:
        m = _model_with_scores({**base, "ACG": [score] * 6})
        d = _Domain("ACG", 0, 1, parents=[parent], controls=[("CG", 0, 1), ("AC", 0, 1)])
        assert m._treat(d, {})[0] is kept, score
    m = _model_with_scores({"AC": [0.05] * 6, "CG": [0.05] * 6, "ACG": [0.058] * 6})  # +16% but only +0.008
    assert m._treat(_Domain("ACG", 0, 1, parents=[parent], controls=[("CG", 0, 1), ("AC", 0, 1)]), {})[0] is False


def test_extension_must_beat_both_k_minus_1_controls():
    m = _model_with_scores({"AC": [0.1] * 6, "CG": [0.4] * 6, "ACG": [0.3] * 6})
    d = _Domain("ACG", 0, 1, parents=[("AC", 0, 1)], controls=[("CG", 0, 1), ("AC", 0, 1)])
    assert m._treat(d, {})[0] is False


def test_children_are_best_non_overlapping_regions_each_beating_its_controls():
    # ACG scores per cell: (0,0)=.50 (0,1)=.20 (0,2)=.45 (1,0)=.48 (1,1)=.30 (2,0)=.30
    m = _model_with_scores({"AC": [0.1] * 6, "CG": [0.1, 0.1, 0.44, 0.1, 0.1, 0.1], "ACG": [0.5, 0.2, 0.45, 0.48, 0.3, 0.3]})
    d = _Domain("ACG", 2, 0, parents=[("AC", 2, 0)], controls=[("CG", 2, 0), ("AC", 2, 0)])
    done: dict = {}
    valid, new = m._treat(d, done)
    assert valid
    # (0,0) best; (1,0) overlaps it; (0,2) fails its control CG (0.45 vs 0.44); (1,1) (bins 1-2) and (2,0) tie
    # at 0.30: the shorter (1,1) comes first and is taken; (2,0) overlaps
    assert [k for k, v in done.items() if v] == [("ACG", 0, 0), ("ACG", 1, 1)]
    exts = ["ACGA", "AACG", "ACGT", "TACG", "ACGG", "GACG", "ACGC", "CACG"]
    assert [(x.kmer, x.rank, x.index) for x in new] == [(km, 0, 0) for km in exts] + [(km, 1, 1) for km in exts]
    ext = next(x for x in new if x.kmer == "TACG")
    assert ext.parents == [("ACG", 0, 0)] and ext.controls == [("ACG", 0, 0), ("TAC", 0, 0)]


def test_max_k_stops_extension():
    m = _model_with_scores({"AC": [0.1] * 6, "CG": [0.1] * 6, "ACG": [0.5] * 6})
    m.max_k = 3
    d = _Domain("ACG", 2, 0, parents=[("AC", 2, 0)], controls=[("CG", 2, 0), ("AC", 2, 0)])
    valid, new = m._treat(d, {})
    assert valid and new == []


def _planted(n: int, length: int, motif: str, lo: int, hi: int, seed: int, noise: float = 0.7):
    """Random windows; `motif` planted Poisson(1.5) times with starts in [lo, hi] (relative to the TSS)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("ACGT"))
    seqs, y = [], []
    for _ in range(n):
        s = list("".join(rng.choice(letters, size=length)))
        copies = rng.poisson(1.5)
        for p in rng.integers(length // 2 + lo, length // 2 + hi + 1, copies):
            s[p : p + len(motif)] = motif
        seqs.append("".join(s))
        y.append(copies + rng.normal(0, noise))
    return seqs, np.array(y)


@pytest.fixture(scope="module")
def planted():
    # 600 bp windows, 7 bins: [-300,-190] [-189,-65] [-64,-1] [0,0] [1,64] [65,189] [190,299]
    seqs, y = _planted(700, 600, "TGCA", 70, 180, seed=11)
    return seqs, y


def test_planted_4mer_is_found_in_its_bin_by_extending_a_dinucleotide(planted):
    seqs, y = planted
    m = DExTER(n_bins=7).fit(seqs[:500], y[:500])
    assert m.bins_[5] == (65, 189)
    dom = m.domains_.set_index(["kmer", "start_bin", "end_bin"])
    assert ("TGCA", 5, 5) in dom.index
    assert dom.loc[("TGCA", 5, 5), "correlation"] > 0.5
    # the chain that leads to it: a dinucleotide and a 3-mer of the motif, in the same bin
    assert any((km, 5, 5) in dom.index for km in ("TG", "GC", "CA"))
    assert any((km, 5, 5) in dom.index for km in ("TGC", "GCA"))
    best = m.domains_.sort_values("correlation").iloc[-1]
    assert (best.kmer, best.start_bin, best.end_bin, best.start, best.end) == ("TGCA", 5, 5, 65, 189)
    roots = m.domains_[(m.domains_.kmer.str.len() == 2) & (m.domains_.start_bin == 0) & (m.domains_.end_bin == 6)]
    assert len(roots) == 16  # the 16 whole-window dinucleotides are always domains


def test_high_thresholds_stop_at_dinucleotides(planted):
    seqs, y = planted
    m = DExTER(n_bins=7, correlation_increase=1.0).fit(seqs[:500], y[:500])
    assert m.domains_.kmer.str.len().max() == 2


def test_lasso_predicts_held_out_genes_better_than_a_shuffled_target(planted):
    seqs, y = planted
    r = np.corrcoef(DExTER(n_bins=7).fit(seqs[:500], y[:500]).predict(seqs[500:]), y[500:])[0, 1]
    shuffled = np.random.default_rng(0).permutation(y[:500])
    pred = DExTER(n_bins=7).fit(seqs[:500], shuffled).predict(seqs[500:])
    r_shuffled = np.corrcoef(pred, y[500:])[0, 1] if pred.std() > 0 else 0.0
    assert r > 0.6
    assert r > r_shuffled + 0.4


def test_domains_table_and_errors(planted):
    seqs, y = planted
    m = DExTER(n_bins=7, max_k=3).fit(seqs[:200], y[:200])
    assert list(m.domains_.columns) == ["kmer", "start_bin", "end_bin", "start", "end", "correlation", "coef"]
    assert m.domains_.kmer.str.len().max() <= 3
    with pytest.raises(ValueError, match="600 bp"):
        m.predict([s[:500] for s in seqs[:3]])
    with pytest.raises(ValueError, match="NaN"):
        DExTER(n_bins=7).fit(seqs[:50], np.r_[y[:49], np.nan])
    with pytest.raises(ValueError, match="one length"):
        DExTER(n_bins=7).fit(seqs[:49] + [seqs[49][:-1]], y[:50])


def test_saved_model_predicts_the_same(planted, tmp_path):
    from hapexpr.dexter import from_pretrained, save_pretrained

    seqs, y = planted
    m = DExTER(n_bins=7, max_k=4).fit(seqs[:300], y[:300])
    save_pretrained(m, tmp_path / "dexter")
    loaded = from_pretrained(tmp_path / "dexter")
    np.testing.assert_allclose(loaded.predict(seqs[300:340]), m.predict(seqs[300:340]), rtol=1e-12)
    assert loaded.domains_[["kmer", "start", "end"]].equals(m.domains_[["kmer", "start", "end"]])


def test_original_lasso_solver_gives_a_similar_model(planted):
    seqs, y = planted
    lars = DExTER(n_bins=7, max_k=4).fit(seqs[:400], y[:400]).predict(seqs[400:])
    cd = DExTER(n_bins=7, max_k=4, lasso_solver="cd").fit(seqs[:400], y[:400]).predict(seqs[400:])
    assert np.corrcoef(lars, cd)[0, 1] > 0.98


def test_protocol_rows_from_a_haplotype_store(planted, tmp_path):
    """cross_gene from hap_id 0, the individual protocols = mean of the two haplotypes (hapexpr.protocols)."""
    import pandas as pd
    from hapdata import write_store

    from hapexpr.dexter import predict_chromosome, train_dexter
    from hapexpr.protocols import PROTOCOLS

    seqs, y = planted
    genes = pd.DataFrame({"gene_id": [f"G{i}" for i in range(60)], "chrom": "chr1", "strand": "+",
                          "tss": 1000, "split": ["train"] * 50 + ["test"] * 10, "y_cross_gene": y[:60]})
    # hap_id 0 = reference; hap 1 = the reference; hap 2 = another gene's window (a different prediction)
    rows = [(g, h, seqs[i if h < 2 else (i + 1) % 60], 300) for i, g in enumerate(genes["gene_id"]) for h in (0, 1, 2)]
    sequences = pd.DataFrame(rows, columns=["gene_id", "hap_id", "sequence", "tss_offset"])
    people = ("I1", "I2", "I3", "I4")
    hap_map = pd.DataFrame([(g, ind, hap, 1 if hap == 1 else 2) for g in genes["gene_id"] for ind in people
                            for hap in (1, 2)], columns=["gene_id", "individual", "haplotype", "hap_id"])
    store = write_store(tmp_path, "chr1", sequences, hap_map, 600)
    expression = pd.DataFrame({"gene_id": genes["gene_id"], "I1": y[:60], "I2": y[:60] + 1, "I3": y[:60] - 1,
                               "I4": np.nan})
    individuals = pd.DataFrame({"individual": people, "split": ["test", "train", "train", "test"]})
    model = train_dexter({"n_bins": 7, "max_k": 4}, genes, [store["sequences"]], 600)
    out = predict_chromosome(model, PROTOCOLS, genes, store["sequences"], store["map"], expression, individuals, 600,
                             batch_windows=20)
    cg = out[out["protocol"] == "cross_gene"].set_index("gene_id")
    np.testing.assert_allclose(cg.loc[genes["gene_id"], "y_pred"], model.predict(seqs[:60]))
    ci = out[out["protocol"] == "cross_individual"].set_index(["gene_id", "individual"])
    train_genes = genes.loc[genes["split"] == "train", "gene_id"]
    want = (model.predict(seqs[:50]) + model.predict([seqs[i + 1] for i in range(50)])) / 2
    np.testing.assert_allclose(ci.xs("I1", level="individual").loc[train_genes, "y_pred"], want)
    assert (ci.xs("I4", level="individual")["status"] == "skipped: no target").all()
    unseen = out[out["protocol"] == "unseen_gene_individual"]
    assert set(unseen["gene_id"]) == set(genes.loc[genes["split"] == "test", "gene_id"])
    assert set(unseen["individual"]) == {"I1", "I4"}
