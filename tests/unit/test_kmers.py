"""k-mer counting against a brute-force count over sliced strings."""

import itertools
from collections import Counter

import numpy as np
import pytest

from hapexpr.kmers import count_kmers, encode, gc_cpg, kmer_frequencies, kmer_names


def brute_force(seq: str, k: int, start: int = 0, end: int | None = None) -> Counter:
    """Occurrences of ACGT-only k-mers whose start lies in [start, end)."""
    seq = seq.upper()
    end = len(seq) if end is None else end
    counts = Counter()
    for i in range(start, min(end, len(seq) - k + 1)):
        word = seq[i : i + k]
        if set(word) <= set("ACGT"):
            counts[word] += 1
    return counts


def as_counter(row: np.ndarray, k: int) -> Counter:
    return Counter({name: int(c) for name, c in zip(kmer_names(k), row) if c})


@pytest.fixture
def sequences() -> list[str]:
    rng = np.random.default_rng(1)
    alphabet = np.array(list("ACGTacgtN"))
    seqs = ["".join(rng.choice(alphabet, size=n, p=[0.2] * 4 + [0.04] * 4 + [0.04])) for n in (300, 300, 300)]
    return seqs + ["NNNNN", "ACGTNACGTA", "AAAA"]


def test_kmer_names_are_in_index_order():
    assert kmer_names(1) == ["A", "C", "G", "T"]
    assert kmer_names(2)[:5] == ["AA", "AC", "AG", "AT", "CA"]
    assert kmer_names(3) == ["".join(p) for p in itertools.product("ACGT", repeat=3)]


def test_encode_maps_case_and_other_letters():
    assert encode("ACGTacgtNRx").tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 4, 4, 4]
    assert encode(["AC", "G"]).tolist() == [[0, 1], [2, 4]]


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6])
def test_counts_match_brute_force_with_n_and_lowercase(sequences, k):
    counts = count_kmers(sequences, ks=[k])[k]
    assert counts.shape == (len(sequences), 4**k)
    for seq, row in zip(sequences, counts):
        assert as_counter(row, k) == brute_force(seq, k)


def test_overlapping_occurrences_all_count():
    counts = count_kmers(["AAAAA"], ks=[2, 3])
    assert counts[2][0, 0] == 4
    assert counts[3][0, 0] == 3


def test_kmers_with_n_are_skipped():
    counts = count_kmers(["ACNGT"], ks=[2])[2][0]
    assert as_counter(counts, 2) == Counter({"AC": 1, "GT": 1})


def test_binned_counts_place_occurrence_at_its_start(sequences):
    seq = sequences[0]
    bins = [(0, 10), (10, 150), (150, 299), (299, 300), (5, 200)]  # overlapping bins are allowed
    for k in (1, 3, 6):
        counts = count_kmers([seq], ks=[k], bins=bins)[k]
        assert counts.shape == (1, len(bins), 4**k)
        for b, (s, e) in enumerate(bins):
            assert as_counter(counts[0, b], k) == brute_force(seq, k, s, e)


def test_occurrence_crossing_a_bin_end_counts_in_the_bin_of_its_start():
    counts = count_kmers(["AACCGG"], ks=[3], bins=[(0, 3), (3, 6)])[3][0]
    assert as_counter(counts[0], 3) == Counter({"AAC": 1, "ACC": 1, "CCG": 1})
    assert as_counter(counts[1], 3) == Counter({"CGG": 1})


def test_bin_outside_the_sequence_is_an_error():
    with pytest.raises(ValueError, match="outside"):
        count_kmers(["ACGT"], ks=[1], bins=[(0, 5)])


def test_unequal_lengths_are_padded_without_counting_padding():
    counts = count_kmers(["ACG", "ACGTACGT"], ks=[2])[2]
    assert counts[0].sum() == 2 and counts[1].sum() == 7


def test_frequencies_sum_to_one_per_k():
    freq = kmer_frequencies(["ACGTTGCA", "NNNN"], ks=[1, 2])
    assert freq.shape == (2, 4 + 16)
    assert freq[0, :4].sum() == pytest.approx(1) and freq[0, 4:].sum() == pytest.approx(1)
    assert not freq[1].any()


def test_gc_fraction_and_cpg_count():
    features = gc_cpg(["CGCGAATT", "AAAA", "NNNN", "acgN"])
    assert features[0].tolist() == [0.5, 2.0]
    assert features[1].tolist() == [0.0, 0.0]
    assert np.isnan(features[2, 0]) and features[2, 1] == 0
    assert features[3, 0] == pytest.approx(2 / 3) and features[3, 1] == 1
