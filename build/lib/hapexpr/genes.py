"""The genes and individuals stages: TSS table, expression matrix, seeded splits.

GTF coordinates are 1-based inclusive; everything returned here is 0-based (the TSS is the 0-based
position of the first transcribed base, on either strand).
"""

import gzip
import logging
import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from hapexpr.ids import validate_ids
from hapexpr.reference import harmonise_chrom

log = logging.getLogger(__name__)

GENE_COLUMNS = ["gene_id", "gene_name", "biotype", "chrom", "tss", "strand", "split", "y_cross_gene"]
INDIVIDUAL_COLUMNS = ["individual", "population", "in_vcf", "in_expression", "split"]
_ATTR = re.compile(r'(\S+) "([^"]*)"')


class InputError(ValueError):
    """Bad input: the message names the file, the record and what to do."""


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
    return genes.drop_duplicates("gene_id", keep="first").reset_index(drop=True)


def read_expression(path: str, fmt: str) -> pd.DataFrame:
    """Expression matrix, genes x individuals, indexed by versionless gene id.

    `geuvadis`: TargetID, Gene_Symbol, Chr, Coord, then one column per individual (E-GEUV-1 GD462).
    `bed`: the FastQTL/QTLtools/tensorQTL phenotype BED: #chr, start, end, id [, gid, strand], individuals.
    """
    table = pd.read_csv(path, sep="\t", dtype=str)
    if fmt == "geuvadis":
        id_col, meta = "TargetID", ["TargetID", "Gene_Symbol", "Chr", "Coord"]
    elif fmt == "bed":
        if len(table.columns) < 5:
            raise InputError(f"{path}: a phenotype BED needs #chr, start, end, id and individual columns")
        id_col = table.columns[3]
        meta = list(table.columns[:4]) + [c for c in ("gid", "strand") if c in table.columns[4:6]]
    else:
        raise InputError(f"{path}: unknown expression format {fmt!r} (use geuvadis or bed)")
    missing = [c for c in meta if c not in table.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing} for format {fmt!r}; check sources.expression.format")
    values = table.drop(columns=meta)
    validate_ids(values.columns, "individual", path)
    try:
        values = values.astype(float)
    except ValueError as err:
        raise InputError(f"{path}: non-numeric expression value ({err}); fix the file or its format") from err
    values.index = pd.Index([strip_version(g) for g in table[id_col]], name="gene_id")
    validate_ids(values.index, "gene", path)
    dup = values.index.duplicated()
    if dup.any():
        log.warning("%s: %d duplicated gene ids, first kept: %s", path, dup.sum(), list(values.index[dup][:10]))
    return values[~dup]


def read_gtex_median(path: str, tissue: str) -> pd.Series:
    """One tissue's column of the GTEx median-TPM GCT, indexed by versionless gene id."""
    table = pd.read_csv(path, sep="\t", skiprows=2)
    if tissue not in table.columns:
        raise InputError(f"{path}: no tissue column {tissue!r}; choose one of {list(table.columns[2:])}")
    series = table.set_index(table["Name"].map(strip_version))[tissue].astype(float)
    return series[~series.index.duplicated()]


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
) -> pd.DataFrame:
    """individuals.tsv: every id seen anywhere; only those with genotypes and expression get a split."""
    vcf, expr = set(vcf_samples), set(expression_individuals)
    only_vcf, only_expr = sorted(vcf - expr), sorted(expr - vcf)
    if only_vcf:
        log.warning("%d individuals in the VCF have no expression: %s", len(only_vcf), " ".join(only_vcf))
    if only_expr:
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
    both = sorted(vcf & expr)
    if not both:
        raise InputError("no individual has both genotypes and expression: check that the ids match between files")
    splits = split_individuals(both, test_fraction, valid_fraction, seed)
    table["split"] = table["individual"].map(splits).fillna("none")
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
    genes = annotation[annotation["chrom"].isin(chromosomes) & annotation["biotype"].isin(biotypes)]
    has_expr = genes["gene_id"].isin(expression.index)
    log.info("%d of %d annotated genes on the run's chromosomes have expression", has_expr.sum(), len(genes))
    if not has_expr.any():
        raise InputError(
            f"{paths['expression']}: no gene with expression is in {paths['annotation']} on chromosomes "
            f"{list(chromosomes)} with biotypes {list(biotypes)}. Check 'chromosomes' and 'genes.biotypes' "
            f"(GENCODE before v26 spells lincRNA, later lncRNA)."
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


def transform_expression(expression: pd.DataFrame, transform: str) -> pd.DataFrame:
    """RPKM/TPM -> log1p scale, or unchanged for already-normalised matrices."""
    return np.log1p(expression.clip(lower=0)) if transform == "log1p" else expression


def cross_gene_target(expression: pd.DataFrame, how: str, gtex: pd.Series | None = None) -> pd.Series:
    """Per-gene target of the cross-gene protocol: mean or median over individuals, or a GTEx tissue median."""
    if how == "gtex":
        if gtex is None:
            raise InputError("evaluation.cross_gene_target is 'gtex' but sources.gtex is not configured")
        return np.log1p(gtex)
    return expression.mean(axis=1) if how == "mean" else expression.median(axis=1)


def vcf_samples(paths: Sequence[str]) -> list[str]:
    """Sample ids of the VCFs (their union; differences between chromosomes are logged)."""
    import pysam

    seen: dict[str, None] = {}
    first: set[str] | None = None
    for path in paths:
        with pysam.VariantFile(path) as vcf:
            samples = list(vcf.header.samples)
        validate_ids(samples, "sample", path)
        if first is not None and set(samples) != first:
            log.warning("%s: its samples differ from the first VCF's (%d vs %d)", path, len(samples), len(first))
        first = first if first is not None else set(samples)
        seen.update(dict.fromkeys(samples))
    return list(seen)


def make_individuals(
    vcf_paths: Sequence[str],
    expression_path: str,
    expression_format: str,
    populations_path: str | None,
    populations_format: str,
    test_fraction: float,
    valid_fraction: float,
    seed: int,
) -> pd.DataFrame:
    """The individuals stage: who has genotypes, expression, a population and a split."""
    expression = read_expression(expression_path, expression_format)
    populations = read_populations(populations_path, populations_format) if populations_path else None
    return build_individuals(
        vcf_samples(vcf_paths), expression.columns, populations, test_fraction, valid_fraction, seed
    )


def make_genes(
    annotation_path: str,
    fai_path: str,
    expression_path: str,
    expression_format: str,
    individuals: pd.DataFrame,
    chromosomes: Sequence[str],
    biotypes: Sequence[str],
    transform: str,
    min_mean: float | None,
    target: str,
    splits: dict,
    seed: int,
    gtex_path: str | None = None,
    gtex_tissue: str | None = None,
    reference_path: str | None = None,
    window: int = 4000,
    max_n_fraction: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The genes stage: genes.tsv, the expression matrix (kept genes x individuals with genotypes), and the
    expression genes left out with the reason. With `max_n_fraction`, genes whose reference window is mostly N
    (an assembly gap, or outside a partial reference) are left out too."""
    reference_chroms = pd.read_csv(fai_path, sep="\t", header=None, usecols=[0], dtype=str)[0].tolist()
    expression = read_expression(expression_path, expression_format)
    used = individuals.loc[individuals["split"] != "none", "individual"]
    expression = transform_expression(expression[used], transform)
    all_ids, low_ids = expression.index, pd.Index([])
    if min_mean is not None:
        low = expression.mean(axis=1) < min_mean
        log.info("%d genes below mean expression %s are dropped", low.sum(), min_mean)
        low_ids = expression.index[low]
        expression = expression[~low]
    gtex = read_gtex_median(gtex_path, gtex_tissue) if gtex_path else None
    annotation = read_gtf_genes(annotation_path)
    genes = build_genes(
        annotation,
        expression,
        reference_chroms,
        chromosomes,
        biotypes,
        cross_gene_target(expression, target, gtex),
        {"annotation": annotation_path, "expression": expression_path, "reference": fai_path},
    )
    gapped: dict[str, str] = {}
    if max_n_fraction is not None and reference_path:
        n_share = window_n_fraction(reference_path, genes, window)
        gapped = dict.fromkeys(genes.loc[n_share > max_n_fraction, "gene_id"],
                               f"reference window more than {max_n_fraction:.0%} N")
        genes = genes[n_share <= max_n_fraction].reset_index(drop=True)
    genes["split"] = split_genes(
        genes,
        splits.get("test_chromosomes", []),
        splits.get("valid_chromosomes", []),
        splits.get("block_bp"),
        splits.get("test_fraction", 0.2),
        splits.get("valid_fraction", 0.1),
        seed,
    ).to_numpy()
    for split, n in genes["split"].value_counts().items():
        log.info("genes in %s: %d", split, n)
    dropped = dropped_genes(
        all_ids,
        low_ids,
        harmonise_annotation(annotation, reference_chroms, annotation_path),
        pd.Index(genes["gene_id"]),
        chromosomes,
        biotypes,
        gapped,
    )
    for reason, n in dropped["reason"].value_counts().items():
        log.info("expression genes dropped, %s: %d", reason, n)
    return genes[GENE_COLUMNS], expression.loc[genes["gene_id"]], dropped
