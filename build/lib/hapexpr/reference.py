"""The reference genome: chromosome-name harmonisation and window fetching (0-based, half-open)."""

import os
from collections.abc import Iterable

import pysam


class ChromosomeNameError(ValueError):
    """A chromosome spelled in a way that matches nothing in the reference."""


def _bare(name: str) -> str:
    n = name[3:] if name.lower().startswith("chr") else name
    return {"M": "MT"}.get(n, n)


def harmonise_chrom(name: str, available: Iterable[str], source: str = "") -> str:
    """Return the spelling of `name` used in `available` (`chr22` <-> `22`, `chrM` <-> `MT`)."""
    available = list(available)
    if name in available:
        return name
    matches = [a for a in available if _bare(a) == _bare(name)]
    if len(matches) == 1:
        return matches[0]
    where = f"{source}: " if source else ""
    shown = ", ".join(available[:10]) + (" ..." if len(available) > 10 else "")
    raise ChromosomeNameError(
        f"{where}chromosome '{name}' has no counterpart in the reference (reference spells: {shown}). "
        f"Check that both files use the same build, or rename the contigs."
    )


class Reference:
    """A bgzipped (with .fai and .gzi) or plain FASTA; `fetch` pads with N past the chromosome ends."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self._fasta = pysam.FastaFile(self.path)
        self._lengths = dict(zip(self._fasta.references, self._fasta.lengths))

    @property
    def chromosomes(self) -> list[str]:
        return list(self._lengths)

    def length(self, chrom: str) -> int:
        return self._lengths[chrom]

    def resolve(self, chrom: str, source: str = "") -> str:
        """The reference's spelling of `chrom`, or an error naming both spellings."""
        return harmonise_chrom(chrom, self.chromosomes, source or self.path)

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Sequence of [start, end) as stored (soft-masking kept); positions off the chromosome are N."""
        length = self.length(chrom)
        left, right = max(start, 0), min(end, length)
        if right <= left:
            return "N" * (end - start)
        return "N" * (left - start) + self._fasta.fetch(chrom, left, right) + "N" * (end - right)

    def close(self) -> None:
        self._fasta.close()
