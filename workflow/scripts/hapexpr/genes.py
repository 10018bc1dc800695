"""The genes and individuals stages: TSS table, expression matrix, seeded splits.

GTF coordinates are 1-based inclusive; everything returned here is 0-based (the TSS is the 0-based
position of the first transcribed base, on either strand).
"""

import gzip
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hapexpr.ids import validate_ids
from hapexpr.reference import harmonise_chrom
from hapexpr.variants import check_vcf, header_samples

log = logging.getLogger(__name__)

GENE_COLUMNS = ["gene_id", "gene_name", "biotype", "chrom", "tss", "strand", "split", "y_cross_gene"]
INDIVIDUAL_COLUMNS = ["individual", "population", "in_vcf", "in_expression", "split"]
_ATTR = re.compile(r'(\S+) "([^"]*)"')


class InputError(ValueError):
    """Bad input: the message names the file, the record and what to do."""


# Gene biotypes that GENCODE/Ensembl renamed between releases, old name -> the current one. Older releases (v19, for
# one) split long non-coding RNAs into lincRNA, antisense, sense_intronic, ...; newer ones (v31 on) call them all
# lncRNA. Annotation and config biotypes both go through this table, so `genes.biotypes: [lncRNA]` keeps an old
# release's lincRNA genes, and an old config's `lincRNA` still matches a new annotation.
BIOTYPE_SYNONYMS = {
    "lincRNA": "lncRNA",
    "antisense": "lncRNA",
    "antisense_RNA": "lncRNA",
    "sense_intronic": "lncRNA",
    "sense_overlapping": "lncRNA",
    "3prime_overlapping_ncrna": "lncRNA",
    "3prime_overlapping_ncRNA": "lncRNA",
    "macro_lncRNA": "lncRNA",
    "bidirectional_promoter_lncRNA": "lncRNA",
    "non_coding": "lncRNA",
}


def canonical_biotypes(biotypes: Iterable[str]) -> list[str]:
    """Biotype names as the current GENCODE spells them (BIOTYPE_SYNONYMS), order kept, no repeats."""
    return list(dict.fromkeys(BIOTYPE_SYNONYMS.get(b, b) for b in biotypes))


def read_genes(path: str) -> pd.DataFrame:
    """results/genes/genes.tsv as every later stage reads it: ids, chromosome names ("22" too) and splits as
    strings, tss as an integer, y_cross_gene as a float (NaN where empty)."""
    text = {c: str for c in ("gene_id", "gene_name", "biotype", "chrom", "strand", "split")}
    return pd.read_csv(path, sep="\t", dtype={**text, "tss": np.int64, "y_cross_gene": float},
                       keep_default_na=False, na_values={"y_cross_gene": ["", "nan", "NaN", "NA"]})


def read_individuals(path: str) -> pd.DataFrame:
    """results/individuals.tsv: ids, populations and splits as strings, in_vcf and in_expression as booleans."""
    table = pd.read_csv(path, sep="\t", dtype={"individual": str, "population": str, "split": str},
                        keep_default_na=False)
    for column in ("in_vcf", "in_expression"):
        table[column] = table[column].astype(str).str.lower().eq("true")
    return table


def strip_version(gene_id: str) -> str:
    """ENSG00000177663.8 -> ENSG00000177663 (PAR genes keep their _PAR_Y suffix)."""
    base, _, rest = gene_id.partition(".")
    suffix = rest.partition("_")[2]
    return f"{base}_{suffix}" if suffix else base


def _open_text(path: str):
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt") if gz else open(path)


def read_gtf_genes(path: str) -> pd.DataFrame:
    """Gene records of a GTF: gene_id (no version), gene_name, biotype, chrom, tss (0-based), strand."""
    rows = []
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if line.startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 9:
                raise InputError(f"{path}, line {lineno}: expected 9 tab-separated GTF columns, found {len(fields)}")
            if fields[2] != "gene":
                continue
            attrs = dict(_ATTR.findall(fields[8]))
            if "gene_id" not in attrs:
                raise InputError(f"{path}, line {lineno}: gene record without gene_id")
            start, end, strand = int(fields[3]), int(fields[4]), fields[6]
            if strand not in ("+", "-") or start > end:
                raise InputError(f"{path}, line {lineno}: bad strand {strand!r} or start {start} > end {end}")
            rows.append(
                (
                    strip_version(attrs["gene_id"]),
                    attrs.get("gene_name", attrs["gene_id"]),
                    attrs.get("gene_type", attrs.get("gene_biotype", "unknown")),
                    fields[0],
                    start - 1 if strand == "+" else end - 1,
                    strand,
                )
            )
    if not rows:
        raise InputError(f"{path}: no 'gene' records; is this a GTF with gene lines (GENCODE, Ensembl)?")
    genes = pd.DataFrame(rows, columns=["gene_id", "gene_name", "biotype", "chrom", "tss", "strand"])
    renamed = genes["biotype"].isin(list(BIOTYPE_SYNONYMS))
    if renamed.any():
        log.info("%s: %d genes of older biotype names (%s) are read as their current name", path, renamed.sum(),
                 ", ".join(sorted(genes.loc[renamed, "biotype"].unique())))
        genes["biotype"] = genes["biotype"].replace(BIOTYPE_SYNONYMS)
    return genes.drop_duplicates("gene_id", keep="first").reset_index(drop=True)


# Columns that may follow #chr, start, end, id in a phenotype BED before the individuals (QTLtools: pid, gid, strand;
# its example data: gene, length, strand).
BED_META_NAMES = {"gid", "group", "length", "strand", "strd"}


def _bed_metadata(table: pd.DataFrame) -> list[str]:
    """The metadata columns of a FastQTL/QTLtools/tensorQTL phenotype BED, by its layout.

    FastQTL and tensorQTL: #chr, start, end, id, then individuals. QTLtools: #chr, start, end, pid, gid, strand,
    then individuals, where the 5th column may hold anything (a group id, a length) and the 6th a strand (+/-).
    A 5th or 6th column of strands, or one named like BED_META_NAMES, ends the metadata there."""
    meta = list(table.columns[:4])
    for i in (4, 5):
        if i >= len(table.columns) - 1:
            break
        column = table.columns[i]
        strands = table[column].isin(["+", "-", "."]).all()
        if strands or str(column).lower() in BED_META_NAMES:
            meta = list(table.columns[: i + 1])
        elif i == 4 and len(table.columns) > 6 and table[table.columns[5]].isin(["+", "-", "."]).all():
            meta = list(table.columns[:6])
            break
    return meta


def _header_fields(path: str) -> list[str]:
    with _open_text(path) as fh:
        return fh.readline().rstrip("\n").split("\t")


def refuse_repeated_columns(path: str, why: str) -> None:
    """Raise naming the file and the columns whose name its (tab-separated) header repeats."""
    repeated = sorted(c for c, n in Counter(_header_fields(path)).items() if n > 1)
    if repeated:
        raise InputError(
            f"{path}: column(s) {repeated[:10]} occur more than once in the header; {why}. Remove or rename the "
            f"copies."
        )


def numeric_table(values: pd.DataFrame, path: str, row_ids: Sequence[str], what: str, row_kind: str,
                  hint: str) -> pd.DataFrame:
    """`values` (text cells of a table read from `path`, one row per data line after the header) as floats; a cell
    that is not a number (missing ones are NaN) is an error naming the line, the row's id and the column."""
    numbers = values.apply(pd.to_numeric, errors="coerce")
    bad = numbers.isna().to_numpy() & values.notna().to_numpy()
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(
            f"{path}, line {row + 2}: non-numeric {what} value {values.iat[row, col]!r} for {row_kind} "
            f"{list(row_ids)[row]} in column {values.columns[col]!r} ({bad.sum()} such cells). {hint}"
        )
    return numbers.astype(float)


def read_expression(path: str, fmt: str) -> pd.DataFrame:
    """Expression matrix, genes x individuals, indexed by versionless gene id.

    `geuvadis`: TargetID, Gene_Symbol, Chr, Coord, then one column per individual (E-GEUV-1 GD462).
    `bed`: the FastQTL/QTLtools/tensorQTL phenotype BED: #chr, start, end, id [, gid/length, strand], individuals
    (see _bed_metadata). Repeated column names and non-numeric values are errors naming the column and line.
    """
    refuse_repeated_columns(path, "every individual must have one column")
    table = pd.read_csv(path, sep="\t", dtype=str)
    if fmt == "geuvadis":
        id_col, meta = "TargetID", ["TargetID", "Gene_Symbol", "Chr", "Coord"]
    elif fmt == "bed":
        if len(table.columns) < 5:
            raise InputError(f"{path}: a phenotype BED needs #chr, start, end, id and individual columns")
        id_col = table.columns[3]
        meta = _bed_metadata(table)
    else:
        raise InputError(f"{path}: unknown expression format {fmt!r} (use geuvadis or bed)")
    missing = [c for c in meta if c not in table.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing} for format {fmt!r}; check sources.expression.format")
    values = table.drop(columns=meta)
    validate_ids(values.columns, "individual", path)
    values = numeric_table(values, path, table[id_col], "expression", "gene",
                           "Fix the file (leave missing values empty or NA), or check sources.expression.format.")
    values.index = pd.Index([strip_version(g) for g in table[id_col]], name="gene_id")
    validate_ids(values.index, "gene", path)
    dup = values.index.duplicated()
    if dup.any():
        log.warning("%s: %d duplicated gene ids, first kept: %s", path, dup.sum(), list(values.index[dup][:10]))
    return values[~dup]


def read_gtex_medians(path: str, tissues: Sequence[str]) -> pd.DataFrame:
    """Tissues' columns of the GTEx median-TPM GCT (read once for every tissue of a run), indexed by versionless
    gene id."""
    table = pd.read_csv(path, sep="\t", skiprows=2)
    for tissue in tissues:
        if tissue not in table.columns:
            raise InputError(f"{path}: no tissue column {tissue!r}; choose one of {list(table.columns[2:])}")
    columns = table.set_index(table["Name"].map(strip_version))[list(dict.fromkeys(tissues))].astype(float)
    return columns[~columns.index.duplicated()]



def read_populations(path: str, fmt: str) -> pd.Series:
    """Population of each individual: `ped` (1000 Genomes pedigree with a header) or two columns, no header."""
    if fmt == "ped":
        table = pd.read_csv(path, sep=r"\s+", dtype=str)
        cols = {c.lower(): c for c in table.columns}
        sample = cols.get("sampleid", cols.get("sample", table.columns[1]))
        pop = cols.get("population", cols.get("pop", table.columns[-1]))
        return table.set_index(sample)[pop].rename("population")
    table = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, usecols=[0, 1])
    return table.set_index(0)[1].rename("population")


def split_individuals(individuals: Sequence[str], test_fraction: float, valid_fraction: float, seed: int) -> pd.Series:
    """Seeded assignment of individuals to train/valid/test."""
    order = sorted(individuals)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(order))
    n_test = int(round(test_fraction * len(order)))
    n_valid = int(round(valid_fraction * len(order)))
    split = np.array(["train"] * len(order), dtype=object)
    split[perm[:n_test]] = "test"
    split[perm[n_test : n_test + n_valid]] = "valid"
    return pd.Series(split, index=order, name="split")


def build_individuals(
    vcf_samples: Iterable[str],
    expression_individuals: Iterable[str],
    populations: pd.Series | None,
    test_fraction: float,
    valid_fraction: float,
    seed: int,
    test_populations: Sequence[str] = (),
    genotypes: bool = True,
) -> pd.DataFrame:
    """individuals.tsv: every id seen anywhere; only those with genotypes and expression get a split.

    Every individual of `test_populations` is `test_population` (never trained on); the others are split at random
    into train/valid/test. Without genotypes (a cross-gene-only run, no VCF) every individual with expression is
    `train`: they only enter the cross-gene target, no individual is held out.
    """
    vcf, expr = set(vcf_samples), set(expression_individuals)
    only_vcf, only_expr = sorted(vcf - expr), sorted(expr - vcf)
    if only_vcf:
        log.warning("%d individuals in the VCF have no expression: %s", len(only_vcf), " ".join(only_vcf))
    if only_expr and genotypes:
        log.warning("%d individuals with expression have no genotypes: %s", len(only_expr), " ".join(only_expr))
    if populations is not None:
        populations = populations[~populations.index.duplicated(keep="first")]
    everyone = sorted(vcf | expr)
    table = pd.DataFrame({"individual": everyone})
    table["population"] = table["individual"].map(populations).fillna("unknown") if populations is not None else "unknown"
    if populations is not None:
        unlabelled = table.loc[table["population"] == "unknown", "individual"]
        if len(unlabelled):
            log.warning("%d individuals have no population label: %s", len(unlabelled), " ".join(unlabelled))
    table["in_vcf"] = table["individual"].isin(vcf)
    table["in_expression"] = table["individual"].isin(expr)
    if not genotypes:
        if test_populations:
            log.warning("splits.individuals.test_populations is ignored: a run without genotypes has no "
                        "individual protocols")
        table["split"] = np.where(table["in_expression"], "train", "none")
        return table[INDIVIDUAL_COLUMNS]
    both = sorted(vcf & expr)
    if not both:
        raise InputError("no individual has both genotypes and expression: check that the ids match between files")
    usable = table[table["individual"].isin(both)]
    held = usable["population"].isin(list(test_populations))
    for population in test_populations:
        if not (usable["population"] == population).any():
            raise InputError(
                f"splits.individuals.test_populations: population {population!r} has no individual with genotypes "
                f"and expression; the run has {sorted(usable['population'].unique())}. Fix the list or the "
                f"population labels (sources.populations)."
            )
    if held.all():
        raise InputError(f"splits.individuals.test_populations {list(test_populations)} holds out every individual: "
                         f"none is left to train on")
    splits = split_individuals(usable.loc[~held, "individual"], test_fraction, valid_fraction, seed)
    splits = pd.concat([splits, pd.Series("test_population", index=usable.loc[held, "individual"])])
    table["split"] = table["individual"].map(splits).fillna("none")
    for split, n in table["split"].value_counts().items():
        log.info("individuals in %s: %d", split, n)
    return table[INDIVIDUAL_COLUMNS]


def split_genes(
    genes: pd.DataFrame,
    test_chromosomes: Sequence[str],
    valid_chromosomes: Sequence[str],
    block_bp: int | None = None,
    test_fraction: float = 0.2,
    valid_fraction: float = 0.1,
    seed: int = 0,
) -> pd.Series:
    """Held-out chromosomes; with `block_bp`, contiguous blocks instead (for single-chromosome runs)."""
    if block_bp:
        block = genes["chrom"] + ":" + (genes["tss"] // block_bp).astype(str)
        blocks = sorted(block.unique())
        block_split = split_individuals(blocks, test_fraction, valid_fraction, seed)
        return block.map(block_split).rename("split")
    split = np.where(genes["chrom"].isin(test_chromosomes), "test", "train")
    split = np.where(genes["chrom"].isin(valid_chromosomes), "valid", split)
    return pd.Series(split, index=genes.index, name="split")


def harmonise_annotation(annotation: pd.DataFrame, reference_chroms: Sequence[str], path: str) -> pd.DataFrame:
    """Chromosome names in the reference's spelling; contigs the reference lacks become None."""
    rename = {}
    for c in annotation["chrom"].unique():
        try:
            rename[c] = harmonise_chrom(c, reference_chroms, path)
        except ValueError:
            rename[c] = None  # contigs the reference lacks matter only if the run asks for them
    return annotation.assign(chrom=annotation["chrom"].map(rename))


def dropped_genes(
    expression_ids: pd.Index,
    low_ids: pd.Index,
    annotation: pd.DataFrame,
    kept_ids: pd.Index,
    chromosomes: Sequence[str],
    biotypes: Sequence[str],
    known: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Why each expression gene is not in genes.tsv (one reason per gene, the first that applies); `known`
    holds reasons decided elsewhere."""
    annotated = annotation.drop_duplicates("gene_id").set_index("gene_id")
    biotypes = canonical_biotypes(biotypes)
    known = known or {}
    rows = []
    for gene in expression_ids.difference(kept_ids):
        if gene in known:
            reason = known[gene]
        elif gene in low_ids:
            reason = "mean expression below genes.min_mean_expression"
        elif gene not in annotated.index:
            reason = "not in the annotation"
        elif annotated.at[gene, "chrom"] not in chromosomes:
            reason = "chromosome not in the run"
        elif annotated.at[gene, "biotype"] not in biotypes:
            reason = f"biotype {annotated.at[gene, 'biotype']} not kept"
        else:
            reason = "no cross-gene target"
        rows.append((gene, reason))
    return pd.DataFrame(rows, columns=["gene_id", "reason"])


def build_genes(
    annotation: pd.DataFrame,
    expression: pd.DataFrame,
    reference_chroms: Sequence[str],
    chromosomes: Sequence[str],
    biotypes: Sequence[str],
    target: pd.Series,
    paths: dict[str, str],
) -> pd.DataFrame:
    """Genes kept = in the annotation on the run's chromosomes, of the chosen biotypes, with expression.

    `paths` names the annotation, expression and reference files for error messages.
    """
    wanted = canonical_biotypes(biotypes)
    for chrom in chromosomes:
        if chrom not in reference_chroms:
            raise InputError(
                f"{paths['reference']}: the reference has no chromosome {chrom!r} (config 'chromosomes'); "
                f"it has {list(reference_chroms)[:10]}. Fix 'chromosomes' or use the FASTA of the same build."
            )
    validate_ids(annotation["gene_id"], "gene", paths["annotation"])
    spelled = annotation["chrom"].unique()
    annotation = harmonise_annotation(annotation, reference_chroms, paths["annotation"])
    for chrom in chromosomes:
        if not (annotation["chrom"] == chrom).any():
            raise InputError(
                f"{paths['annotation']}: no gene on chromosome {chrom!r} (the annotation spells {list(spelled)[:10]}). "
                f"Check the build and the 'chromosomes' key."
            )
    if not expression.index.isin(annotation["gene_id"]).any():
        raise InputError(
            f"{paths['expression']}: none of its {len(expression)} gene ids (e.g. {list(expression.index[:3])}) "
            f"is in {paths['annotation']}. Use an annotation with the same gene ids as the expression."
        )
    unmatched = expression.index[~expression.index.isin(annotation["gene_id"])]
    if len(unmatched):
        log.warning("%d expression genes are not in the annotation: %s", len(unmatched), " ".join(unmatched))
    genes = annotation[annotation["chrom"].isin(chromosomes) & annotation["biotype"].isin(wanted)]
    has_expr = genes["gene_id"].isin(expression.index)
    log.info("%d of %d annotated genes on the run's chromosomes have expression", has_expr.sum(), len(genes))
    if not has_expr.any():
        raise InputError(
            f"{paths['expression']}: no gene with expression is in {paths['annotation']} on chromosomes "
            f"{list(chromosomes)} with biotypes {list(biotypes)}. Check 'chromosomes' and 'genes.biotypes' "
            f"(older GENCODE names such as lincRNA count as their current name, lncRNA: hapexpr.genes.BIOTYPE_SYNONYMS)."
        )
    genes = genes[has_expr].assign(y_cross_gene=lambda d: d["gene_id"].map(target))
    no_target = genes["y_cross_gene"].isna()
    if no_target.any():
        log.warning("%d genes have no cross-gene target and are dropped: %s", no_target.sum(),
                    " ".join(genes.loc[no_target, "gene_id"]))
    order = {c: i for i, c in enumerate(chromosomes)}
    genes = genes[~no_target].assign(_order=lambda d: d["chrom"].map(order))
    return genes.sort_values(["_order", "tss"]).drop(columns="_order").reset_index(drop=True)


def window_n_fraction(reference_path: str, genes: pd.DataFrame, window: int) -> pd.Series:
    """Share of N (or any non-ACGT letter) in each gene's reference window of `window` bp around its TSS."""
    from hapexpr.reference import Reference

    reference = Reference(reference_path)
    shares = []
    for chrom, tss in zip(genes["chrom"], genes["tss"]):
        seq = reference.fetch(chrom, tss - window // 2, tss - window // 2 + window).upper()
        shares.append(1 - sum(seq.count(b) for b in "ACGT") / window)
    reference.close()
    return pd.Series(shares, index=genes.index)


def refuse_negative(values: pd.DataFrame, source: str, what: str) -> None:
    """Raise naming the file unless `values` (a matrix meant to hold expression levels) is >= 0 where finite."""
    negative = values.lt(0).to_numpy()
    if negative.any():
        gene, individual = np.argwhere(negative)[0]
        raise InputError(
            f"{source}: {int(negative.sum())} negative values (first: gene {values.index[gene]}, column "
            f"{values.columns[individual]}: {values.iat[gene, individual]:.4g}); {what} needs expression levels "
            "(RPKM/TPM >= 0). A normalised matrix of centred residuals (e.g. Geuvadis GD462...resk10, or a "
            "rank-normalised phenotype BED) is no level: set genes.expression_transform: none for it, and take the "
            "cross-gene target from levels (evaluation.cross_gene_target: gtex or levels)."
        )


def transform_expression(expression: pd.DataFrame, transform: str, source: str = "expression matrix") -> pd.DataFrame:
    """RPKM/TPM -> log1p scale (negative values refused: log1p would clip them), or unchanged (`none`) for matrices
    already normalised."""
    if transform != "log1p":
        return expression
    refuse_negative(expression, source, "genes.expression_transform: log1p")
    return np.log1p(expression)


def cross_gene_target(expression: pd.DataFrame, how: str, gtex: pd.Series | None = None,
                      levels: pd.DataFrame | None = None, source: str = "expression matrix") -> pd.Series:
    """Per-gene target of the cross-gene protocol: mean or median of the (transformed) cross-individual matrix over
    individuals, log1p of a GTEx tissue's median TPM (`gtex`), or log1p of the mean over the columns of a separate
    matrix of levels such as Geuvadis GD660.GeneQuantRPKM (`levels`)."""
    if how == "gtex":
        if gtex is None:
            raise InputError("evaluation.cross_gene_target is 'gtex' but sources.gtex is not configured")
        return np.log1p(gtex)
    if how == "levels":
        if levels is None:
            raise InputError("evaluation.cross_gene_target is 'levels' but sources.expression_levels is not configured")
        refuse_negative(levels, source, "evaluation.cross_gene_target: levels")
        return np.log1p(levels.mean(axis=1))
    if expression.lt(0).to_numpy().any():
        log.warning(
            "%s: evaluation.cross_gene_target is %r but the matrix has negative values: if they are centred "
            "residuals (PEER, rank-normalised), the per-gene %s over individuals is about 0 and no expression level; "
            "use cross_gene_target gtex or levels", source, how, how)
    return expression.mean(axis=1) if how == "mean" else expression.median(axis=1)


def vcf_samples(paths: Sequence[str]) -> list[str]:
    """Sample ids of the per-chromosome VCFs (checked whole, ids unique and safe), which must all name the same
    samples: one missing from some files only would have genotypes on some chromosomes and not on others."""
    per_file = {}
    for path in paths:
        check_vcf(path, need_index=False)
        per_file[path] = header_samples(path)
        validate_ids(per_file[path], "sample", path)
    union = list(dict.fromkeys(s for samples in per_file.values() for s in samples))
    for path, samples in per_file.items():
        lacking = [s for s in union if s not in set(samples)]
        if lacking:
            having = next(p for p, other in per_file.items() if lacking[0] in other)
            raise InputError(
                f"{path} lacks {len(lacking)} sample(s) that other VCFs of the run have: {lacking[:10]}"
                f"{' ...' if len(lacking) > 10 else ''} (e.g. {lacking[0]} is in {having}). Every chromosome's VCF "
                f"must have the same samples: subset them all to the shared ones (`bcftools view -s`), or fix "
                f"sources.vcf for {path}."
            )
    return union


def make_individuals(
    vcf_paths: Sequence[str],
    expression: Sequence[tuple[str, str]],
    populations_path: str | None,
    populations_format: str,
    test_fraction: float,
    valid_fraction: float,
    seed: int,
    test_populations: Sequence[str] = (),
) -> pd.DataFrame:
    """The individuals stage: who has genotypes, expression (in any tissue's matrix: `expression` lists (path,
    format) of each), a population and a split (no VCF: cross-gene only)."""
    with_expression = list(dict.fromkeys(c for path, fmt in expression for c in read_expression(path, fmt).columns))
    populations = read_populations(populations_path, populations_format) if populations_path else None
    if test_populations and populations is None and vcf_paths:
        raise InputError(f"splits.individuals.test_populations {list(test_populations)} needs population labels: "
                         f"configure sources.populations")
    return build_individuals(
        vcf_samples(vcf_paths), pd.Index(with_expression), populations, test_fraction, valid_fraction, seed,
        test_populations, genotypes=bool(vcf_paths),
    )


def check_window_fits(window: int, lengths: dict[str, int], chromosomes: Sequence[str], path: str) -> None:
    """A window longer than every run chromosome leaves no gene with real sequence: an error naming the key."""
    run = {c: lengths[c] for c in chromosomes if c in lengths}
    if run and window > max(run.values()):
        longest = max(run, key=run.get)
        raise InputError(
            f"{path}: window.length is {window:,} bp, longer than every chromosome of the run (the longest, "
            f"{longest}, has {run[longest]:,} bp), so every window would be mostly padding. Shorten window.length."
        )


@dataclass(frozen=True)
class TissueInputs:
    """What the genes stage reads for one tissue: its personal expression matrix (None for a tissue with a
    cross-gene target only) and its GTEx median-TPM column (evaluation.cross_gene_target gtex)."""

    expression: str | None = None
    expression_format: str = "geuvadis"
    gtex_tissue: str | None = None


@dataclass
class TissueGenes:
    """The genes stage's outputs for one tissue: its genes (GENE_COLUMNS, y_cross_gene its target), its expression
    matrix (its genes x individuals with genotypes; no column for a tissue without a personal matrix) and the
    expression genes left out with the reason."""

    genes: pd.DataFrame
    expression: pd.DataFrame
    dropped: pd.DataFrame


def make_genes(
    annotation_path: str,
    fai_path: str,
    tissues: Mapping[str, TissueInputs],
    individuals: pd.DataFrame,
    chromosomes: Sequence[str],
    biotypes: Sequence[str],
    transform: str,
    min_mean: float | None,
    target: str,
    splits: dict,
    seed: int,
    gtex_path: str | None = None,
    reference_path: str | None = None,
    window: int = 4000,
    max_n_fraction: float | None = None,
    levels_path: str | None = None,
    levels_format: str = "geuvadis",
) -> tuple[pd.DataFrame, dict[str, TissueGenes]]:
    """The genes stage: the genes of the run (every tissue's, without a target: what the haplotype store holds) and,
    per tissue, its genes with their target, its expression matrix and the genes left out. A gene's split is
    decided once, on the run's genes, so that it is the same in every tissue. With `max_n_fraction`, genes whose
    reference window is mostly N (an assembly gap, or outside a partial reference) are left out too."""
    fai = pd.read_csv(fai_path, sep="\t", header=None, usecols=[0, 1], dtype={0: str, 1: int})
    reference_chroms = fai[0].tolist()
    check_window_fits(window, dict(zip(fai[0], fai[1])), chromosomes, fai_path)
    annotation = read_gtf_genes(annotation_path)
    used = individuals.loc[individuals["split"] != "none", "individual"]
    levels = read_expression(levels_path, levels_format) if levels_path else None
    gtex_columns = (read_gtex_medians(gtex_path, [inputs.gtex_tissue for inputs in tissues.values()])
                    if gtex_path and target == "gtex" else None)
    per_tissue = {}
    for tissue, inputs in tissues.items():
        gtex = gtex_columns[inputs.gtex_tissue] if gtex_columns is not None else None
        if inputs.expression is not None:
            source = inputs.expression
            expression = read_expression(source, inputs.expression_format)
            expression = transform_expression(expression[[c for c in used if c in expression.columns]], transform,
                                              source)
        else:  # a cross-gene target only: the GTEx column's genes, no individual
            if gtex is None:
                raise InputError(f"tissue {tissue!r} has no expression matrix, so its only target is a GTEx column: "
                                 f"set evaluation.cross_gene_target: gtex and sources.gtex, or give the tissue "
                                 f"tissues.{tissue}.expression")
            source = gtex_path
            expression = pd.DataFrame(index=gtex.index)
        all_ids, low_ids = expression.index, pd.Index([])
        if min_mean is not None and inputs.expression is not None:
            low = expression.mean(axis=1) < min_mean
            log.info("%s: %d genes below mean expression %s are dropped", tissue, low.sum(), min_mean)
            low_ids = expression.index[low]
            expression = expression[~low]
        y = cross_gene_target(expression, target, gtex, levels, levels_path if target == "levels" else source)
        genes = build_genes(annotation, expression, reference_chroms, chromosomes, biotypes, y,
                            {"annotation": annotation_path, "expression": source, "reference": fai_path})
        per_tissue[tissue] = (genes, expression, all_ids, low_ids)
    order = {c: i for i, c in enumerate(chromosomes)}
    run_genes = (pd.concat([g for g, *_ in per_tissue.values()], ignore_index=True).drop_duplicates("gene_id")
                 .assign(_order=lambda d: d["chrom"].map(order)).sort_values(["_order", "tss"])
                 .drop(columns=["_order", "y_cross_gene"]).reset_index(drop=True))
    gapped: dict[str, str] = {}
    if max_n_fraction is not None and reference_path:
        n_share = window_n_fraction(reference_path, run_genes, window)
        gapped = dict.fromkeys(run_genes.loc[n_share > max_n_fraction, "gene_id"],
                               f"reference window more than {max_n_fraction:.0%} N")
        run_genes = run_genes[n_share <= max_n_fraction].reset_index(drop=True)
    run_genes["split"] = split_genes(
        run_genes,
        splits.get("test_chromosomes", []),
        splits.get("valid_chromosomes", []),
        splits.get("block_bp"),
        splits.get("test_fraction", 0.2),
        splits.get("valid_fraction", 0.1),
        seed,
    ).to_numpy()
    for split, n in run_genes["split"].value_counts().items():
        log.info("genes in %s: %d", split, n)
    harmonised = harmonise_annotation(annotation, reference_chroms, annotation_path)
    out = {}
    for tissue, (genes, expression, all_ids, low_ids) in per_tissue.items():
        target_of = genes.set_index("gene_id")["y_cross_gene"]
        kept = run_genes[run_genes["gene_id"].isin(target_of.index)]
        kept = kept.assign(y_cross_gene=kept["gene_id"].map(target_of).to_numpy())[GENE_COLUMNS]
        dropped = dropped_genes(all_ids, low_ids, harmonised, pd.Index(kept["gene_id"]), chromosomes, biotypes,
                                gapped)
        for reason, n in dropped["reason"].value_counts().items():
            log.info("%s: expression genes dropped, %s: %d", tissue, reason, n)
        out[tissue] = TissueGenes(kept.reset_index(drop=True), expression.loc[kept["gene_id"]].rename_axis("gene_id"),
                                  dropped)
    return run_genes[[c for c in GENE_COLUMNS if c != "y_cross_gene"]], out
