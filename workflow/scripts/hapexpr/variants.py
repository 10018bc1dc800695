"""Phased VCF reading for the haplotypes stage: checks, streaming, allele classification, genotype policies.

Positions are 0-based inside the library (VCF POS - 1). A record is kept as its allele strings and one row of
allele indices per haplotype (individual i: columns 2i and 2i+1), after the missing-genotype and unphased-het
policies have been applied, so the haplotype builder never sees a missing or unphased call.
"""

import logging
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from hapexpr.io import has_bgzf_eof
from hapexpr.reference import ChromosomeNameError, harmonise_chrom

log = logging.getLogger(__name__)


MISSING_POLICIES = ("reference", "error")
UNPHASED_POLICIES = ("error", "random", "reference")

# Classes of one ALT allele. Applied: snv, mnp, indel, complex. Skipped and counted: symbolic, breakend, star.
APPLIED_KINDS = ("snv", "mnp", "indel", "complex")
SKIPPED_KINDS = ("symbolic", "breakend", "star")


def _gt_codes(c0: np.ndarray, sep: np.ndarray, c2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Allele indices (-1: missing) and phase flags of GT characters `c0 sep c2`; None unless every separator is
    `|` or `/` and every allele a digit or `.`."""
    if not np.all((sep == 124) | (sep == 47)):
        return None
    a1, a2 = c0.astype(np.int16) - 48, c2.astype(np.int16) - 48
    a1[c0 == 46] = -1
    a2[c2 == 46] = -1
    if np.any((a1 < -1) | (a1 > 9) | (a2 < -1) | (a2 > 9)):
        return None
    return a1, a2, sep == 124


def _parse_gt_block(texts: Sequence[str], n_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """GT of every sample of several lines at once ((lines x samples) arrays) when each line is GT-only diploid
    with one-character alleles (`a|b` or `a/b`, digit or `.`): a fixed 4-byte stride `a|b\t`; else None."""
    width = 4 * n_samples - 1
    if any(len(t) != width for t in texts):
        return None
    arr = np.frombuffer(("\t".join(texts) + "\t").encode("ascii"), dtype=np.uint8).reshape(len(texts), width + 1)
    if not np.all(arr[:, 3::4] == 9):
        return None
    return _gt_codes(arr[:, 0::4], arr[:, 1::4], arr[:, 2::4])


def _parse_gt_fast(text: str, n_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """GT of every sample when each is `a|b` or `a/b` with one-character alleles (digit or `.`); else None."""
    text = text.rstrip("\n")
    block = _parse_gt_block([text], n_samples)
    if block is not None:
        return block[0][0], block[1][0], block[2][0]
    arr = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
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
    return _gt_codes(c0, sep, c2)


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


def check_vcf(path: str | os.PathLike, need_index: bool = True) -> str:
    """Fail early and clearly on a VCF that is absent, not bgzipped, truncated or (with `need_index`) not indexed."""
    path = str(path)
    if not os.path.exists(path):
        raise VCFError(f"{path}: no such VCF")
    with open(path, "rb") as fh:
        head = fh.read(4)
        if head[:2] != b"\x1f\x8b":
            raise VCFError(f"{path}: not compressed; compress and index it: bgzip {path} && tabix -p vcf {path}.gz")
    if not has_bgzf_eof(path):
        raise VCFError(
            f"{path}: the BGZF end-of-file block is missing, so the file is truncated (an interrupted download or "
            f"copy) or was compressed with gzip instead of bgzip. Delete it and rerun (the download rule fetches it "
            f"again), or recompress the source with bgzip."
        )
    if need_index and not (os.path.exists(path + ".tbi") or os.path.exists(path + ".csi")):
        raise VCFError(
            f"{path}: no index ({path}.tbi or .csi). Make one with `tabix -p vcf {path}` or "
            f"`bcftools index -t {path}` (hapexpr.variants.index_vcf does the same); an unsorted VCF must first be "
            f"sorted: `bcftools sort {path} -Oz -o sorted.vcf.gz`."
        )
    return path


def header_samples(path: str | os.PathLike) -> list[str]:
    """Sample ids of a (b)gzipped VCF's #CHROM line; duplicated ids are an error naming them and the fix."""
    import gzip

    path = str(path)
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith("#CHROM"):
                samples = line.rstrip("\n").split("\t")[9:]
                break
            if not line.startswith("##"):
                raise VCFError(f"{path}: no #CHROM header line before the records; is it a VCF?")
        else:
            raise VCFError(f"{path}: no #CHROM header line; the file is empty or not a VCF")
    duplicated = sorted(s for s, n in Counter(samples).items() if n > 1)
    if duplicated:
        raise VCFError(
            f"{path}: sample ids occur more than once in the header: {duplicated[:10]}"
            f"{f' and {len(duplicated) - 10} more' if len(duplicated) > 10 else ''}. Give every sample its own id "
            f"(`bcftools reheader -s new_names.txt`) or drop the copies (`bcftools view -s ^ID`) in the source VCF."
        )
    return samples


def check_index(path: str | os.PathLike) -> None:
    """The tabix index of a VCF must be its own: not older than the VCF, and finding the VCF's first record.

    An index left from another file (or an earlier version of this one) makes tabix return nothing or the wrong
    lines for a region, so whole chromosomes would silently get reference-only haplotypes."""
    import gzip

    import pysam

    path = str(path)
    index = path + ".tbi" if os.path.exists(path + ".tbi") else path + ".csi"
    fix = f"Re-index it: `tabix -f -p vcf {path}` (or delete {index} and rerun the rule that makes it)."
    if os.path.getmtime(index) < os.path.getmtime(path):
        raise VCFError(f"{index} is older than {path}: the VCF changed after it was indexed. {fix}")
    with gzip.open(path, "rt") as fh:
        first = next((line.rstrip("\n") for line in fh if not line.startswith("#")), None)
    if first is None:
        return
    chrom, pos = first.split("\t", 2)[:2]
    try:
        with pysam.TabixFile(path, index=index, encoding="ascii") as tabix:
            found = chrom in tabix.contigs and first in tabix.fetch(chrom, int(pos) - 1, int(pos))
    except (OSError, ValueError):
        found = False
    if not found:
        raise VCFError(f"{index} does not belong to {path}: it does not find the VCF's first record "
                       f"({chrom}:{pos}). {fix}")


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


_BATCH = 256  # VCF lines whose GT is parsed at once


def _alts(field: str) -> tuple[str, ...]:
    return tuple(field.split(",")) if field not in (".", "") else ()


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
        header_samples(self.path)
        check_index(self.path)
        try:
            self._vcf = cyvcf2.VCF(self.path, gts012=False, lazy=True, threads=1)
        except (OSError, Exception) as err:  # cyvcf2 raises plain Exception on unreadable headers
            raise VCFError(f"{self.path}: cannot be read as a VCF ({err})") from err
        samples = list(self._vcf.samples)
        index = {s: i for i, s in enumerate(samples)}
        if self.individuals is None:
            self.individuals = samples
        else:
            absent = [s for s in self.individuals if s not in index]
            if absent:
                raise VCFError(
                    f"{self.path}: {len(absent)} individuals are not in the VCF header, e.g. {absent[:5]}; "
                    f"results/individuals.tsv (in_vcf) and the VCF disagree: rerun the individuals rule."
                )
        self._columns = np.array([index[s] for s in self.individuals], dtype=np.int64)
        identity = np.arange(len(samples))
        self._all_samples = len(self._columns) == len(samples) and bool(np.all(self._columns == identity))
        self._seqnames = list(self._vcf.seqnames)
        self._n_samples = len(samples)
        self._tabix = None

    @property
    def n_haplotypes(self) -> int:
        return 2 * len(self.individuals)

    def chrom_name(self, fasta_chrom: str) -> str:
        """The VCF spelling of a FASTA chromosome, which must have records in the VCF.

        A VCF without records for the chromosome (the file of another chromosome, a `sources.vcf.url` without
        `{chrom}`) is an error: reading it would give every gene of the chromosome reference-only haplotypes."""
        import pysam

        with pysam.TabixFile(self.path, encoding="ascii") as tabix:
            with_records = list(tabix.contigs)
        if not with_records:
            raise VCFError(
                f"{self.path}: the VCF has no records at all, so chromosome '{fasta_chrom}' would be "
                f"reference-only. Check that the VCF configured for it (sources.vcf) is the right file."
            )
        names = self._seqnames or with_records
        try:
            name = harmonise_chrom(fasta_chrom, names, self.path)
        except ChromosomeNameError as err:
            raise ChromosomeNameError(
                f"{self.path}: the VCF spells its chromosomes {names[:10]}, none of which is the reference "
                f"chromosome '{fasta_chrom}' (nor its chr-prefixed or bare spelling). ({err})"
            ) from err
        if name not in with_records:
            raise VCFError(
                f"{self.path}: no records for chromosome {name!r} (its records are on {with_records[:10]}), so every "
                f"gene there would get reference-only haplotypes. The file is probably another chromosome's: check "
                f"sources.vcf.url (it needs {{chrom}} for several chromosomes) and sources.vcf.chrom_urls, then "
                f"rerun (a changed URL or source file is fetched again)."
            )
        return name

    def records(self, chrom: str, start: int, end: int) -> Iterator[Record]:
        """Records overlapping [start, end) of `chrom` (VCF spelling), in file order; positions must not decrease.

        Lines come raw from the tabix index (pysam) and GT is parsed with numpy, `_BATCH` lines at a time: a
        2,000-sample line costs microseconds instead of a full htslib parse of every FORMAT field."""
        import pysam

        region = f"{chrom}:{max(start, 0) + 1}-{end}"
        last = -1
        batch: list[list[str]] = []
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
                batch.append(fields)
                if len(batch) == _BATCH:
                    yield from self._records(batch, chrom)
                    batch = []
            yield from self._records(batch, chrom)
        except VCFError:
            raise
        except (OSError, ValueError) as err:
            raise VCFError(
                f"{self.path}: reading {region} failed ({err}); the file may be truncated or corrupt"
            ) from err

    def _records(self, batch: list[list[str]], chrom: str) -> list[Record]:
        """Records of consecutive lines (split into 10 fields): GT of the whole batch parsed at once where every line
        has the fixed `a|b` layout, line by line otherwise; records with a missing or unphased call go through the
        policies one by one."""
        for fields in batch:
            fmt = fields[8]
            if fmt != "GT" and not fmt.startswith("GT:"):
                raise VCFError(f"{self.path}: record {chrom}:{fields[1]} has FORMAT {fmt!r}; GT must be its first "
                               f"field")
        block = _parse_gt_block([f[9].rstrip("\n") for f in batch], self._n_samples) if batch else None
        if block is None:
            return [self._record(f, chrom, *self._genotypes(f, chrom)) for f in batch]
        h1, h2, phased = block
        if not self._all_samples:
            h1, h2, phased = h1[:, self._columns], h2[:, self._columns], phased[:, self._columns]
        clean = ~((h1 < 0) | (h2 < 0) | (~phased & (h1 != h2))).any(axis=1)
        alleles = np.empty((len(batch), 2 * h1.shape[1]), dtype=np.int8)
        alleles[:, 0::2] = h1
        alleles[:, 1::2] = h2
        top = alleles.max(axis=1, initial=0)
        out = []
        for i, fields in enumerate(batch):
            if not clean[i]:
                out.append(self._record(fields, chrom, h1[i], h2[i], phased[i]))
                continue
            alts = _alts(fields[4])
            if top[i] > len(alts) or len(alts) > 126:
                self._check_alleles(chrom, int(fields[1]) - 1, alts, int(top[i]))
            out.append(Record(int(fields[1]) - 1, fields[3], alts, alleles[i]))
        return out

    def _genotypes(self, fields: list[str], chrom: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Allele index of haplotypes 1 and 2 (-1 missing) and the phase flag of one line, for the chosen
        individuals."""
        where = f"{self.path}: record {chrom}:{fields[1]}"
        parsed = _parse_gt_fast(fields[9], self._n_samples)
        if parsed is None:
            parsed = _parse_gt_slow(fields[9], self._n_samples, where)
        h1, h2, phased = parsed
        if not self._all_samples:
            h1, h2, phased = h1[self._columns], h2[self._columns], phased[self._columns]
        return h1, h2, phased

    def _check_alleles(self, chrom: str, pos: int, alts: tuple[str, ...], top: int) -> None:
        if len(alts) > 126:
            raise VCFError(f"{self.path}: {chrom}:{pos + 1} has {len(alts)} ALT alleles; at most 126 are supported")
        if top > len(alts):
            raise VCFError(f"{self.path}: {chrom}:{pos + 1} has a GT allele index above its {len(alts)} ALT alleles")

    def _record(self, fields: list[str], chrom: str, h1: np.ndarray, h2: np.ndarray, phased: np.ndarray) -> Record:
        """One record from its parsed genotypes, with the missing-genotype and unphased-het policies applied."""
        pos = int(fields[1]) - 1
        ref = fields[3]
        alts = _alts(fields[4])
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
        self._check_alleles(chrom, pos, alts, max(int(h1.max()), int(h2.max())) if len(h1) else 0)
        alleles = np.empty(2 * len(h1), dtype=np.int8)
        alleles[0::2] = h1
        alleles[1::2] = h2
        return Record(pos, ref, alts, alleles, n_missing, n_unphased)

    def close(self) -> None:
        self._vcf.close()
        if self._tabix is not None:
            self._tabix.close()
