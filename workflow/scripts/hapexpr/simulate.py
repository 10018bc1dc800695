"""The demo's inputs, simulated with a planted truth (config/demo.yaml, rule `simulate`).

It writes exactly the files the download rules write (a bgzipped reference with .fai/.gzi, a GENCODE-like GTF,
phased per-chromosome VCFs with .tbi, a Geuvadis-layout expression matrix, a population sheet), plus the truth
under resources/truth/ so that tests of later stages can check that models recover it.

The model, in order:
  reference  isochores of varying GC, CpG depletion, soft-masked repeats, an N gap at each chromosome start;
  genes      TSSs spaced at least a window apart, both strands, GENCODE-like gene/transcript/exon records;
             CpG islands over some TSSs; motifs planted at offsets inside fixed bins relative to the TSS,
             on the gene's strand;
  variants   msprime ancestry (populations split from an ancestor, with migration and recombination) and
             mutations, mapped onto the reference so that every REF matches it: SNVs, MNPs, insertions,
             deletions (some across a window edge), multiallelic sites, a `*` allele, a symbolic <DEL>,
             a few missing genotypes;
  expression per gene a baseline from its TSS sequence (motifs, GC, CpG) and biotype, plus cis-eQTLs with
             a planted heritability, plus noise: y = baseline + (G - mean G) + e, on a log scale;
  traits     (their own random stream, so every file above is the same with or without them) a quantitative
             and a binary trait: causal genes act through their genetic expression component G, plus direct
             variant effects, a sex effect, a baseline shift per population and noise; the binary trait is a
             liability threshold. Sex and genotype principal components are written as covariates.
Coordinates are 0-based half-open inside; VCF POS and GTF columns are 1-based.
"""

from __future__ import annotations

import dataclasses
import gzip
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

TRUTH_TABLES = ("motifs", "motif_sites", "genes", "causal_variants", "variants", "params", "traits", "trait_genes",
                "trait_variants")
#: The simulated traits, written to the phenotype table with the covariates (trait name -> type).
TRAITS = {"trait_quantitative": "quantitative", "trait_binary": "binary"}
MAIN_BIOTYPES = ("protein_coding", "lncRNA")
OTHER_BIOTYPES = ("snRNA", "misc_RNA", "processed_pseudogene")
BIOTYPE_EFFECT = {"protein_coding": 0.0, "lncRNA": -1.0, "snRNA": -0.5, "misc_RNA": -0.5, "processed_pseudogene": -1.5}
INTERCEPT = 5.0
VARIANT_KINDS = ("snv", "mnp", "insertion", "deletion", "edge_deletion", "multiallelic", "star", "symbolic")
_UPPER = bytes.maketrans(b"acgtn", b"ACGTN")
_COMPLEMENT = bytes.maketrans(b"ACGTNacgtn", b"TGCANtgcan")
_A, _C, _G, _T, _N = b"ACGTN"
_TRANSITION = {"A": "G", "G": "A", "C": "T", "T": "C"}


class SimulationError(ValueError):
    """A simulation config that cannot be honoured: the message names the key and what to change."""


@dataclass(frozen=True)
class SimulationConfig:
    """Every knob of the simulation; config/README.md ("Demo simulation") documents each key."""

    chromosomes: tuple[str, ...]
    chrom_length: int
    genes_per_chromosome: int
    individuals: int
    window: int = 4000
    seed: int = 0
    populations: tuple[str, ...] = ("POPA", "POPB")
    effective_size: float = 10000.0
    mutation_rate: float = 1.25e-8
    recombination_rate: float = 1e-8
    split_generations: float = 2000.0
    migration_rate: float = 1e-4
    other_biotype_fraction: float = 0.1
    lncrna_fraction: float = 0.25
    cpg_island_fraction: float = 0.5
    repeat_fraction: float = 0.15
    motifs: int = 8
    motif_length: int = 10
    motif_gene_fraction: float = 0.3
    motif_copies: int = 1
    motif_effect: tuple[float, float] = (0.3, 0.9)
    gc_effect: float = 0.4
    cpg_effect: float = 0.6
    baseline_residual_sd: float = 0.4
    eqtl_gene_fraction: float = 0.7
    max_causal: int = 3
    in_window_fraction: float = 0.6
    cis_distance: int = 500000
    heritability: tuple[float, float] = (0.05, 0.6)
    noise_sd: float = 0.3
    indel_fraction: float = 0.12
    mnp_fraction: float = 0.02
    multiallelic_fraction: float = 0.02
    edge_deletion_fraction: float = 0.1
    symbolic_per_chromosome: int = 1
    missing_rate: float = 0.0001
    trait_genes: int = 4
    trait_min_h2: float = 0.4
    trait_chromosomes: tuple[str, ...] | None = None
    trait_expression_share: float = 0.6
    trait_direct_variants: int = 20
    trait_direct_share: float = 0.1
    trait_sex_share: float = 0.1
    trait_population_shift: float = 0.5
    trait_prevalence: float = 0.3
    trait_pcs: int = 2

    # config keys of `simulate:` that map onto fields (chromosomes, window and seed come from elsewhere)
    @classmethod
    def from_config(cls, simulate: dict, chromosomes: list[str], window: int, seed: int) -> SimulationConfig:
        """Build from the `simulate:` section of the config plus `chromosomes`, `window.length` and `seed`."""
        names = {f.name for f in dataclasses.fields(cls)} - {"chromosomes", "window", "seed"}
        unknown = sorted(set(simulate) - names)
        if unknown:
            raise SimulationError(f"config 'simulate': unknown key(s) {unknown}; known keys: {sorted(names)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in simulate.items()}
        return cls(chromosomes=tuple(chromosomes), window=int(window), seed=int(seed), **values)

    def __post_init__(self) -> None:
        if self.window < 200:
            raise SimulationError(f"window.length = {self.window}: the simulation needs at least 200 bp")
        if len(self.populations) < 1 or self.individuals < 2 * len(self.populations):
            raise SimulationError("simulate.individuals must give each population at least 2 individuals")
        if len(set(self.chromosomes)) != len(self.chromosomes):
            raise SimulationError(f"config 'chromosomes' has duplicates: {list(self.chromosomes)}")
        n = self.genes_per_chromosome + self.n_other_genes
        need = self.gap + 2 * (self.window + 100) + (n - 1) * self.gene_spacing
        if need > self.chrom_length:
            raise SimulationError(
                f"simulate.chrom_length = {self.chrom_length} cannot hold {n} genes spaced {self.gene_spacing} bp "
                f"apart (window.length + 1000) with the {self.gap} bp N gap: it needs {need}. Raise chrom_length "
                f"or lower genes_per_chromosome."
            )
        lo, hi = self.heritability
        if not 0 <= lo <= hi < 1:
            raise SimulationError(f"simulate.heritability = {list(self.heritability)}: need 0 <= low <= high < 1")
        shares = self.trait_expression_share + self.trait_direct_share + self.trait_sex_share
        if shares >= 1:
            raise SimulationError(
                f"simulate.trait_expression_share + trait_direct_share + trait_sex_share = {shares:g} leaves no "
                f"room for noise: make their sum less than 1."
            )
        absent = sorted(set(self.trait_chromosomes or ()) - set(self.chromosomes))
        if absent:
            raise SimulationError(f"simulate.trait_chromosomes {absent} are not in 'chromosomes' {list(self.chromosomes)}")

    @property
    def n_other_genes(self) -> int:
        return int(round(self.other_biotype_fraction * self.genes_per_chromosome))

    @property
    def gap(self) -> int:
        """Length of the N run at the start of every chromosome (a telomere gap)."""
        return min(10000, self.chrom_length // 20)

    @property
    def gene_spacing(self) -> int:
        return self.window + 1000

    @property
    def promoter(self) -> int:
        """CpGs are counted in [TSS - promoter, TSS + promoter)."""
        return min(500, self.window // 2)


@dataclass
class Gene:
    gene_id: str  # versionless
    version: int
    gene_name: str
    biotype: str
    chrom: str
    tss: int  # 0-based
    strand: str
    length: int
    exons: list[tuple[int, int]] = field(default_factory=list)  # 0-based half-open, genomic, ascending
    cpg_island: bool = False


@dataclass
class Record:
    pos: int  # 0-based
    ref: str
    alts: list[str]
    gt: np.ndarray  # (2 * individuals,) int8 allele index per haplotype, -1 = missing
    kind: str
    gene_id: str = ""
    info: str = ""

    @property
    def end(self) -> int:
        """0-based exclusive end of the reference bases the record covers (END for symbolic alleles)."""
        if self.alts[0].startswith("<"):
            return int(self.info.split("END=")[1].split(";")[0])
        return self.pos + len(self.ref)


@dataclass
class Simulation:
    """Everything simulated, in memory: sequences, genes, variant records, individuals, expression, truth."""

    config: SimulationConfig
    sequences: dict[str, bytes]
    genes: list[Gene]
    records: dict[str, list[Record]]
    individuals: list[str]
    populations: list[str]
    expression: pd.DataFrame  # genes (versionless id) x individuals
    truth: dict[str, pd.DataFrame]
    phenotypes: pd.DataFrame  # individual, sex, PC1.., then one column per trait (TRAITS)


def window_range(tss: int, strand: str, window: int) -> tuple[int, int]:
    """Genomic [start, end) of the W-bp window whose gene-oriented index W//2 is the TSS."""
    half = window // 2
    return (tss - half, tss - half + window) if strand == "+" else (tss + half - window + 1, tss + half + 1)


def oriented_span(tss: int, strand: str, offset: int, length: int) -> tuple[int, int]:
    """Genomic [start, end) of `length` bases starting `offset` bp downstream of the TSS on the gene's strand."""
    return (tss + offset, tss + offset + length) if strand == "+" else (tss - offset - length + 1, tss - offset + 1)


def reverse_complement(seq: str) -> str:
    return seq.encode().translate(_COMPLEMENT)[::-1].decode()


def motif_bins(window: int, motif_length: int) -> list[tuple[int, int]]:
    """Bins of offsets relative to the TSS (gene orientation) whose widths grow away from it, inside the window."""
    h = window // 2
    edges = [-h, -h // 2, -h // 4, -h // 10, -h // 40, h // 40, h // 4, h]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b - a >= motif_length + 2]


# ---------------------------------------------------------------------------------------------- reference


def _background(length: int, rng: np.random.Generator) -> np.ndarray:
    """Isochores: 5-60 kb blocks of GC 0.30-0.62."""
    sizes = []
    while sum(sizes) < length:
        sizes.append(int(rng.integers(5000, 60000)))
    gc = np.repeat(np.clip(rng.normal(0.41, 0.06, len(sizes)), 0.30, 0.62), sizes)[:length]
    u = rng.random(length)
    return np.where(u < gc / 2, _C, np.where(u < gc, _G, np.where(u < gc + (1 - gc) / 2, _A, _T))).astype(np.uint8)


def _deplete_cpg(seq: np.ndarray, rng: np.random.Generator, loss: float = 0.8) -> None:
    """Methylated CpGs deaminate (CG -> TG or CA) outside islands, as in vertebrate genomes; case is kept."""
    upper = seq & 0xDF
    cpg = np.flatnonzero((upper[:-1] == _C) & (upper[1:] == _G))
    lost = cpg[rng.random(len(cpg)) < loss]
    to_t = rng.random(len(lost)) < 0.5
    seq[lost[to_t]] = _T | (seq[lost[to_t]] & 0x20)
    seq[lost[~to_t] + 1] = _A | (seq[lost[~to_t] + 1] & 0x20)


def _random_bases(n: int, gc: float, rng: np.random.Generator) -> np.ndarray:
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return np.frombuffer(b"ACGT", dtype=np.uint8)[rng.choice(4, size=n, p=p)]


def _plant_repeats(seq: np.ndarray, fraction: float, rng: np.random.Generator) -> None:
    """Diverged copies of a few repeat families and microsatellites, soft-masked (lower case)."""
    families = [_random_bases(300, 0.55, rng), _random_bases(150, 0.45, rng), _random_bases(2000, 0.38, rng)]
    units = [b"CA", b"A", b"AT", b"GGC", b"AAAT"]
    covered, target = 0, fraction * len(seq)
    while covered < target:
        kind = rng.integers(0, 4)
        if kind == 3:
            unit = units[rng.integers(0, len(units))]
            copy = np.frombuffer(unit * int(rng.integers(10, 40)), dtype=np.uint8).copy()
        else:
            copy = families[kind].copy()
            if kind == 2:  # L1-like: a random fragment of a long element
                start = int(rng.integers(0, len(copy) - 200))
                copy = copy[start : start + int(rng.integers(200, len(copy) - start + 1))]
            diverged = rng.random(len(copy)) < rng.uniform(0.03, 0.2)
            copy[diverged] = _random_bases(int(diverged.sum()), 0.45, rng)
            if rng.random() < 0.5:
                copy = np.frombuffer(copy.tobytes().translate(_COMPLEMENT)[::-1], dtype=np.uint8).copy()
        if len(copy) >= len(seq):
            continue
        p = int(rng.integers(0, len(seq) - len(copy)))
        seq[p : p + len(copy)] = copy + 32  # lower case
        covered += len(copy)


def _place_genes(cfg: SimulationConfig, chrom: str, first_index: int, rng: np.random.Generator) -> list[Gene]:
    n_main, n_other = cfg.genes_per_chromosome, cfg.n_other_genes
    n = n_main + n_other
    lo, hi = cfg.gap + cfg.window + 100, cfg.chrom_length - cfg.window - 100
    slack = hi - lo - (n - 1) * cfg.gene_spacing
    tss = lo + np.sort(rng.integers(0, slack + 1, n)) + np.arange(n) * cfg.gene_spacing
    strands = rng.choice(["+", "-"], n)
    if n >= 2 and len(set(strands)) == 1:
        strands[int(rng.integers(0, n))] = "-" if strands[0] == "+" else "+"
    biotypes = np.array(
        [("lncRNA" if rng.random() < cfg.lncrna_fraction else "protein_coding") for _ in range(n_main)]
        + list(rng.choice(OTHER_BIOTYPES, n_other)),
        dtype=object,
    )
    biotypes = biotypes[rng.permutation(n)]
    genes = []
    for i in range(n):
        k = first_index + i
        t, s = int(tss[i]), str(strands[i])
        room = cfg.chrom_length - t if s == "+" else t + 1 - cfg.gap
        length = int(min(np.clip(rng.lognormal(np.log(10000), 0.8), 600, 60000), room))
        gene = Gene(f"ENSG99{k:09d}", int(rng.integers(1, 16)), f"SIMG{k:05d}", str(biotypes[i]), chrom, t, s, length)
        gene.exons = _exons(gene, rng)
        genes.append(gene)
    return genes


def _exons(gene: Gene, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Exons in transcript coordinates [0, length): first at the TSS, last at the gene end; then genomic."""
    k = int(min(rng.integers(1, 9), max(1, gene.length // 300)))
    cuts = np.sort(rng.choice(np.arange(100, gene.length - 100), 2 * (k - 1), replace=False)) if k > 1 else []
    bounds = [0, *[int(c) for c in cuts], gene.length]
    spans = [(bounds[2 * i], bounds[2 * i + 1]) for i in range(k)]
    if gene.strand == "+":
        return [(gene.tss + a, gene.tss + b) for a, b in spans]
    return sorted((gene.tss - b + 1, gene.tss - a + 1) for a, b in spans)


def _plant_cpg_island(seq: np.ndarray, gene: Gene, rng: np.random.Generator) -> None:
    left, right = int(rng.integers(200, 800)), int(rng.integers(200, 1000))
    start, end = max(0, gene.tss - left), min(len(seq), gene.tss + right)
    seq[start:end] = _random_bases(end - start, 0.68, rng)
    gene.cpg_island = True


def _make_motifs(cfg: SimulationConfig, rng: np.random.Generator) -> pd.DataFrame:
    bins = motif_bins(cfg.window, cfg.motif_length)
    if cfg.motifs and not bins:
        raise SimulationError(f"window.length {cfg.window} is too short for motifs of {cfg.motif_length} bp")
    order = rng.permutation(len(bins)) if bins else []
    low, high = cfg.motif_effect
    signs = np.where(np.arange(cfg.motifs) % 2 == 0, 1.0, -1.0)[rng.permutation(cfg.motifs)]
    rows, seen = [], set()
    for i in range(cfg.motifs):
        while True:
            motif = _random_bases(cfg.motif_length, 0.5, rng).tobytes().decode()
            rc = reverse_complement(motif)
            if motif != rc and motif not in seen and rc not in seen:
                break
        seen.update((motif, rc))
        a, b = bins[order[i % len(bins)]]
        rows.append((f"M{i + 1}", motif, a, b, round(float(signs[i] * rng.uniform(low, high)), 3)))
    return pd.DataFrame(rows, columns=["motif_id", "sequence", "bin_start", "bin_end", "effect"])


def _plant_motifs(seq: np.ndarray, gene: Gene, motifs: pd.DataFrame, fraction: float, max_copies: int,
                  rng: np.random.Generator):
    """Write 1..max_copies copies of each chosen motif at random offsets inside its bin, on the gene's strand;
    returns one row per site (each site adds the motif's effect: a dose-response in the copy number)."""
    rows, taken = [], []
    for m in motifs.itertuples():
        if rng.random() >= fraction:
            continue
        length = len(m.sequence)
        for _copy in range(int(rng.integers(1, max_copies + 1))):
            for _ in range(20):
                offset = int(rng.integers(m.bin_start, m.bin_end - length + 1))
                if all(offset + length <= a or b <= offset for a, b in taken):
                    break
            else:
                continue
            taken.append((offset, offset + length))
            start, end = oriented_span(gene.tss, gene.strand, offset, length)
            forward = m.sequence if gene.strand == "+" else reverse_complement(m.sequence)
            seq[start:end] = np.frombuffer(forward.encode(), dtype=np.uint8)
            rows.append((gene.gene_id, m.motif_id, offset, gene.chrom, start, end, gene.strand, forward))
    return rows


# ---------------------------------------------------------------------------------------------- variants


def _ancestry(cfg: SimulationConfig, seed: int):
    """msprime tree sequence of one chromosome: populations split from an ancestor, with migration."""
    import msprime

    logging.getLogger("msprime").setLevel(logging.WARNING)  # one line per replicate otherwise
    demography = msprime.Demography()
    for name in cfg.populations:
        demography.add_population(name=name, initial_size=cfg.effective_size)
    if len(cfg.populations) > 1:
        demography.add_population(name="ANCESTRAL", initial_size=cfg.effective_size)
        demography.add_population_split(
            time=cfg.split_generations, derived=list(cfg.populations), ancestral="ANCESTRAL"
        )
        demography.set_symmetric_migration_rate(list(cfg.populations), cfg.migration_rate)
    sizes = [len(a) for a in np.array_split(np.arange(cfg.individuals), len(cfg.populations))]
    samples = [msprime.SampleSet(n, population=p, ploidy=2) for p, n in zip(cfg.populations, sizes)]
    seeds = np.random.default_rng(seed).integers(1, 2**31 - 1, 2)
    ts = msprime.sim_ancestry(
        samples=samples,
        demography=demography,
        sequence_length=cfg.chrom_length,
        recombination_rate=cfg.recombination_rate,
        random_seed=int(seeds[0]),
    )
    return msprime.sim_mutations(
        ts, rate=cfg.mutation_rate, model=msprime.BinaryMutationModel(), discrete_genome=True,
        random_seed=int(seeds[1]),
    )


def _other_base(base: str, rng: np.random.Generator) -> str:
    if rng.random() < 2 / 3:
        return _TRANSITION[base]
    return str(rng.choice([b for b in "ACGT" if b != base and b != _TRANSITION[base]]))


def _indel_length(rng: np.random.Generator, cap: int) -> int:
    return int(min(rng.geometric(0.35), cap))


def _record(p: int, g: np.ndarray, upper: bytes, cfg: SimulationConfig, rng: np.random.Generator) -> Record:
    """A biallelic record at 0-based `p` with msprime's genotypes: the kind is drawn, REF read from the FASTA."""
    base = chr(upper[p])
    u = rng.random()
    if u < cfg.indel_fraction / 2:
        inserted = _random_bases(_indel_length(rng, 30), 0.45, rng).tobytes().decode()
        return Record(p, base, [base + inserted], g, "insertion")
    if u < cfg.indel_fraction:
        ref = upper[p : p + 1 + _indel_length(rng, 40)].decode()
        if "N" not in ref:
            return Record(p, ref, [base], g, "deletion")
    elif u < cfg.indel_fraction + cfg.mnp_fraction:
        ref = upper[p : p + int(rng.integers(2, 4))].decode()
        if "N" not in ref:
            return Record(p, ref, ["".join(_other_base(b, rng) for b in ref)], g, "mnp")
    return Record(p, base, [_other_base(base, rng)], g, "snv")


def _multiallelic(rec: Record, second: np.ndarray, upper: bytes, rng: np.random.Generator) -> Record:
    """Fold the next site's derived allele into an SNV record as a second ALT (another base or a deletion)."""
    gt = rec.gt.copy()
    gt[(second == 1) & (gt == 0)] = 2
    base, alt1 = rec.ref, rec.alts[0]
    if rng.random() < 0.5:
        alt2 = next(b for b in "ACGT" if b not in (base, alt1))
        return Record(rec.pos, base, [alt1, alt2], gt, "multiallelic")
    ref = upper[rec.pos : rec.pos + 1 + _indel_length(rng, 20)].decode()
    if "N" in ref:
        ref = base
    if len(ref) == 1:
        return Record(rec.pos, base, [alt1, next(b for b in "ACGT" if b not in (base, alt1))], gt, "multiallelic")
    return Record(rec.pos, ref, [alt1 + ref[1:], base], gt, "multiallelic")


def _alt_freq(gt: np.ndarray, allele: int = 1) -> float:
    return float((gt == allele).mean())


def _donor(records: dict[int, Record], low: float, high: float, rng: np.random.Generator) -> Record | None:
    """A random SNV whose allele frequency lies in [low, high]; it is removed from `records`."""
    snvs = [r for r in records.values() if r.kind == "snv"]
    fallback = None
    for i in rng.permutation(len(snvs)):  # the first random SNV that fits; usually a few tries
        freq = _alt_freq(snvs[i].gt)
        if low <= freq <= high:
            fallback = snvs[i]
            break
        if fallback is None and freq > 0:
            fallback = snvs[i]
    if fallback is not None:
        del records[fallback.pos]
    return fallback


def _build_records(
    cfg: SimulationConfig, upper: bytes, genes: list[Gene], positions: np.ndarray, geno: np.ndarray,
    rng: np.random.Generator,
) -> list[Record]:
    length = len(upper)
    records: dict[int, Record] = {}
    keep = [i for i, p in enumerate(positions) if cfg.gap <= p < length - 200 and upper[p] != _N]
    fold = rng.random(len(keep)) < cfg.multiallelic_fraction
    skip = False
    for j, i in enumerate(keep):
        if skip:
            skip = False
            continue
        p = int(positions[i])
        rec = _record(p, geno[i].astype(np.int8), upper, cfg, rng)
        if rec.kind == "snv" and fold[j] and j + 1 < len(keep):
            rec = _multiallelic(rec, geno[keep[j + 1]], upper, rng)
            skip = True
        records[p] = rec

    half = cfg.window // 2
    n_edge = max(1, int(round(cfg.edge_deletion_fraction * len(genes))))
    for gi in rng.choice(len(genes), min(n_edge, len(genes)), replace=False):
        gene = genes[int(gi)]
        start, end = window_range(gene.tss, gene.strand, cfg.window)
        edge = start if rng.random() < 0.5 else end
        p = edge - int(rng.integers(3, 30))
        span = edge - p + int(rng.integers(3, 30))
        donor = _donor(records, 0.05, 0.5, rng)
        ref = upper[p : p + 1 + span].decode()
        if donor is None or "N" in ref:
            continue
        records[p] = Record(p, ref, [ref[0]], donor.gt, "edge_deletion", gene.gene_id)

    for _ in range(cfg.symbolic_per_chromosome):
        gene = genes[int(rng.integers(0, len(genes)))]
        start, _end = window_range(gene.tss, gene.strand, cfg.window)
        p = start + int(rng.integers(10, max(11, half // 2)))
        size = int(rng.integers(300, 2000))
        donor = _donor(records, 0.02, 0.3, rng)
        if donor is None or p + 1 + size > length:
            continue
        records[p] = Record(
            p, chr(upper[p]), ["<DEL>"], donor.gt, "symbolic", gene.gene_id,
            f"SVTYPE=DEL;SVLEN=-{size};END={p + 1 + size}",
        )

    # a deletion and, inside it, a site whose haplotypes that carry the deletion show the `*` allele
    donor = _donor(records, 0.05, 0.5, rng)
    if donor is not None:
        p, size = donor.pos, int(rng.integers(3, 11))
        ref = upper[p : p + 1 + size].decode()
        if "N" not in ref and p + 1 + size < length:
            records[p] = Record(p, ref, [ref[0]], donor.gt, "deletion")
            q = p + 1 + int(rng.integers(0, size))
            base = chr(upper[q])
            gt = np.where(donor.gt == 1, 2, (rng.random(len(donor.gt)) < 0.15).astype(np.int8)).astype(np.int8)
            records[q] = Record(q, base, [_other_base(base, rng), "*"], gt, "star")

    out = [records[p] for p in sorted(records)]
    n_hap = geno.shape[1]
    n_missing = max(3, int(round(cfg.missing_rate * len(out) * n_hap)))
    for idx, ind in zip(rng.integers(0, len(out), n_missing), rng.integers(0, n_hap // 2, n_missing)):
        rec = out[int(idx)]
        rec.gt = rec.gt.copy()
        if rng.random() < 0.5:
            rec.gt[2 * ind : 2 * ind + 2] = -1  # .|.
        else:
            rec.gt[2 * ind + int(rng.integers(0, 2))] = -1  # .|0, 1|. ...
    return out


# ---------------------------------------------------------------------------------------------- expression


def _eligible_causal(records: list[Record]) -> np.ndarray:
    """Biallelic SNV/MNP/indel records with MAF >= 0.05 that overlap no other record."""
    ends = np.array([r.end for r in records])
    starts = np.array([r.pos for r in records])
    prev_end = np.concatenate([[-1], np.maximum.accumulate(ends)[:-1]])
    next_start = np.concatenate([starts[1:], [np.iinfo(np.int64).max]])
    freq = np.array([_alt_freq(r.gt) for r in records])
    kinds = np.array([r.kind for r in records])
    return (
        np.isin(kinds, ["snv", "mnp", "insertion", "deletion"])
        & (prev_end <= starts)
        & (next_start >= ends)
        & (np.minimum(freq, 1 - freq) >= 0.05)
    )


def _dosage(gt: np.ndarray) -> np.ndarray:
    """ALT dosage per individual; a missing allele counts as REF (the haplotypes stage's default policy)."""
    return (gt[0::2] == 1).astype(float) + (gt[1::2] == 1).astype(float)


def _plant_eqtls(
    cfg: SimulationConfig, genes: list[Gene], records: list[Record], rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], dict[str, float], list[tuple]]:
    """Causal variants and effects per gene; returns the centred genetic values, the h2 drawn, truth rows."""
    eligible = _eligible_causal(records) if records else np.zeros(0, bool)
    starts = np.array([r.pos for r in records])
    ends = np.array([r.end for r in records])
    used: set[int] = set()
    genetic, h2s, rows = {}, {}, []
    half = cfg.window // 2
    for gene in genes:
        if rng.random() >= cfg.eqtl_gene_fraction:
            continue
        w_start, w_end = window_range(gene.tss, gene.strand, cfg.window)
        inside = eligible & (starts >= w_start + 20) & (ends <= w_end - 20)
        dist = np.abs(starts - gene.tss)
        far = eligible & (dist > half + 1000) & (dist <= cfg.cis_distance)
        chosen: list[int] = []
        for _ in range(int(rng.integers(1, cfg.max_causal + 1))):
            pools = [inside, far] if rng.random() < cfg.in_window_fraction else [far, inside]
            for pool in pools:
                candidates = [i for i in np.flatnonzero(pool) if i not in used and i not in chosen]
                if candidates:
                    chosen.append(int(rng.choice(candidates)))
                    break
        if not chosen:
            continue
        dosages = np.column_stack([_dosage(records[i].gt) for i in chosen])
        raw = rng.normal(0, 1, len(chosen))
        raw = np.where(np.abs(raw) < 0.3, np.sign(raw + 1e-12) * 0.3, raw)
        value = dosages @ raw
        if value.var() == 0:
            continue
        h2 = float(rng.uniform(*cfg.heritability))
        scale = np.sqrt(h2 / (1 - h2) * cfg.noise_sd**2 / value.var())
        genetic[gene.gene_id] = (value - value.mean()) * scale
        h2s[gene.gene_id] = h2
        used.update(chosen)
        for i, beta in zip(chosen, raw * scale):
            r = records[i]
            rows.append(
                (gene.chrom, r.pos + 1, r.ref, r.alts[0], gene.gene_id, round(float(beta), 6),
                 round(_alt_freq(r.gt), 4), r.pos - gene.tss, bool(inside[i]))
            )
    return genetic, h2s, rows


def _features(gene: Gene, upper: bytes, cfg: SimulationConfig) -> tuple[float, int]:
    start, end = window_range(gene.tss, gene.strand, cfg.window)
    win = upper[start:end]
    gc = (win.count(b"G") + win.count(b"C")) / max(1, len(win) - win.count(b"N"))
    promoter = upper[gene.tss - cfg.promoter : gene.tss + cfg.promoter]
    return gc, promoter.count(b"CG")


# ---------------------------------------------------------------------------------------------- driver


def simulate(cfg: SimulationConfig) -> Simulation:
    """Run the whole simulation in memory (deterministic for a given config, seed included)."""
    # The traits draw from a fifth stream: the first four, and so every file but the traits', are as without them.
    streams = np.random.SeedSequence(cfg.seed).spawn(5)
    rng_ref, rng_genes, rng_var, rng_expr, rng_traits = (np.random.default_rng(s) for s in streams)

    motifs = _make_motifs(cfg, rng_genes)
    sequences: dict[str, bytes] = {}
    genes: list[Gene] = []
    sites = []
    for ci, chrom in enumerate(cfg.chromosomes):
        seq = _background(cfg.chrom_length, rng_ref)
        if cfg.repeat_fraction > 0:
            _plant_repeats(seq, cfg.repeat_fraction, rng_ref)
        _deplete_cpg(seq, rng_ref)
        seq[: cfg.gap] = _N
        chrom_genes = _place_genes(cfg, chrom, len(genes) + 1, rng_genes)
        for gene in chrom_genes:
            if rng_genes.random() < cfg.cpg_island_fraction:
                _plant_cpg_island(seq, gene, rng_genes)
            sites += _plant_motifs(seq, gene, motifs, cfg.motif_gene_fraction, cfg.motif_copies, rng_genes)
        sequences[chrom] = seq.tobytes()
        genes += chrom_genes
        log.info("%s: %d bp, %d genes", chrom, cfg.chrom_length, len(chrom_genes))
    motif_sites = pd.DataFrame(
        sites, columns=["gene_id", "motif_id", "offset", "chrom", "start", "end", "strand", "sequence"]
    )

    n = cfg.individuals
    sizes = [len(a) for a in np.array_split(np.arange(n), len(cfg.populations))]
    populations = [p for p, k in zip(cfg.populations, sizes) for _ in range(k)]
    individuals = [f"SIM{i + 1:04d}" for i in range(n)]
    records: dict[str, list[Record]] = {}
    ancestry_seeds = rng_var.integers(1, 2**31 - 1, len(cfg.chromosomes))
    for chrom, ancestry_seed in zip(cfg.chromosomes, ancestry_seeds):
        ts = _ancestry(cfg, int(ancestry_seed))
        positions = ts.tables.sites.position.astype(np.int64)
        upper = sequences[chrom].translate(_UPPER)
        chrom_genes = [g for g in genes if g.chrom == chrom]
        records[chrom] = _build_records(cfg, upper, chrom_genes, positions, ts.genotype_matrix(), rng_var)
        log.info("%s: %d msprime sites -> %d VCF records", chrom, len(positions), len(records[chrom]))

    expression, truth_genes, causal, genetic = _expression(cfg, genes, sequences, records, motifs, motif_sites,
                                                           individuals, rng_expr)
    phenotypes, trait_truth = _traits(cfg, truth_genes, genetic, records, individuals, populations, causal, rng_traits)
    truth = {
        "motifs": motifs,
        "motif_sites": motif_sites,
        "genes": truth_genes,
        "causal_variants": causal,
        "variants": _variant_table(records),
        "params": _params(cfg, truth_genes),
        **trait_truth,
    }
    return Simulation(cfg, sequences, genes, records, individuals, populations, expression, truth, phenotypes)


def _expression(
    cfg: SimulationConfig,
    genes: list[Gene],
    sequences: dict[str, bytes],
    records: dict[str, list[Record]],
    motifs: pd.DataFrame,
    motif_sites: pd.DataFrame,
    individuals: list[str],
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """Baseline from the TSS sequence and biotype, plus centred genetic values, plus noise; and the truth. The
    centred genetic values (gene -> one value per individual) are returned too: the traits act through them."""
    uppers = {c: s.translate(_UPPER) for c, s in sequences.items()}
    feats = np.array([_features(g, uppers[g.chrom], cfg) for g in genes])
    gc, cpg = feats[:, 0], feats[:, 1]
    log_cpg = np.log1p(cpg)
    gc_z = (gc - gc.mean()) / (gc.std() or 1.0)
    cpg_z = (log_cpg - log_cpg.mean()) / (log_cpg.std() or 1.0)
    effect = motifs.set_index("motif_id")["effect"]
    motif_effect = motif_sites.assign(e=motif_sites["motif_id"].map(effect)).groupby("gene_id")["e"].sum()
    table = pd.DataFrame(
        {
            "gene_id": [g.gene_id for g in genes],
            "gene_name": [g.gene_name for g in genes],
            "biotype": [g.biotype for g in genes],
            "chrom": [g.chrom for g in genes],
            "tss": [g.tss for g in genes],
            "strand": [g.strand for g in genes],
            "cpg_island": [g.cpg_island for g in genes],
            "gc_fraction": gc.round(4),
            "cpg_count": cpg.astype(int),
            "biotype_effect": [BIOTYPE_EFFECT[g.biotype] for g in genes],
            "gc_effect": (cfg.gc_effect * gc_z).round(4),
            "cpg_effect": (cfg.cpg_effect * cpg_z).round(4),
        }
    )
    table["motif_effect"] = table["gene_id"].map(motif_effect).fillna(0.0).round(4)
    table["residual"] = rng.normal(0, cfg.baseline_residual_sd, len(genes)).round(4)
    table["baseline"] = (
        INTERCEPT + table[["biotype_effect", "gc_effect", "cpg_effect", "motif_effect", "residual"]].sum(axis=1)
    ).round(4)

    genetic, h2s, causal_rows = {}, {}, []
    for chrom in cfg.chromosomes:
        g, h, rows = _plant_eqtls(cfg, [x for x in genes if x.chrom == chrom], records[chrom], rng)
        genetic.update(g)
        h2s.update(h)
        causal_rows += rows
    noise = rng.normal(0, cfg.noise_sd, (len(genes), len(individuals)))
    values = table["baseline"].to_numpy()[:, None] + noise
    realised = []
    for i, gene in enumerate(genes):
        if gene.gene_id in genetic:
            values[i] += genetic[gene.gene_id]
            realised.append(round(float(genetic[gene.gene_id].var() / (values[i] - table["baseline"][i]).var()), 4))
        else:
            realised.append(0.0)
    table["h2"] = [round(h2s.get(g.gene_id, 0.0), 4) for g in genes]
    table["realised_h2"] = realised
    causal = pd.DataFrame(
        causal_rows,
        columns=["chrom", "pos", "ref", "alt", "gene_id", "effect", "alt_frequency", "distance_to_tss", "in_window"],
    )
    table["n_causal"] = table["gene_id"].map(causal["gene_id"].value_counts()).fillna(0).astype(int)
    expression = pd.DataFrame(values.round(4), index=pd.Index(table["gene_id"], name="gene_id"), columns=individuals)
    return expression, table, causal, genetic


# ---------------------------------------------------------------------------------------------- traits


def _genotype_pcs(records: dict[str, list[Record]], n_individuals: int, n_pcs: int) -> np.ndarray:
    """Principal components (individuals x n_pcs) of the standardised ALT dosages of the biallelic SNVs with MAF >=
    0.05 of every chromosome, scaled by the square root of their number: the genotype PCs a study adds as
    covariates. Each PC's sign makes its largest absolute score positive (deterministic)."""
    dosages = [_dosage(r.gt) for recs in records.values() for r in recs if r.kind == "snv"]
    x = np.column_stack(dosages) if dosages else np.zeros((n_individuals, 0))
    freq = x.mean(axis=0) / 2
    x = x[:, np.minimum(freq, 1 - freq) >= 0.05]
    if x.shape[1] < n_pcs:
        raise SimulationError(f"simulate.trait_pcs = {n_pcs}: only {x.shape[1]} common SNVs to compute them from")
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    values, vectors = np.linalg.eigh(x @ x.T / x.shape[1])  # the relationship matrix: individuals x individuals
    top = np.argsort(values)[::-1][:n_pcs]
    pcs = vectors[:, top] * np.sqrt(np.clip(values[top], 0, None))
    largest = pcs[np.argmax(np.abs(pcs), axis=0), np.arange(pcs.shape[1])]
    return pcs * np.where(largest < 0, -1.0, 1.0)


def _scaled(part: np.ndarray, share: float) -> tuple[np.ndarray, float]:
    """`part` rescaled to variance `share` (and the factor), or zeros when it is constant."""
    sd = part.std()
    factor = float(np.sqrt(share) / sd) if sd > 0 else 0.0
    return part * factor, factor


def _traits(
    cfg: SimulationConfig,
    truth_genes: pd.DataFrame,
    genetic: dict[str, np.ndarray],
    records: dict[str, list[Record]],
    individuals: list[str],
    populations: list[str],
    causal: pd.DataFrame,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The phenotype table (individual, sex, PC1.., one column per trait of TRAITS) and the traits' truth.

    Each trait's liability, in SD units within a population: causal genes' genetic expression components
    (standardised, a random sign and size each; together `trait_expression_share` of the variance) + direct effects
    of random common SNVs that are no eQTL (`trait_direct_share`) + a sex effect (`trait_sex_share`) + noise (the
    rest) + `trait_population_shift` times the population's index in `populations`. The binary trait is 1 for the
    `trait_prevalence` share of highest liabilities. Causal genes are eQTL genes with planted h2 >=
    `trait_min_h2` on `trait_chromosomes` (default every chromosome)."""
    n = len(individuals)
    sex = rng.integers(0, 2, n)
    pcs = _genotype_pcs(records, n, cfg.trait_pcs)
    shift = np.array([cfg.populations.index(p) for p in populations], dtype=float) * cfg.trait_population_shift
    chromosomes = set(cfg.trait_chromosomes or cfg.chromosomes)
    eligible = truth_genes[(truth_genes["h2"] >= cfg.trait_min_h2) & truth_genes["chrom"].isin(chromosomes)
                           & truth_genes["gene_id"].isin(list(genetic))]["gene_id"].to_numpy()
    eqtl_sites = set(zip(causal["chrom"], causal["pos"] - 1))
    snvs = [(chrom, r) for chrom, recs in records.items() for r in recs
            if r.kind == "snv" and (chrom, r.pos) not in eqtl_sites and 0.05 <= _alt_freq(r.gt) <= 0.95]
    by_gene = truth_genes.set_index("gene_id")
    table = pd.DataFrame({"individual": individuals, "sex": sex})
    for i in range(pcs.shape[1]):
        table[f"PC{i + 1}"] = pcs[:, i].round(6)
    trait_rows, gene_rows, variant_rows = [], [], []
    for trait, kind in TRAITS.items():
        k = min(cfg.trait_genes, len(eligible))
        if k < cfg.trait_genes:
            log.warning("%s: only %d eQTL genes with h2 >= %s for %d causal genes", trait, k, cfg.trait_min_h2,
                        cfg.trait_genes)
        genes = rng.choice(eligible, k, replace=False) if k else np.array([], dtype=object)
        signs = rng.choice([-1.0, 1.0], k) * rng.uniform(0.7, 1.3, k)
        values = np.column_stack([genetic[g] / genetic[g].std() for g in genes]) if k else np.zeros((n, 0))
        expression_part, factor = _scaled(values @ signs, cfg.trait_expression_share)
        picks = rng.choice(len(snvs), min(cfg.trait_direct_variants, len(snvs)), replace=False)
        dosages = np.column_stack([_dosage(snvs[j][1].gt) for j in picks]) if len(picks) else np.zeros((n, 0))
        betas = rng.normal(0, 1, len(picks))
        direct_part, direct_factor = _scaled(dosages @ betas - (dosages @ betas).mean(), cfg.trait_direct_share)
        sex_part, sex_factor = _scaled(sex - sex.mean(), cfg.trait_sex_share)
        noise_share = 1 - cfg.trait_expression_share - cfg.trait_direct_share - cfg.trait_sex_share
        noise = rng.normal(0, np.sqrt(noise_share), n)
        liability = expression_part + direct_part + sex_part + noise + shift
        if kind == "binary":
            table[trait] = (liability > np.quantile(liability, 1 - cfg.trait_prevalence)).astype(int)
        else:
            table[trait] = liability.round(4)
        total = (liability - shift).var()
        trait_rows.append((trait, kind, k, len(picks), cfg.trait_expression_share, cfg.trait_direct_share,
                           cfg.trait_sex_share, round(noise_share, 6), round(sex_factor, 6),
                           cfg.trait_population_shift, round(float(expression_part.var() / total), 4),
                           round(float(table[trait].mean()), 4) if kind == "binary" else np.nan))
        for g, sign in zip(genes, signs):
            gene_rows.append((trait, g, by_gene.at[g, "chrom"], int(by_gene.at[g, "tss"]), by_gene.at[g, "h2"],
                              round(float(sign * factor), 6)))
        for j, beta in zip(picks, betas):
            chrom, r = snvs[j]
            variant_rows.append((trait, chrom, r.pos + 1, r.ref, r.alts[0], round(float(beta * direct_factor), 6),
                                 round(_alt_freq(r.gt), 4)))
    truth = {
        "traits": pd.DataFrame(trait_rows, columns=[
            "trait", "type", "n_genes", "n_variants", "expression_share", "direct_share", "sex_share",
            "noise_share", "sex_effect", "population_shift", "realised_expression_share", "prevalence"]),
        "trait_genes": pd.DataFrame(gene_rows, columns=["trait", "gene_id", "chrom", "tss", "h2", "effect"]),
        "trait_variants": pd.DataFrame(variant_rows, columns=["trait", "chrom", "pos", "ref", "alt", "effect",
                                                              "alt_frequency"]),
    }
    return table, truth


def _variant_table(records: dict[str, list[Record]]) -> pd.DataFrame:
    rows = [
        (chrom, r.pos + 1, r.kind, len(r.alts), r.end - r.pos, int((r.gt < 0).sum()), r.gene_id)
        for chrom, recs in records.items()
        for r in recs
    ]
    return pd.DataFrame(rows, columns=["chrom", "pos", "kind", "n_alt", "ref_span", "missing_alleles", "gene_id"])


def _params(cfg: SimulationConfig, genes: pd.DataFrame) -> pd.DataFrame:
    log_cpg = np.log1p(genes["cpg_count"])
    values = {
        "intercept": INTERCEPT,
        "gc_effect_per_sd": cfg.gc_effect,
        "gc_mean": round(float(genes["gc_fraction"].mean()), 6),
        "gc_sd": round(float(genes["gc_fraction"].std(ddof=0)), 6),
        "cpg_effect_per_sd_log1p": cfg.cpg_effect,
        "log1p_cpg_mean": round(float(log_cpg.mean()), 6),
        "log1p_cpg_sd": round(float(log_cpg.std(ddof=0)), 6),
        "cpg_region_half_width": cfg.promoter,
        "gc_region": cfg.window,
        "noise_sd": cfg.noise_sd,
        "baseline_residual_sd": cfg.baseline_residual_sd,
        "window": cfg.window,
        "seed": cfg.seed,
        **{f"biotype_effect_{k}": v for k, v in BIOTYPE_EFFECT.items()},
    }
    return pd.DataFrame({"parameter": list(values), "value": list(values.values())})


# ---------------------------------------------------------------------------------------------- writing


def _gzip_text(path: Path, text: str) -> None:
    """Plain gzip with a fixed header (no name, mtime 0), so equal content gives equal bytes."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as fh:
        fh.write(text.encode())


def _write_fasta(path: Path, sequences: dict[str, bytes]) -> None:
    import pysam

    with pysam.BGZFile(str(path), "wb") as fh:
        for chrom, seq in sequences.items():
            lines = [seq[i : i + 60] for i in range(0, len(seq), 60)]
            fh.write(b">" + chrom.encode() + b"\n" + b"\n".join(lines) + b"\n")
    pysam.faidx(str(path))


def _gtf(genes: list[Gene], order: list[str]) -> str:
    lines = ["##description: hapexpr demo annotation (simulated, GENCODE-like)", "##provider: hapexpr", "##format: gtf"]
    rank = {c: i for i, c in enumerate(order)}
    for g in sorted(genes, key=lambda g: (rank[g.chrom], min(e[0] for e in g.exons))):
        start, end = min(e[0] for e in g.exons), max(e[1] for e in g.exons)
        gid, tid = f"{g.gene_id}.{g.version}", f"ENST{g.gene_id[4:]}.1"
        gene_attr = f'gene_id "{gid}"; gene_type "{g.biotype}"; gene_name "{g.gene_name}"; level 2;'
        tx_attr = (
            f'{gene_attr} transcript_id "{tid}"; transcript_type "{g.biotype}"; '
            f'transcript_name "{g.gene_name}-201"; tag "basic";'
        )
        common = f"{g.chrom}\tHAPEXPR\t{{}}\t{{}}\t{{}}\t.\t{g.strand}\t.\t"
        lines.append(common.format("gene", start + 1, end) + gene_attr)
        lines.append(common.format("transcript", start + 1, end) + tx_attr)
        exons = g.exons if g.strand == "+" else g.exons[::-1]
        for n, (a, b) in enumerate(exons, 1):
            exon_attr = f'{tx_attr} exon_number {n}; exon_id "ENSE{g.gene_id[4:]}{n:03d}.1";'
            lines.append(common.format("exon", a + 1, b) + exon_attr)
    return "\n".join(lines) + "\n"


_GT_STRINGS = np.array([f"{'.' if a < 0 else a}|{'.' if b < 0 else b}" for a in range(-1, 4) for b in range(-1, 4)])


def _vcf_text(chrom: str, records: list[Record], samples: list[str], lengths: dict[str, int]) -> str:
    import msprime

    header = [
        "##fileformat=VCFv4.2",
        f"##source=hapexpr.simulate (msprime {msprime.__version__})",
        *(f"##contig=<ID={c},length={n}>" for c, n in lengths.items()),
        '##ALT=<ID=DEL,Description="Deletion">',
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count in genotypes, per ALT allele">',
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="Number of called alleles">',
        '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type of structural variant">',
        '##INFO=<ID=SVLEN,Number=1,Type=Integer,Description="Length difference between ALT and REF">',
        '##INFO=<ID=END,Number=1,Type=Integer,Description="End position of the structural variant">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Phased genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples),
    ]
    lines = []
    for r in records:
        gt = r.gt.astype(np.int64)
        codes = (gt[0::2] + 1) * 5 + (gt[1::2] + 1)
        counts = ",".join(str(int((gt == a).sum())) for a in range(1, len(r.alts) + 1))
        info = f"AC={counts};AN={int((gt >= 0).sum())}" + (f";{r.info}" if r.info else "")
        alt_id = "_".join("STAR" if a == "*" else a.strip("<>") for a in r.alts)
        vid = f"{chrom}:{r.pos + 1}:{r.ref if len(r.ref) <= 20 else len(r.ref)}:{alt_id}"
        lines.append(
            f"{chrom}\t{r.pos + 1}\t{vid}\t{r.ref}\t{','.join(r.alts)}\t.\tPASS\t{info}\tGT\t"
            + "\t".join(_GT_STRINGS[codes])
        )
    return "\n".join(header + lines) + "\n"


def _write_vcf(path: Path, text: str) -> None:
    import pysam

    with pysam.BGZFile(str(path), "wb") as fh:
        fh.write(text.encode())
    pysam.tabix_index(str(path), preset="vcf", force=True)


def _expression_text(sim: Simulation) -> str:
    by_id = {g.gene_id: g for g in sim.genes}
    meta = pd.DataFrame(
        {
            "TargetID": [f"{g}.{by_id[g].version}" for g in sim.expression.index],
            "Gene_Symbol": [by_id[g].gene_name for g in sim.expression.index],
            "Chr": [by_id[g].chrom.removeprefix("chr") for g in sim.expression.index],
            "Coord": [by_id[g].tss + 1 for g in sim.expression.index],
        }
    )
    table = pd.concat([meta, sim.expression.reset_index(drop=True)], axis=1)
    return table.to_csv(sep="\t", index=False, float_format="%.4f", lineterminator="\n")


def write_simulation(sim: Simulation, paths: dict[str, str | os.PathLike]) -> None:
    """Write every file of the simulate stage; all appear together, only once everything is written.

    `paths` keys: reference, annotation, expression, populations, phenotypes, truth_dir, and vcf: {chrom: path} or
    a template with {chrom}.
    Files are staged in a temporary directory beside the outputs and renamed into place (indexes first).
    """
    finals = {
        "reference": Path(paths["reference"]),
        "reference_fai": Path(f"{paths['reference']}.fai"),
        "reference_gzi": Path(f"{paths['reference']}.gzi"),
        "annotation": Path(paths["annotation"]),
        "expression": Path(paths["expression"]),
        "populations": Path(paths["populations"]),
        "phenotypes": Path(paths["phenotypes"]),
    }
    for chrom in sim.config.chromosomes:
        vcf = str(paths["vcf"][chrom] if isinstance(paths["vcf"], dict) else str(paths["vcf"]).format(chrom=chrom))
        finals[f"vcf_{chrom}"], finals[f"tbi_{chrom}"] = Path(vcf), Path(f"{vcf}.tbi")
    for name in TRUTH_TABLES:
        finals[f"truth_{name}"] = Path(paths["truth_dir"]) / f"{name}.tsv"
    root = Path(os.path.commonpath([p.resolve().parent for p in finals.values()]))
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".simulate.*"):  # left by a killed simulate job (one runs at a time)
        shutil.rmtree(stale, ignore_errors=True)
    stage = Path(tempfile.mkdtemp(prefix=".simulate.", dir=root))
    try:
        staged = {k: stage / k for k in finals}
        _write_fasta(staged["reference"], sim.sequences)
        os.replace(f"{staged['reference']}.fai", staged["reference_fai"])
        os.replace(f"{staged['reference']}.gzi", staged["reference_gzi"])
        _gzip_text(staged["annotation"], _gtf(sim.genes, list(sim.config.chromosomes)))
        _gzip_text(staged["expression"], _expression_text(sim))
        staged["populations"].write_text("".join(f"{i}\t{p}\n" for i, p in zip(sim.individuals, sim.populations)))
        sim.phenotypes.to_csv(staged["phenotypes"], sep="\t", index=False, lineterminator="\n")
        lengths = {c: len(s) for c, s in sim.sequences.items()}
        for chrom in sim.config.chromosomes:
            _write_vcf(staged[f"vcf_{chrom}"], _vcf_text(chrom, sim.records[chrom], sim.individuals, lengths))
            os.replace(f"{staged[f'vcf_{chrom}']}.tbi", staged[f"tbi_{chrom}"])
        for name in TRUTH_TABLES:
            sim.truth[name].to_csv(staged[f"truth_{name}"], sep="\t", index=False)
        # indexes first: a data file never appears without its index
        for key in sorted(finals, key=lambda k: k in ("reference",) or k.startswith("vcf_")):
            finals[key].parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged[key], finals[key])
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def simulate_demo(cfg: SimulationConfig, paths: dict[str, str | os.PathLike]) -> Simulation:
    """The simulate stage: simulate, then write the download contract files and the truth."""
    sim = simulate(cfg)
    write_simulation(sim, paths)
    kinds = sim.truth["variants"]["kind"].value_counts().to_dict()
    log.info("variant records by kind: %s", kinds)
    log.info("%d genes, %d with planted eQTLs, %d causal variants, %d motif sites",
             len(sim.genes), int((sim.truth["genes"]["h2"] > 0).sum()), len(sim.truth["causal_variants"]),
             len(sim.truth["motif_sites"]))
    return sim
