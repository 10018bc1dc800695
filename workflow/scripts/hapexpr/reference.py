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


# Chromosome lengths of the builds a config may name in `build` (GRC assemblies; hg19's chrM differs from GRCh37's MT
# and is left out). A reference whose chromosome is shorter than its build says was cut short (a download without a
# Content-Length that stopped early); one that is longer is another build.
BUILD_LENGTHS = {
    "GRCh38": {
        "1": 248956422, "2": 242193529, "3": 198295559, "4": 190214555, "5": 181538259, "6": 170805979,
        "7": 159345973, "8": 145138636, "9": 138394717, "10": 133797422, "11": 135086622, "12": 133275309,
        "13": 114364328, "14": 107043718, "15": 101991189, "16": 90338345, "17": 83257441, "18": 80373285,
        "19": 58617616, "20": 64444167, "21": 46709983, "22": 50818468, "X": 156040895, "Y": 57227415,
        "MT": 16569,
    },
    "GRCh37": {
        "1": 249250621, "2": 243199373, "3": 198022430, "4": 191154276, "5": 180915260, "6": 171115067,
        "7": 159138663, "8": 146364022, "9": 141213431, "10": 135534747, "11": 135006516, "12": 133851895,
        "13": 115169878, "14": 107349540, "15": 102531392, "16": 90354753, "17": 81195210, "18": 78077248,
        "19": 59128983, "20": 63025520, "21": 48129895, "22": 51304566, "X": 155270560, "Y": 59373566,
    },
}
BUILD_ALIASES = {"grch38": "GRCh38", "hg38": "GRCh38", "grch37": "GRCh37", "hg19": "GRCh37", "b37": "GRCh37"}


def check_build_lengths(lengths: dict[str, int], build: str, source: str) -> None:
    """Chromosomes of a reference (name -> length) against the lengths of its declared `build`, where known.

    Contigs the build table does not name (patches, decoys, region pieces) are not checked."""
    table = BUILD_LENGTHS.get(BUILD_ALIASES.get(str(build).lower(), ""))
    if table is None:
        return
    wrong = [(name, length, table[_bare(name)]) for name, length in lengths.items()
             if _bare(name) in table and length != table[_bare(name)]]
    if wrong:
        shown = "; ".join(f"{n}: {got:,} bp, {build} has {want:,}" for n, got, want in wrong[:5])
        short = all(got < want for _, got, want in wrong)
        why = ("the file was cut short (a download that stopped early without the server saying its size): "
               "delete it and rerun to fetch it again" if short else
               f"it is not {build}: point sources.reference.url at a {build} FASTA, or set `build` to its build")
        raise ValueError(f"{source}: chromosome lengths differ from build {build!r} ({shown}); {why}.")


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
