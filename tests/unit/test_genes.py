"""hapexpr.genes: TSS table, expression readers, seeded splits, individuals with their mismatches."""

import gzip
import logging

import numpy as np
import pandas as pd
import pysam
import pytest

from hapexpr.genes import (
    GENE_COLUMNS,
    INDIVIDUAL_COLUMNS,
    InputError,
    build_genes,
    build_individuals,
    cross_gene_target,
    make_genes,
    make_individuals,
    read_expression,
    read_gtf_genes,
    read_populations,
    split_genes,
    split_individuals,
    strip_version,
    TissueInputs,
    transform_expression,
)
from hapexpr.ids import UnsafeIdError


def gtf_line(chrom, start, end, strand, gene_id, name, biotype="protein_coding", feature="gene"):
    attrs = f'gene_id "{gene_id}"; gene_type "{biotype}"; gene_name "{name}"; level 2;'
    return f"{chrom}\tHAVANA\t{feature}\t{start}\t{end}\t.\t{strand}\t.\t{attrs}\n"


GTF = (
    "##description: test\n"
    + gtf_line("chr1", 1001, 2000, "+", "ENSG01.3", "PLUS")
    + gtf_line("chr1", 1001, 1500, "+", "ENSG01.3", "PLUS", feature="exon")
    + gtf_line("chr1", 3001, 4000, "-", "ENSG02.1", "MINUS", biotype="lncRNA")
    + gtf_line("chr1", 5001, 5001, "-", "ENSG03.7_PAR_Y", "ONEBASE")
    + gtf_line("chr2", 101, 900, "+", "ENSG04.2", "OTHER")
    + gtf_line("chr2", 201, 300, "+", "ENSG05.1", "PSEUDO", biotype="pseudogene")
)


@pytest.fixture
def gtf(tmp_path):
    path = tmp_path / "genes.gtf.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(GTF)
    return path


def write_geuvadis(path, genes, samples, seed=0):
    rng = np.random.default_rng(seed)
    rows = ["\t".join(["TargetID", "Gene_Symbol", "Chr", "Coord", *samples])]
    for g in genes:
        rows.append("\t".join([g, "SYM", "1", "100", *(f"{v:.3f}" for v in rng.uniform(0, 10, len(samples)))]))
    path.write_text("\n".join(rows) + "\n")
    return path


# ------------------------------------------------------------------------------------------- ids


@pytest.mark.parametrize(
    ("raw", "bare"),
    [("ENSG00000177663.8", "ENSG00000177663"), ("ENSG00000177663", "ENSG00000177663"),
     ("ENSG00000182378.14_PAR_Y", "ENSG00000182378_PAR_Y")],
)
def test_strip_version(raw, bare):
    assert strip_version(raw) == bare


# ------------------------------------------------------------------------------------------- GTF


def test_gtf_tss_is_zero_based_on_both_strands(gtf):
    genes = read_gtf_genes(str(gtf)).set_index("gene_name")
    assert genes.loc["PLUS", "tss"] == 1000  # 1-based start 1001
    assert genes.loc["MINUS", "tss"] == 3999  # 1-based end 4000
    assert genes.loc["ONEBASE", "tss"] == 5000
    assert list(genes.loc[["PLUS", "MINUS"], "strand"]) == ["+", "-"]
    assert genes.loc["MINUS", "biotype"] == "lncRNA"
    assert list(genes["gene_id"]) == ["ENSG01", "ENSG02", "ENSG03_PAR_Y", "ENSG04", "ENSG05"]


def test_gtf_bad_strand_names_the_line(tmp_path):
    path = tmp_path / "bad.gtf"
    path.write_text(GTF.splitlines(keepends=True)[1] + gtf_line("chr1", 10, 20, "", "ENSG09.1", "X"))
    with pytest.raises(InputError, match=r"bad.gtf, line 2: bad strand"):
        read_gtf_genes(str(path))


def test_gtf_without_gene_records_is_an_error(tmp_path):
    path = tmp_path / "exons.gtf"
    path.write_text(gtf_line("chr1", 10, 20, "+", "ENSG09.1", "X", feature="exon"))
    with pytest.raises(InputError, match="no 'gene' records"):
        read_gtf_genes(str(path))


# ------------------------------------------------------------------------------------- expression


def test_read_expression_geuvadis(tmp_path):
    path = write_geuvadis(tmp_path / "e.txt", ["ENSG01.3", "ENSG02.1"], ["S1", "S2", "S3"])
    expr = read_expression(str(path), "geuvadis")
    assert list(expr.index) == ["ENSG01", "ENSG02"] and list(expr.columns) == ["S1", "S2", "S3"]
    assert expr.dtypes.eq(float).all()


def test_read_expression_bed_with_and_without_gid_strand(tmp_path):
    plain = tmp_path / "a.bed"
    plain.write_text("#Chr\tstart\tend\tTargetID\tS1\tS2\n22\t99\t100\tENSG01.3\t0.5\t-1.5\n")
    qtltools = tmp_path / "b.bed"
    qtltools.write_text("#chr\tstart\tend\tid\tgid\tstrand\tS1\n22\t99\t100\tENSG01.3\tENSG01.3\t+\t2\n")
    a = read_expression(str(plain), "bed")
    b = read_expression(str(qtltools), "bed")
    assert a.loc["ENSG01"].tolist() == [0.5, -1.5]
    assert list(b.columns) == ["S1"] and b.loc["ENSG01", "S1"] == 2.0


def test_read_expression_wrong_format_names_the_missing_columns(tmp_path):
    path = tmp_path / "a.bed"
    path.write_text("#Chr\tstart\tend\tTargetID\tS1\n22\t99\t100\tENSG01\t1\n")
    with pytest.raises(InputError, match="TargetID|Gene_Symbol"):
        read_expression(str(path), "geuvadis")


def test_non_numeric_expression_is_an_error(tmp_path):
    path = tmp_path / "e.txt"
    path.write_text("TargetID\tGene_Symbol\tChr\tCoord\tS1\nENSG01\tX\t1\t1\thigh\n")
    with pytest.raises(InputError, match="non-numeric"):
        read_expression(str(path), "geuvadis")


@pytest.mark.parametrize("bad", ["NA/12", "NA 12", "NA;12", "NA$12", "NA`12"])
def test_unsafe_individual_id_names_file_and_id(tmp_path, bad):
    path = write_geuvadis(tmp_path / "e.txt", ["ENSG01"], ["S1", bad])
    with pytest.raises(UnsafeIdError) as err:
        read_expression(str(path), "geuvadis")
    assert "e.txt" in str(err.value) and repr(bad) in str(err.value)


def test_unsafe_gene_id_is_an_error(tmp_path):
    path = write_geuvadis(tmp_path / "e.txt", ["ENSG01", "bad/gene"], ["S1"])
    with pytest.raises(UnsafeIdError, match="bad/gene"):
        read_expression(str(path), "geuvadis")


def test_transform_and_cross_gene_target():
    expr = pd.DataFrame({"A": [0.0, 3.0], "B": [np.e - 1, 5.0]}, index=["g1", "g2"])
    logged = transform_expression(expr, "log1p")
    assert logged.loc["g1", "B"] == pytest.approx(1.0)
    assert transform_expression(expr, "none") is expr
    assert cross_gene_target(expr, "mean")["g2"] == 4.0
    assert cross_gene_target(expr, "median")["g2"] == 4.0
    with pytest.raises(InputError, match="sources.gtex"):
        cross_gene_target(expr, "gtex")


def test_log1p_refuses_negative_values_naming_the_file():
    residuals = pd.DataFrame({"A": [0.4, -1.2], "B": [-0.4, 1.2]}, index=["g1", "g2"])
    with pytest.raises(InputError, match=r"resk10.txt.gz: 2 negative values \(first: gene g1, column B: -0.4\)"):
        transform_expression(residuals, "log1p", "resk10.txt.gz")
    assert transform_expression(residuals, "none", "resk10.txt.gz") is residuals


def test_cross_gene_target_from_a_separate_matrix_of_levels(caplog):
    residuals = pd.DataFrame({"A": [0.4, -1.2], "B": [-0.4, 1.2]}, index=["g1", "g2"])
    levels = pd.DataFrame({"S1": [0.0, 10.0], "S2": [2.0, 30.0], "S3": [1.0, 20.0]}, index=["g1", "g2"])
    target = cross_gene_target(residuals, "levels", levels=levels, source="GD660.txt.gz")
    assert target["g1"] == pytest.approx(np.log1p(1.0)) and target["g2"] == pytest.approx(np.log1p(20.0))
    with pytest.raises(InputError, match="GD660.txt.gz: 1 negative"):
        cross_gene_target(residuals, "levels", levels=levels.assign(S1=[-1.0, 10.0]), source="GD660.txt.gz")
    with pytest.raises(InputError, match="sources.expression_levels"):
        cross_gene_target(residuals, "levels")
    with caplog.at_level("WARNING"):
        assert cross_gene_target(residuals, "mean", source="resk10.txt.gz")["g1"] == pytest.approx(0.0)
    assert "resk10.txt.gz" in caplog.text and "no expression level" in caplog.text


def test_read_populations_ped_and_two_column(tmp_path):
    ped = tmp_path / "ped.txt"
    ped.write_text("FamilyID SampleID FatherID MotherID Sex Population Superpopulation\nF1 HG1 0 0 1 GBR EUR\n")
    two = tmp_path / "two.tsv"
    two.write_text("HG1\tFIN\nHG2\tGBR\n")
    assert read_populations(str(ped), "ped").to_dict() == {"HG1": "GBR"}
    assert read_populations(str(two), "two_column").to_dict() == {"HG1": "FIN", "HG2": "GBR"}


# ----------------------------------------------------------------------------------------- splits


def test_individual_split_is_seeded_stable_and_order_free():
    ids = [f"S{i:03d}" for i in range(100)]
    a = split_individuals(ids, 0.2, 0.1, seed=3)
    b = split_individuals(list(reversed(ids)), 0.2, 0.1, seed=3)
    assert a.equals(b)
    assert a.value_counts().to_dict() == {"train": 70, "test": 20, "valid": 10}
    assert not a.equals(split_individuals(ids, 0.2, 0.1, seed=4))


def test_gene_split_by_held_out_chromosomes():
    genes = pd.DataFrame({"chrom": ["chr1", "chr2", "chr3", "chr1"], "tss": [1, 2, 3, 4]})
    assert split_genes(genes, ["chr2"], ["chr3"]).tolist() == ["train", "test", "valid", "train"]


def test_gene_split_by_blocks_keeps_blocks_together_and_is_seeded():
    genes = pd.DataFrame({"chrom": ["chr1"] * 200, "tss": np.arange(200) * 10_000})
    a = split_genes(genes, [], [], block_bp=100_000, seed=5)
    b = split_genes(genes, [], [], block_bp=100_000, seed=5)
    assert a.equals(b)
    blocks = genes["tss"] // 100_000
    assert (a.groupby(blocks).nunique() == 1).all()  # one split per block
    assert set(a) == {"train", "valid", "test"}


# ------------------------------------------------------------------------------------ individuals


def test_build_individuals_lists_mismatches_and_splits_only_matched(caplog):
    pops = pd.Series({"A": "GBR", "B": "FIN", "C": "GBR"})
    with caplog.at_level(logging.WARNING):
        table = build_individuals(["A", "B", "V"], ["A", "B", "E1", "E2"], pops, 0.5, 0.0, seed=1)
    assert list(table.columns) == INDIVIDUAL_COLUMNS
    t = table.set_index("individual")
    assert t.loc["V", "split"] == "none" and t.loc["E1", "split"] == "none"
    assert set(t.loc[["A", "B"], "split"]) == {"train", "test"}
    assert t.loc["A", "population"] == "GBR" and t.loc["E2", "population"] == "unknown"
    assert "1 individuals in the VCF have no expression: V" in caplog.text
    assert "2 individuals with expression have no genotypes: E1 E2" in caplog.text
    assert "no population label" in caplog.text and "E1 E2 V" in caplog.text


def test_build_individuals_without_overlap_is_an_error():
    with pytest.raises(InputError, match="no individual has both"):
        build_individuals(["A"], ["B"], None, 0.2, 0.1, seed=1)


def test_duplicated_population_labels_keep_the_first():
    pops = pd.Series(["GBR", "FIN"], index=["A", "A"])
    table = build_individuals(["A"], ["A"], pops, 0.0, 0.0, seed=1)
    assert table["population"].tolist() == ["GBR"]


def test_test_populations_are_held_out_whole_and_the_rest_split_at_random():
    people = [f"I{i:02d}" for i in range(40)]
    pops = pd.Series(["YRI" if i % 4 == 0 else "CEU" for i in range(40)], index=people)
    table = build_individuals(people, people, pops, 0.25, 0.1, seed=3, test_populations=["YRI"]).set_index(
        "individual")
    yri = pops.index[pops == "YRI"]
    assert (table.loc[yri, "split"] == "test_population").all()
    rest = table.loc[pops.index[pops != "YRI"], "split"]
    assert set(rest) == {"train", "valid", "test"} and (rest == "test").sum() == round(0.25 * 30)
    again = build_individuals(people, people, pops, 0.25, 0.1, seed=3, test_populations=["YRI"])
    assert again["split"].tolist() == table["split"].tolist()  # seeded


def test_an_absent_test_population_is_an_error_naming_it():
    pops = pd.Series({"A": "GBR", "B": "FIN"})
    with pytest.raises(InputError, match="population 'YRI'.*'FIN', 'GBR'"):
        build_individuals(["A", "B"], ["A", "B"], pops, 0.0, 0.0, seed=1, test_populations=["YRI"])
    with pytest.raises(InputError, match="holds out every individual"):
        build_individuals(["A", "B"], ["A", "B"], pd.Series({"A": "GBR", "B": "GBR"}), 0.0, 0.0, seed=1,
                          test_populations=["GBR"])


def test_test_populations_need_population_labels(tmp_path):
    expr = write_geuvadis(tmp_path / "e.txt", ["ENSG01.3"], ["S1", "S2"])
    with pytest.raises(InputError, match="needs population labels"):
        make_individuals(["v.vcf.gz"], [(str(expr), "geuvadis")], None, "two_column", 0.0, 0.0, seed=1,
                         test_populations=["YRI"])


def test_without_genotypes_every_individual_with_expression_is_train(tmp_path):
    expr = write_geuvadis(tmp_path / "e.txt", ["ENSG01.3"], ["S1", "S2"])
    table = make_individuals([], [(str(expr), "geuvadis")], None, "two_column", 0.5, 0.1, seed=1)
    assert table["split"].tolist() == ["train", "train"] and not table["in_vcf"].any()


def test_read_genes_keeps_numeric_chromosome_names_as_strings(tmp_path):
    from hapexpr.genes import read_genes, read_individuals

    path = tmp_path / "genes.tsv"
    pd.DataFrame({"gene_id": ["G1", "G2"], "gene_name": ["NA", "B"], "biotype": "protein_coding",
                  "chrom": ["22", "X"], "tss": [5, 7], "strand": "+", "split": "train",
                  "y_cross_gene": [1.5, np.nan]}).to_csv(path, sep="\t", index=False)
    genes = read_genes(str(path))
    assert genes["chrom"].tolist() == ["22", "X"] and (genes["chrom"] == "22").sum() == 1
    assert genes["gene_name"].tolist() == ["NA", "B"] and np.isnan(genes["y_cross_gene"][1])
    pd.DataFrame({"individual": ["001", "B"], "population": "P", "in_vcf": [True, False], "in_expression": True,
                  "split": ["train", "none"]}).to_csv(tmp_path / "ind.tsv", sep="\t", index=False)
    people = read_individuals(str(tmp_path / "ind.tsv"))
    assert people["individual"].tolist() == ["001", "B"] and people["in_vcf"].tolist() == [True, False]


# ------------------------------------------------------------------------------------------ genes


def annotation_df(gtf):
    return read_gtf_genes(str(gtf))


PATHS = {"annotation": "genes.gtf.gz", "expression": "expr.txt", "reference": "genome.fa.gz.fai"}


def test_build_genes_keeps_annotated_expressed_genes_of_chosen_biotypes(gtf):
    expr = pd.DataFrame(1.0, index=["ENSG01", "ENSG02", "ENSG04", "ENSG05", "ENSG99"], columns=["S1"])
    genes = build_genes(annotation_df(gtf), expr, ["1", "2"], ["1", "2"], ["protein_coding", "lncRNA"],
                        expr.mean(axis=1), PATHS)
    assert genes["gene_id"].tolist() == ["ENSG01", "ENSG02", "ENSG04"]  # pseudogene and unannotated dropped
    assert set(genes["chrom"]) == {"1", "2"}  # the reference's spelling


def test_expression_matching_no_gene_names_both_files(gtf):
    expr = pd.DataFrame(1.0, index=["ENSG77", "ENSG88"], columns=["S1"])
    with pytest.raises(InputError, match=r"expr.txt: none of its 2 gene ids .* is in genes.gtf.gz"):
        build_genes(annotation_df(gtf), expr, ["chr1"], ["chr1"], ["protein_coding"], expr.mean(axis=1), PATHS)


def test_no_gene_left_after_biotype_filter_is_an_error(gtf):
    expr = pd.DataFrame(1.0, index=["ENSG01"], columns=["S1"])
    with pytest.raises(InputError, match="lincRNA"):
        build_genes(annotation_df(gtf), expr, ["chr1"], ["chr1"], ["lincRNA"], expr.mean(axis=1), PATHS)


def test_reference_lacking_a_run_chromosome_is_an_error(gtf):
    expr = pd.DataFrame(1.0, index=["ENSG01"], columns=["S1"])
    with pytest.raises(InputError, match=r"genome.fa.gz.fai: the reference has no chromosome 'chr2'"):
        build_genes(annotation_df(gtf), expr, ["chr1"], ["chr1", "chr2"], ["protein_coding"], expr.mean(axis=1),
                    PATHS)


def test_annotation_without_genes_on_a_run_chromosome_is_an_error(gtf):
    expr = pd.DataFrame(1.0, index=["ENSG01"], columns=["S1"])
    with pytest.raises(InputError, match="no gene on chromosome 'chr3'"):
        build_genes(annotation_df(gtf), expr, ["chr1", "chr3"], ["chr3"], ["protein_coding"], expr.mean(axis=1),
                    PATHS)


def test_make_individuals_and_genes_from_files(tmp_path, gtf):
    vcf_text = (
        "##fileformat=VCFv4.2\n##contig=<ID=1,length=10000>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3\tS4\n"
        "1\t1500\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t1|1\t0|0\t0|1\n"
    )
    plain = tmp_path / "v.vcf"
    plain.write_text(vcf_text)
    vcf = tmp_path / "v.vcf.gz"
    pysam.tabix_compress(str(plain), str(vcf))
    expr = write_geuvadis(tmp_path / "e.txt", ["ENSG01.3", "ENSG02.1", "ENSG04.2"], ["S1", "S2", "S3", "S9"])
    individuals = make_individuals([str(vcf)], [(str(expr), "geuvadis")], None, "two_column", 0.34, 0.0, seed=2)
    assert individuals["in_vcf"].sum() == 4 and individuals["in_expression"].sum() == 4
    assert (individuals["split"] != "none").sum() == 3
    fai = tmp_path / "genome.fa.gz.fai"
    fai.write_text("chr1\t10000\t6\t60\t61\n")
    run_genes, tissues = make_genes(str(gtf), str(fai), {"default": TissueInputs(str(expr))}, individuals,
                                    ["chr1"], ["protein_coding", "lncRNA"], "log1p", None, "mean",
                                    {"block_bp": 2000}, seed=2)
    genes, matrix, dropped = tissues["default"].genes, tissues["default"].expression, tissues["default"].dropped
    assert dropped.to_dict("records") == [{"gene_id": "ENSG04", "reason": "chromosome not in the run"}]
    assert list(genes.columns) == GENE_COLUMNS
    assert genes["gene_id"].tolist() == ["ENSG01", "ENSG02"]
    assert list(matrix.columns) == ["S1", "S2", "S3"]  # S4 lacks expression, S9 genotypes
    assert genes["y_cross_gene"].tolist() == pytest.approx(matrix.mean(axis=1).tolist())
    assert run_genes.equals(genes.drop(columns="y_cross_gene"))


def test_tissues_share_the_run_genes_and_splits_each_with_its_own_targets_and_individuals(tmp_path, gtf):
    """Two tissues: one personal matrix per tissue (different genes and individuals), a GTEx-only third; the run's
    genes are the union, each gene's split the same in every tissue, each tissue's target its own."""
    fai = tmp_path / "genome.fa.gz.fai"
    fai.write_text("chr1\t10000\t6\t60\t61\n")
    a = write_geuvadis(tmp_path / "a.txt", ["ENSG01.3", "ENSG02.1"], ["S1", "S2", "S3"])
    b = tmp_path / "b.txt"
    b.write_text("TargetID\tGene_Symbol\tChr\tCoord\tS2\tS3\tS4\nENSG02\tB\t1\t1\t1\t3\t5\n")
    gtex = tmp_path / "gtex.gct"
    gtex.write_text("#1.2\n3\t2\nName\tDescription\tLiver\tLung\nENSG01.5\tA\t9\t1\nENSG02.2\tB\t0\t3\n"
                    "ENSG03.1\tC\t4\t4\n")
    individuals = build_individuals(["S1", "S2", "S3", "S4"], ["S1", "S2", "S3", "S4"], None, 0.0, 0.0, seed=1)
    tissues = {"A": TissueInputs(str(a), gtex_tissue="Liver"), "B": TissueInputs(str(b), gtex_tissue="Lung"),
               "C": TissueInputs(None, gtex_tissue="Lung")}
    run_genes, out = make_genes(str(gtf), str(fai), tissues, individuals, ["chr1"], ["protein_coding", "lncRNA"],
                                "none", None, "gtex", {"block_bp": 3000, "test_fraction": 0.5}, seed=3,
                                gtex_path=str(gtex))
    assert out["A"].genes["gene_id"].tolist() == ["ENSG01", "ENSG02"]
    assert out["B"].genes["gene_id"].tolist() == ["ENSG02"]
    # ENSG03 of the GTEx table is not in the annotation (which has ENSG03_PAR_Y)
    assert out["C"].genes.set_index("gene_id")["y_cross_gene"].to_dict() == pytest.approx(
        {"ENSG01": np.log1p(1), "ENSG02": np.log1p(3)})
    assert set(run_genes["gene_id"]) == set().union(*(set(o.genes["gene_id"]) for o in out.values()))
    split = run_genes.set_index("gene_id")["split"]
    for o in out.values():
        assert (o.genes.set_index("gene_id")["split"] == split.reindex(o.genes["gene_id"])).all()
    assert out["A"].genes.set_index("gene_id")["y_cross_gene"].to_dict() == pytest.approx(
        {"ENSG01": np.log1p(9), "ENSG02": np.log1p(0)})
    assert out["B"].genes["y_cross_gene"].tolist() == pytest.approx([np.log1p(3)])
    assert list(out["A"].expression.columns) == ["S1", "S2", "S3"]
    assert list(out["B"].expression.columns) == ["S2", "S3", "S4"]
    assert out["C"].expression.shape[1] == 0 and out["C"].expression.index.name == "gene_id"


def test_a_tissue_without_a_matrix_needs_a_gtex_target(tmp_path, gtf):
    fai = tmp_path / "genome.fa.gz.fai"
    fai.write_text("chr1\t10000\t6\t60\t61\n")
    a = write_geuvadis(tmp_path / "a.txt", ["ENSG01.3"], ["S1", "S2"])
    individuals = build_individuals(["S1", "S2"], ["S1", "S2"], None, 0.0, 0.0, seed=1)
    with pytest.raises(InputError, match="tissue 'C' has no expression matrix"):
        make_genes(str(gtf), str(fai), {"A": TissueInputs(str(a)), "C": TissueInputs(None)}, individuals,
                   ["chr1"], ["protein_coding"], "none", None, "mean", {"block_bp": 3000}, seed=3)


def test_individuals_with_expression_in_any_tissue_are_used(tmp_path):
    a = write_geuvadis(tmp_path / "a.txt", ["ENSG01"], ["S1", "S2"])
    b = write_geuvadis(tmp_path / "b.txt", ["ENSG01"], ["S2", "S3"])
    table = make_individuals([], [(str(a), "geuvadis"), (str(b), "geuvadis")], None, "two_column", 0.0, 0.0,
                             seed=1)
    assert table["individual"].tolist() == ["S1", "S2", "S3"] and table["in_expression"].all()


def test_window_n_fraction_counts_gaps_and_the_chromosome_end(tmp_path):
    from hapexpr.genes import window_n_fraction

    fasta = tmp_path / "g.fa"
    fasta.write_text(">chr1\n" + "A" * 100 + "N" * 100 + "C" * 100 + "\n")
    pysam.faidx(str(fasta))
    genes = pd.DataFrame({"chrom": ["chr1", "chr1", "chr1"], "tss": [50, 150, 290]})
    shares = window_n_fraction(str(fasta), genes, 40)
    # all A; all N inside the gap; a 40 bp window at 270..310 is 30 C then 10 bp past the end (N)
    assert shares.tolist() == pytest.approx([0.0, 1.0, 0.25])


# ------------------------------------------------------------------------------------- bad input (issue 12)

QTLTOOLS = "chr22_20Mb_matched/expression/geuvadis_qtltools_example_genes.50percent.chr22_358EUR.bed.gz"
FASTQTL = "chr22_20Mb_matched/expression/geuvadis_fastqtl_example_chr22_373EUR_normalized.bed.gz"


def test_qtltools_bed_with_length_and_strand_columns_is_read_by_its_layout(tmp_path):
    path = tmp_path / "q.bed"
    path.write_text("#chr\tstart\tend\tgene\tlength\tstrand\tS1\tS2\n"
                    "chr22\t99\t100\tENSG01.3\t1049\t+\t0.5\t2\nchr22\t199\t200\tENSG02.1\t77\t-\t1\t3\n")
    expr = read_expression(str(path), "bed")
    assert list(expr.columns) == ["S1", "S2"] and expr.loc["ENSG02", "S2"] == 3.0


def test_real_phenotype_beds_have_only_individuals_as_columns(realdata):
    qtltools = read_expression(str(realdata / QTLTOOLS), "bed")
    fastqtl = read_expression(str(realdata / FASTQTL), "bed")
    assert qtltools.shape == (608, 358) and fastqtl.shape == (364, 373)
    for expr in (qtltools, fastqtl):
        assert all(c.startswith(("HG", "NA")) for c in expr.columns)
        assert expr.columns[0] == "HG00096"


def test_duplicate_individual_columns_are_an_error_naming_them(tmp_path):
    path = write_geuvadis(tmp_path / "e.txt", ["ENSG01"], ["S1", "S2", "S1"])
    with pytest.raises(InputError, match=r"e.txt: column\(s\) \['S1'\] occur more than once"):
        read_expression(str(path), "geuvadis")


def test_non_numeric_expression_names_line_gene_and_column(tmp_path):
    path = tmp_path / "e.txt"
    path.write_text("TargetID\tGene_Symbol\tChr\tCoord\tS1\tS2\nENSG01\tX\t1\t1\t1.5\t2\nENSG02\tY\t1\t1\t3\t1,5\n")
    with pytest.raises(InputError, match=r"e.txt, line 3: .*'1,5' for gene ENSG02 in column 'S2'"):
        read_expression(str(path), "geuvadis")


def test_older_gencode_biotype_names_count_as_lncrna(tmp_path):
    path = tmp_path / "old.gtf"
    path.write_text(gtf_line("chr1", 1001, 2000, "+", "ENSG01.1", "A", biotype="lincRNA")
                    + gtf_line("chr1", 3001, 4000, "+", "ENSG02.1", "B", biotype="antisense")
                    + gtf_line("chr1", 5001, 6000, "+", "ENSG03.1", "C"))
    annotation = read_gtf_genes(str(path))
    assert annotation["biotype"].tolist() == ["lncRNA", "lncRNA", "protein_coding"]
    expr = pd.DataFrame(1.0, index=["ENSG01", "ENSG02", "ENSG03"], columns=["S1"])
    for asked in (["lncRNA"], ["lincRNA"]):
        genes = build_genes(annotation, expr, ["chr1"], ["chr1"], asked, expr.mean(axis=1), PATHS)
        assert genes["gene_id"].tolist() == ["ENSG01", "ENSG02"]


def test_window_longer_than_every_run_chromosome_is_an_error_naming_the_key(tmp_path, gtf):
    from hapexpr.genes import check_window_fits

    check_window_fits(4000, {"chr1": 5000, "chr2": 100}, ["chr1", "chr2"], "genome.fa.gz.fai")
    with pytest.raises(InputError, match=r"genome.fa.gz.fai: window.length is 6,000 bp.*chr1, has 5,000 bp"):
        check_window_fits(6000, {"chr1": 5000, "chr2": 100, "chr9": 10**6}, ["chr1", "chr2"], "genome.fa.gz.fai")


def _bgzipped_vcf(tmp_path, name, samples, chrom="1"):
    plain = tmp_path / f"{name}.vcf"
    plain.write_text(
        f"##fileformat=VCFv4.2\n##contig=<ID={chrom},length=10000>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n"
        + "".join(f"{chrom}\t{p}\t.\tA\tG\t.\tPASS\t.\tGT\t" + "\t".join(["0|1"] * len(samples)) + "\n"
                  for p in range(100, 9000, 3))
    )
    out = tmp_path / f"{name}.vcf.gz"
    pysam.tabix_compress(str(plain), str(out))
    return out


def test_sample_missing_from_one_chromosomes_vcf_names_the_file_and_whom(tmp_path):
    from hapexpr.genes import vcf_samples

    a = _bgzipped_vcf(tmp_path, "chr1", ["S1", "S2", "S3"])
    b = _bgzipped_vcf(tmp_path, "chr2", ["S1", "S3"], chrom="2")
    assert vcf_samples([str(a), str(a)]) == ["S1", "S2", "S3"]
    with pytest.raises(InputError, match=r"chr2.vcf.gz lacks 1 sample\(s\).*\['S2'\].*S2 is in .*chr1.vcf.gz"):
        vcf_samples([str(a), str(b)])


def test_duplicate_or_truncated_vcf_is_named_at_the_individuals_stage(tmp_path):
    from hapexpr.genes import vcf_samples
    from hapexpr.variants import VCFError

    dup = _bgzipped_vcf(tmp_path, "dup", ["S1", "S2", "S1"])
    with pytest.raises(VCFError, match=r"dup.vcf.gz: sample ids occur more than once.*\['S1'\].*bcftools reheader"):
        vcf_samples([str(dup)])
    cut = _bgzipped_vcf(tmp_path, "cut", ["S1", "S2"])
    cut.write_bytes(cut.read_bytes()[:-100])
    with pytest.raises(VCFError, match=r"cut.vcf.gz: the BGZF end-of-file block is missing.*truncated"):
        vcf_samples([str(cut)])
