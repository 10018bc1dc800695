"""Phased VCF reading for the haplotypes stage: checks, streaming, allele classification, genotype policies.

Positions are 0-based inside the library (VCF POS - 1). A record is kept as its allele strings and one row of
allele indices per haplotype (individual i: columns 2i and 2i+1), after the missing-genotype and unphased-het
policies have been applied, so the haplotype builder never sees a missing or unphased call.
"""

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from hapexpr.reference import ChromosomeNameError, harmonise_chrom

log = logging.getLogger(__name__)

# The 28-byte empty block that ends every complete BGZF file (SAM/BAM spec, section 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")

MISSING_POLICIES = ("reference", "error")
UNPHASED_POLICIES = ("error", "random", "reference")

# Classes of one ALT allele. Applied: snv, mnp, indel, complex. Skipped and counted: symbolic, breakend, star.
APPLIED_KINDS = ("snv", "mnp", "indel", "complex")
SKIPPED_KINDS = ("symbolic", "breakend", "star")


def _parse_gt_fast(text: str, n_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """GT of every sample when each is `a|b` or `a/b` with one-character alleles (digit or `.`); else None."""
    arr = np.frombuffer(text.rstrip("\n").encode("ascii"), dtype=np.uint8)
    if len(arr) == 4 * n_samples - 1:  # GT-only diploid: fixed 4-byte stride "a|b\t"
        c0, sep, c2 = arr[0::4], arr[1::4], arr[2::4]
        if np.all(arr[3::4] == 9) and np.all((sep == 124) | (sep == 47)):
            a1, a2 = c0.astype(np.int16) - 48, c2.astype(np.int16) - 48
            a1[c0 == 46] = -1
            a2[c2 == 46] = -1
            if not np.any((a1 < -1) | (a1 > 9) | (a2 < -1) | (a2 > 9)):
                return a1, a2, sep == 124
    tabs = np.flatnonzero(arr == 9)
    if len(tabs) != n_samples - 1:
        return None
    starts = np.empty(n_samples, dtype=np.int64)
    starts[0] = 0
    starts[1:] = tabs + 1
    ends = np.empty(n_samples, dtype=np.int64)
    ends[:-1] = tabs
    ends[-1] = len(arr)
    width = ends - starts
    if np.any(width < 3):
        return None
    c0, sep, c2 = arr[starts], arr[starts + 1], arr[starts + 2]
    after = arr[np.minimum(starts + 3, len(arr) - 1)]
    if not np.all((width == 3) | (after == 58)):  # ':' after the GT, or nothing
        return None
    if not np.all((sep == 124) | (sep == 47)):
        return None
    a1, a2 = c0.astype(np.int16) - 48, c2.astype(np.int16) - 48
    a1[c0 == 46] = -1
    a2[c2 == 46] = -1
    if np.any((a1 < -1) | (a1 > 9) | (a2 < -1) | (a2 > 9)):
        return None
    return a1, a2, sep == 124


def _parse_gt_slow(text: str, n_samples: int, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Any GT: multi-digit alleles, haploid calls (both haplotypes get the allele), missing values."""
    columns = text.rstrip("\n").split("\t")
    if len(columns) != n_samples:
        raise VCFError(f"{where} has {len(columns)} sample columns, the header names {n_samples}")
    h1 = np.empty(n_samples, dtype=np.int16)
    h2 = np.empty(n_samples, dtype=np.int16)
    phased = np.zeros(n_samples, dtype=bool)
    for i, column in enumerate(columns):
        gt = column.split(":", 1)[0]
        phased[i] = "|" in gt
        parts = gt.replace("|", "/").split("/")
        try:
            alleles = [-1 if a in (".", "") else int(a) for a in parts]
        except ValueError:
            raise VCFError(f"{where}: GT {gt!r} of sample {i + 1} is not a genotype") from None
        h1[i] = alleles[0]
        h2[i] = alleles[1] if len(alleles) > 1 else alleles[0]
        if len(alleles) > 2:
            raise VCFError(f"{where}: GT {gt!r} has ploidy {len(alleles)}; only haploid and diploid calls are "
                           f"supported")
    return h1, h2, phased


class VCFError(ValueError):
    """A VCF that cannot be used as it is; the message names the file, the record and what to do."""


class ReferenceMismatchError(VCFError):
    """A REF allele that disagrees with the reference FASTA."""


@dataclass(frozen=True)
class GenotypePolicy:
    """What to do with missing genotypes and unphased heterozygous genotypes (config `haplotypes:`)."""

    missing: str = "reference"
    unphased: str = "error"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.missing not in MISSING_POLICIES:
            raise ValueError(f"haplotypes.missing must be one of {MISSING_POLICIES}, got {self.missing!r}")
        if self.unphased not in UNPHASED_POLICIES:
            raise ValueError(f"haplotypes.unphased must be one of {UNPHASED_POLICIES}, got {self.unphased!r}")


def allele_kind(ref: str, alt: str) -> str:
    """Class of one ALT allele: snv, mnp, indel, complex (applied) or symbolic, breakend, star (skipped)."""
    if alt == "*":
        return "star"
    if alt.startswith("<"):
        return "symbolic"
    if "[" in alt or "]" in alt or alt.startswith(".") or alt.endswith("."):
        return "breakend"
    if len(ref) == len(alt):
        return "snv" if len(ref) == 1 else "mnp"
    if htslib_is_indel(ref, alt):
        return "indel"
    return "complex"


def htslib_is_indel(ref: str, alt: str) -> bool:
    """True where htslib's bcf_set_variant_type gives VCF_INDEL (bcftools consensus anchors such alleles)."""
    if len(ref) == 1 and len(alt) == 1:
        return False
    r, a = ref.upper(), alt.upper()
    i = 0
    while i < len(r) and i < len(a) and r[i] == a[i]:
        i += 1
    if i == len(r) and i < len(a):
        return a[i] not in "[]"
    if i < len(r) and i == len(a):
        return True
    if i == len(r) and i == len(a):
        return False
    re_, ae = len(r) - 1, len(a) - 1
    while re_ > i and ae > i and r[re_] == a[ae]:
        re_ -= 1
        ae -= 1
    if ae == i:
        return re_ != i and r[re_] == a[ae]
    if re_ == i:
        return r[re_] == a[ae]
    return False


def check_vcf(path: str | os.PathLike) -> str:
    """Fail early and clearly on a VCF that is absent, not bgzipped, truncated or not indexed."""
    path = str(path)
    if not os.path.exists(path):
        raise VCFError(f"{path}: no such VCF")
    with open(path, "rb") as fh:
        head = fh.read(4)
        if head[:2] != b"\x1f\x8b":
            raise VCFError(f"{path}: not compressed; compress and index it: bgzip {path} && tabix -p vcf {path}.gz")
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - len(BGZF_EOF)))
        tail = fh.read()
    if tail != BGZF_EOF:
        raise VCFError(
            f"{path}: the BGZF end-of-file block is missing, so the file is truncated (an interrupted download or "
            f"copy) or was compressed with gzip instead of bgzip. Download it again, or recompress with bgzip."
        )
    if not (os.path.exists(path + ".tbi") or os.path.exists(path + ".csi")):
        raise VCFError(
            f"{path}: no index ({path}.tbi or .csi). Make one with `tabix -p vcf {path}` or "
            f"`bcftools index -t {path}` (hapexpr.variants.index_vcf does the same); an unsorted VCF must first be "
            f"sorted: `bcftools sort {path} -Oz -o sorted.vcf.gz`."
        )
    return path


def index_vcf(path: str | os.PathLike) -> str:
    """Write a tabix index beside a bgzipped VCF; an unsorted VCF gives an error that says how to sort it."""
    import pysam

    path = str(path)
    try:
        pysam.tabix_index(path, preset="vcf", force=True, keep_original=True)
    except (OSError, ValueError) as err:
        raise VCFError(
            f"{path}: cannot be indexed ({err}). The VCF is probably not sorted or not bgzipped: "
            f"`bcftools sort {path} -Oz -o sorted.vcf.gz && tabix -p vcf sorted.vcf.gz`."
        ) from err
    return path + ".tbi"


@dataclass
class Record:
    """One VCF record: 0-based pos, REF, ALTs, and its allele index on every haplotype (int8, 2 per individual)."""

    pos: int
    ref: str
    alts: tuple[str, ...]
    alleles: np.ndarray
    missing: int = 0
    unphased: int = 0
    kinds: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.kinds:
            self.kinds = tuple(allele_kind(self.ref, a) for a in self.alts)

    @property
    def end(self) -> int:
        return self.pos + len(self.ref)


@dataclass
class VcfReader:
    """A phased, indexed VCF of one or more chromosomes, restricted to the chosen individuals."""

    path: str
    individuals: Sequence[str] | None = None
    policy: GenotypePolicy = field(default_factory=GenotypePolicy)

    def __post_init__(self) -> None:
        import cyvcf2

        self.path = check_vcf(self.path)
        try:
            self._vcf = cyvcf2.VCF(self.path, gts012=False, lazy=True, threads=1)
        except (OSError, Exception) as err:  # cyvcf2 raises plain Exception on unreadable headers
            raise VCFError(f"{self.path}: cannot be read as a VCF ({err})") from err
        samples = list(self._vcf.samples)
        if self.individuals is None:
            self.individuals = samples
        else:
            index = {s: i for i, s in enumerate(samples)}
            absent = [s for s in self.individuals if s not in index]
            if absent:
                raise VCFError(
                    f"{self.path}: {len(absent)} individuals are not in the VCF header, e.g. {absent[:5]}; "
                    f"results/individuals.tsv (in_vcf) and the VCF disagree: rerun the individuals rule."
                )
        self._columns = np.array([samples.index(s) for s in self.individuals], dtype=np.int64)
        identity = np.arange(len(samples))
        self._all_samples = len(self._columns) == len(samples) and bool(np.all(self._columns == identity))
        self._seqnames = list(self._vcf.seqnames)
        self._n_samples = len(samples)
        self._tabix = None

    @property
    def n_haplotypes(self) -> int:
        return 2 * len(self.individuals)

    def chrom_name(self, fasta_chrom: str) -> str | None:
        """The VCF spelling of a FASTA chromosome; None when the VCF names no contig at all."""
        if not self._seqnames:
            return None
        try:
            return harmonise_chrom(fasta_chrom, self._seqnames, self.path)
        except ChromosomeNameError as err:
            raise ChromosomeNameError(
                f"{self.path}: the VCF spells its chromosomes {self._seqnames[:10]}, none of which is the reference "
                f"chromosome '{fasta_chrom}' (nor its chr-prefixed or bare spelling). ({err})"
            ) from err

    def records(self, chrom: str, start: int, end: int) -> Iterator[Record]:
        """Records overlapping [start, end) of `chrom` (VCF spelling), in file order; positions must not decrease.

        Lines come raw from the tabix index (pysam) and GT is parsed with numpy: a 2,000-sample line costs tens of
        microseconds instead of a full htslib parse of every FORMAT field."""
        import pysam

        region = f"{chrom}:{max(start, 0) + 1}-{end}"
        last = -1
        try:
            if self._tabix is None:
                self._tabix = pysam.TabixFile(self.path, encoding="ascii")
            tabix = self._tabix
            if chrom not in tabix.contigs:
                return
            for line in tabix.fetch(chrom, max(start, 0), end):
                fields = line.split("\t", 9)
                if len(fields) < 10:
                    raise VCFError(f"{self.path}: record at {chrom}:{fields[1] if len(fields) > 1 else '?'} has "
                                   f"{len(fields)} columns; a GT column per individual is required")
                pos = int(fields[1]) - 1
                if pos < last:
                    raise VCFError(
                        f"{self.path}: record {chrom}:{pos + 1} comes after {chrom}:{last + 1}; the VCF is not sorted. "
                        f"Sort and re-index it: `bcftools sort {self.path} -Oz -o sorted.vcf.gz && tabix -p vcf "
                        f"sorted.vcf.gz`."
                    )
                last = pos
                yield self._record(fields, chrom, pos)
        except VCFError:
            raise
        except (OSError, ValueError) as err:
            raise VCFError(
                f"{self.path}: reading {region} failed ({err}); the file may be truncated or corrupt"
            ) from err

    def _genotypes(self, fields: list[str], chrom: str, pos: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Allele index of haplotypes 1 and 2 (-1 missing) and the phase flag, for the chosen individuals."""
        fmt = fields[8]
        if fmt != "GT" and not fmt.startswith("GT:"):
            raise VCFError(f"{self.path}: record {chrom}:{pos + 1} has FORMAT {fmt!r}; GT must be its first field")
        parsed = _parse_gt_fast(fields[9], self._n_samples)
        if parsed is None:
            parsed = _parse_gt_slow(fields[9], self._n_samples, f"{self.path}: record {chrom}:{pos + 1}")
        h1, h2, phased = parsed
        if not self._all_samples:
            h1, h2, phased = h1[self._columns], h2[self._columns], phased[self._columns]
        return h1, h2, phased

    def _record(self, fields: list[str], chrom: str, pos: int) -> Record:
        ref = fields[3]
        alts = tuple(fields[4].split(",")) if fields[4] not in (".", "") else ()
        h1, h2, phased = self._genotypes(fields, chrom, pos)
        missing_mask1, missing_mask2 = h1 < 0, h2 < 0
        n_missing = int(missing_mask1.sum() + missing_mask2.sum())
        if n_missing:
            if self.policy.missing == "error":
                who = [self.individuals[i] for i in np.flatnonzero(missing_mask1 | missing_mask2)[:10]]
                raise VCFError(
                    f"{self.path}: missing genotype at {chrom}:{pos + 1} for {n_missing} haplotypes, e.g. {who}; "
                    f"haplotypes.missing is 'error' (set it to 'reference' to use the REF allele there)"
                )
            h1 = np.where(missing_mask1, 0, h1)
            h2 = np.where(missing_mask2, 0, h2)
        unphased_het = (~phased) & (h1 != h2) & ~missing_mask1 & ~missing_mask2
        n_unphased = int(unphased_het.sum())
        if n_unphased:
            if self.policy.unphased == "error":
                who = [self.individuals[i] for i in np.flatnonzero(unphased_het)[:10]]
                more = f" and {n_unphased - len(who)} more" if n_unphased > len(who) else ""
                raise VCFError(
                    f"{self.path}: unphased heterozygous genotypes at {chrom}:{pos + 1} (REF {ref}, ALT "
                    f"{','.join(alts)}) for individuals {', '.join(who)}{more}. Phase the VCF (e.g. SHAPEIT5, Beagle), "
                    f"or set haplotypes.unphased to 'random' (seeded random phase) or 'reference' (REF on both)."
                )
            if self.policy.unphased == "reference":
                h1 = np.where(unphased_het, 0, h1)
                h2 = np.where(unphased_het, 0, h2)
            else:
                rng = np.random.default_rng([self.policy.seed, pos, len(ref)])
                swap = unphased_het & (rng.random(len(h1)) < 0.5)
                h1, h2 = np.where(swap, h2, h1), np.where(swap, h1, h2)
        if len(alts) > 126:
            raise VCFError(f"{self.path}: {chrom}:{pos + 1} has {len(alts)} ALT alleles; at most 126 are supported")
        if len(h1) and max(int(h1.max()), int(h2.max())) > len(alts):
            raise VCFError(f"{self.path}: {chrom}:{pos + 1} has a GT allele index above its {len(alts)} ALT alleles")
        alleles = np.empty(2 * len(h1), dtype=np.int8)
        alleles[0::2] = h1
        alleles[1::2] = h2
        return Record(pos, ref, alts, alleles, n_missing, n_unphased)

    def close(self) -> None:
        self._vcf.close()
        if self._tabix is not None:
            self._tabix.close()
