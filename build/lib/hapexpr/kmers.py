"""k-mer counts, GC fraction and CpG count of windows, vectorised over 2-bit base codes.

Bases are coded A=0, C=1, G=2, T=3 (either case); anything else (N, IUPAC codes, padding) is 4, and every
k-mer that contains such a base is skipped. A k-mer's index is its base-4 number, first base most significant,
so index order is lexicographic (AA, AC, AG, AT, CA, ...), the order of `kmer_names(k)`.

An occurrence is placed at its start position: with `bins`, it is counted in every bin (half-open [start, end)
index pair) that contains its start, even when its last bases lie past the bin's end; bins may overlap.
Overlapping occurrences all count. An occurrence counts only if all k bases lie in the sequence, so the last
possible start is L - k (a caller that wants DExTER's habit of never counting that start can drop the last base).
"""

from collections.abc import Sequence

import numpy as np

N_CODE = 4
DEFAULT_KS = (1, 2, 3, 4, 5, 6)
_LUT = np.full(256, N_CODE, dtype=np.uint8)
for _i, _b in enumerate("ACGT"):
    _LUT[ord(_b)] = _i
    _LUT[ord(_b.lower())] = _i
_CHUNK_BP = 4_000_000  # bases encoded per batch: bounds memory at ~10 bytes per base


def encode(sequences: Sequence[str] | str) -> np.ndarray:
    """2-bit codes (uint8, N = 4) of one sequence (1-D) or of many (2-D, shorter ones padded with N)."""
    if isinstance(sequences, str):
        return _LUT[np.frombuffer(sequences.encode("ascii", "replace"), dtype=np.uint8)]
    length = max((len(s) for s in sequences), default=0)
    if all(len(s) == length for s in sequences):
        raw = np.frombuffer("".join(sequences).encode("ascii", "replace"), dtype=np.uint8)
        return _LUT[raw].reshape(len(sequences), length)
    codes = np.full((len(sequences), length), N_CODE, dtype=np.uint8)
    for i, s in enumerate(sequences):
        codes[i, : len(s)] = encode(s)
    return codes


def kmer_names(k: int) -> list[str]:
    """All 4^k k-mers in index order."""
    names = [""]
    for _ in range(k):
        names = [n + b for n in names for b in "ACGT"]
    return names


def _kmer_indices(codes: np.ndarray, ks: Sequence[int]):
    """Yield (k, index matrix) for increasing k; index 4^k (one past the last k-mer) marks a k-mer with a non-ACGT base.

    Index of k-mers starting at j: idx_k[:, j] = idx_{k-1}[:, j] * 4 + codes[:, j + k - 1], built without a loop
    over positions.
    """
    kmax = max(ks)
    bad = codes == N_CODE
    idx = codes.astype(np.int64)
    invalid = bad.copy()
    for k in range(1, kmax + 1):
        if k > 1:
            if codes.shape[1] - k + 1 <= 0:
                idx, invalid = idx[:, :0], invalid[:, :0]
            else:
                idx = idx[:, :-1] * 4 + codes[:, k - 1 :]
                invalid = invalid[:, :-1] | bad[:, k - 1 :]
        if k in ks:
            yield k, np.where(invalid, 4**k, idx)


def _count(idx: np.ndarray, k: int) -> np.ndarray:
    """Counts (n, 4^k) of the valid indices of each row (the sentinel 4^k lands in a dropped extra column)."""
    n, size = idx.shape[0], 4**k + 1
    flat = idx + (np.arange(n, dtype=np.int64) * size)[:, None]
    return np.bincount(flat.ravel(), minlength=n * size).reshape(n, size)[:, :-1]


def count_kmers(
    sequences: Sequence[str] | np.ndarray,
    ks: Sequence[int] = DEFAULT_KS,
    bins: Sequence[tuple[int, int]] | None = None,
) -> dict[int, np.ndarray]:
    """k-mer counts of each sequence, per k: {k: array (n, 4^k)}, or (n, n_bins, 4^k) with `bins`.

    `sequences` is a list of strings or a code matrix from `encode`. Counts are int64.
    """
    ks = sorted(set(int(k) for k in ks))
    if not ks or ks[0] < 1:
        raise ValueError(f"k values must be positive integers, got {ks}")
    codes = sequences if isinstance(sequences, np.ndarray) else encode(list(sequences))
    if codes.ndim == 1:
        codes = codes[None, :]
    n, length = codes.shape
    bins = None if bins is None else [(int(s), int(e)) for s, e in bins]
    if bins is not None:
        for s, e in bins:
            if not 0 <= s <= e <= length:
                raise ValueError(f"bin [{s}, {e}) is outside the sequence length {length}")
    out = {k: np.zeros((n, 4**k) if bins is None else (n, len(bins), 4**k), dtype=np.int64) for k in ks}
    step = max(1, _CHUNK_BP // max(length, 1))
    for lo in range(0, n, step):
        chunk = codes[lo : lo + step]
        for k, idx in _kmer_indices(chunk, ks):
            if bins is None:
                out[k][lo : lo + step] = _count(idx, k)
            else:
                for b, (s, e) in enumerate(bins):
                    out[k][lo : lo + step, b] = _count(idx[:, s : min(e, idx.shape[1])], k)
    return out


def kmer_frequencies(sequences: Sequence[str] | np.ndarray, ks: Sequence[int] = DEFAULT_KS) -> np.ndarray:
    """Normalised counts of the whole window: per k, each count / the number of valid k-mers; k blocks concatenated.

    A window with no valid k-mer of some k gets zeros for that block.
    """
    counts = count_kmers(sequences, ks)
    blocks = []
    for k in sorted(counts):
        c = counts[k].astype(np.float64)
        total = c.sum(axis=1, keepdims=True)
        blocks.append(np.divide(c, total, out=np.zeros_like(c), where=total > 0))
    return np.hstack(blocks)


def gc_cpg(sequences: Sequence[str] | np.ndarray) -> np.ndarray:
    """(n, 2): GC fraction of the ACGT bases (NaN if none) and the count of CpG dinucleotides."""
    counts = count_kmers(sequences, (1, 2))
    acgt = counts[1].sum(axis=1)
    gc = counts[1][:, 1] + counts[1][:, 2]
    cpg = counts[2][:, 1 * 4 + 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(acgt > 0, gc / np.maximum(acgt, 1), np.nan)
    return np.column_stack([fraction, cpg.astype(np.float64)])
