"""The demo simulation: files readable by the tools of later stages, REFs on the FASTA, truth consistent."""

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest
import yaml

from hapexpr import simulate as sim_mod
from hapexpr.genes import read_expression, read_gtf_genes, read_populations, strip_version
from hapexpr.simulate import (
    SimulationConfig,
    SimulationError,
    motif_bins,
    reverse_complement,
    simulate_demo,
    window_range,
)

ROOT = Path(__file__).resolve().parents[2]
CHROMS = ["chr1", "chr2"]
TINY = {"chrom_length": 150000, "genes_per_chromosome": 8, "individuals": 120, "populations": ["POPA", "POPB"]}
WINDOW = 1000


def _paths(root: Path) -> dict:
    return {
        "reference": root / "resources/reference/genome.fa.gz",
        "annotation": root / "resources/annotation/genes.gtf.gz",
        "vcf": {c: root / f"resources/vcf/{c}.vcf.gz" for c in CHROMS},
        "expression": root / "resources/expression/expression.txt.gz",
        "populations": root / "resources/samples/populations.tsv",
        "phenotypes": root / "resources/phenotypes/phenotypes.tsv",
        "truth_dir": root / "resources/truth",
    }


def _tiny(seed: int = 11, **overrides) -> SimulationConfig:
    return SimulationConfig.from_config({**TINY, **overrides}, CHROMS, WINDOW, seed)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim")
    paths = _paths(root)
    sim = simulate_demo(_tiny(), paths)
    return sim, paths


def _truth(paths, name):
    return pd.read_csv(Path(paths["truth_dir"]) / f"{name}.tsv", sep="\t", keep_default_na=False,
                       na_values=[""])


def _window(fasta: pysam.FastaFile, chrom: str, tss: int, strand: str) -> str:
    start, end = window_range(tss, strand, WINDOW)
    seq = fasta.fetch(chrom, start, end).upper()
    return seq if strand == "+" else reverse_complement(seq)


def test_every_vcf_ref_allele_matches_the_fasta(demo):
    _, paths = demo
    fasta = pysam.FastaFile(str(paths["reference"]))
    n = 0
    for chrom in CHROMS:
        with pysam.VariantFile(str(paths["vcf"][chrom])) as vcf:
            for rec in vcf:
                assert rec.ref == fasta.fetch(chrom, rec.start, rec.start + len(rec.ref)).upper(), rec
                n += 1
    assert n > 500


def test_pysam_opens_every_file_with_its_index(demo):
    sim, paths = demo
    fasta = pysam.FastaFile(str(paths["reference"]))  # needs .fai and .gzi of a bgzipped FASTA
    assert list(fasta.references) == CHROMS
    assert fasta.get_reference_length("chr2") == TINY["chrom_length"]
    assert fasta.fetch("chr1", 0, 10) == "N" * 10  # the telomere gap
    for chrom in CHROMS:
        with pysam.VariantFile(str(paths["vcf"][chrom])) as vcf:
            assert list(vcf.header.samples) == sim.individuals
            assert len(list(vcf.fetch(chrom, 50000, 60000))) > 0  # tabix index works
    with gzip.open(paths["annotation"], "rt") as fh:
        assert any(line.split("\t")[2] == "exon" for line in fh if not line.startswith("#"))


def test_vcf_has_every_kind_of_variant_the_haplotypes_stage_handles(demo):
    _, paths = demo
    seen = set()
    for chrom in CHROMS:
        with pysam.VariantFile(str(paths["vcf"][chrom])) as vcf:
            for rec in vcf:
                alts = rec.alts
                if len(alts) > 1:
                    seen.add("multiallelic")
                if "*" in alts:
                    seen.add("star")
                if "<DEL>" in alts:
                    assert rec.info["SVTYPE"] == "DEL" and rec.stop > rec.start + 1
                    seen.add("symbolic")
                for alt in alts:
                    if alt.startswith("<") or alt == "*":
                        continue
                    if len(alt) == len(rec.ref) == 1:
                        seen.add("snv")
                    elif len(alt) == len(rec.ref):
                        seen.add("mnp")
                    elif len(alt) > len(rec.ref):
                        seen.add("insertion")
                    else:
                        seen.add("deletion")
                for sample in rec.samples.values():
                    assert sample.phased, rec
                    if None in sample["GT"]:
                        seen.add("missing")
    assert seen == {"snv", "mnp", "insertion", "deletion", "multiallelic", "star", "symbolic", "missing"}


def test_star_allele_lies_inside_a_deletion_carried_by_its_haplotypes(demo):
    sim, _ = demo
    for chrom, records in sim.records.items():
        star = [r for r in records if r.kind == "star"]
        assert star, chrom
        for s in star:
            covering = [r for r in records if r.pos < s.pos < r.end and len(r.ref) > len(r.alts[0])]
            assert covering
            carriers = np.any([r.gt == 1 for r in covering], axis=0)
            unknown = np.any([r.gt < 0 for r in covering], axis=0)
            star = s.gt == s.alts.index("*") + 1
            assert star.sum() >= 3 and not (star & ~carriers & ~unknown).any()


def test_edge_deletions_span_a_window_edge_of_their_gene(demo):
    sim, paths = demo
    variants = _truth(paths, "variants")
    genes = _truth(paths, "genes").set_index("gene_id")
    edges = variants[variants["kind"] == "edge_deletion"]
    assert len(edges) >= len(CHROMS)
    for row in edges.itertuples():
        gene = genes.loc[row.gene_id]
        start, end = window_range(gene.tss, gene.strand, WINDOW)
        deleted = (row.pos, row.pos - 1 + row.ref_span)  # 0-based [first deleted, end)
        assert any(deleted[0] < edge < deleted[1] for edge in (start, end)), row


def test_variant_truth_table_lists_every_vcf_record(demo):
    _, paths = demo
    variants = _truth(paths, "variants")
    for chrom in CHROMS:
        with pysam.VariantFile(str(paths["vcf"][chrom])) as vcf:
            positions = [rec.pos for rec in vcf]
        assert positions == variants.loc[variants["chrom"] == chrom, "pos"].tolist()
    assert set(variants["kind"]) == set(sim_mod.VARIANT_KINDS)


def test_causal_variants_are_in_the_vcf_with_their_alleles_and_frequencies(demo):
    _, paths = demo
    causal = _truth(paths, "causal_variants")
    genes = _truth(paths, "genes").set_index("gene_id")
    assert len(causal) > 5
    assert causal["in_window"].any() and (~causal["in_window"]).any()
    for row in causal.itertuples():
        with pysam.VariantFile(str(paths["vcf"][row.chrom])) as vcf:
            (rec,) = [r for r in vcf.fetch(row.chrom, row.pos - 1, row.pos) if r.pos == row.pos]
        assert (rec.ref, rec.alts) == (row.ref, (row.alt,))
        haps = [a for s in rec.samples.values() for a in s["GT"]]
        assert np.isclose(sum(a == 1 for a in haps) / len(haps), row.alt_frequency, atol=1e-3)
        gene = genes.loc[row.gene_id]
        assert gene.chrom == row.chrom and row.distance_to_tss == row.pos - 1 - gene.tss
        start, end = window_range(gene.tss, gene.strand, WINDOW)
        inside = start <= row.pos - 1 and row.pos - 1 + len(row.ref) <= end
        assert inside == row.in_window
        assert abs(row.distance_to_tss) <= 500000


def test_per_gene_heritability_matches_the_causal_variants(demo):
    _, paths = demo
    genes = _truth(paths, "genes")
    causal = _truth(paths, "causal_variants")
    counts = causal["gene_id"].value_counts()
    assert (genes["n_causal"] == genes["gene_id"].map(counts).fillna(0)).all()
    assert ((genes["h2"] > 0) == (genes["n_causal"] > 0)).all()
    assert genes["h2"].between(0, 0.6).all()
    assert (genes["h2"] >= 0.3).any()
    eqtl = genes[genes["h2"] > 0]
    assert np.corrcoef(eqtl["h2"], eqtl["realised_h2"])[0, 1] > 0.7


def _dosages(paths, chrom, pos):
    with pysam.VariantFile(str(paths["vcf"][chrom])) as vcf:
        (rec,) = [r for r in vcf.fetch(chrom, pos - 1, pos) if r.pos == pos]
        return pd.Series({s: sum(a == 1 for a in v["GT"]) for s, v in rec.samples.items()})


def test_expression_recovers_the_sign_of_planted_eqtl_effects(demo):
    _, paths = demo
    expression = read_expression(str(paths["expression"]), "geuvadis")
    genes = _truth(paths, "genes").set_index("gene_id")
    causal = _truth(paths, "causal_variants")
    checked = 0
    for gene_id, rows in causal.groupby("gene_id"):
        if genes.loc[gene_id, "h2"] < 0.2:
            continue
        y = expression.loc[gene_id] - genes.loc[gene_id, "baseline"]
        x = np.column_stack([_dosages(paths, r.chrom, r.pos)[y.index] for r in rows.itertuples()])
        x = np.column_stack([np.ones(len(y)), x])
        beta = np.linalg.lstsq(x, y.to_numpy(), rcond=None)[0][1:]
        strong = np.abs(rows["effect"].to_numpy()) > 0.1
        assert (np.sign(beta[strong]) == np.sign(rows["effect"].to_numpy()[strong])).all(), gene_id
        checked += 1
    assert checked >= 3


def test_mean_expression_follows_the_planted_baseline(demo):
    _, paths = demo
    expression = read_expression(str(paths["expression"]), "geuvadis")
    genes = _truth(paths, "genes").set_index("gene_id")
    mean = expression.mean(axis=1)
    assert np.corrcoef(mean, genes.loc[mean.index, "baseline"])[0, 1] > 0.95
    parts = genes[["biotype_effect", "gc_effect", "cpg_effect", "motif_effect", "residual"]].sum(axis=1)
    assert np.allclose(genes["baseline"], 5.0 + parts, atol=1e-3)


def test_motifs_sit_at_the_stated_offsets_on_the_gene_strand(demo):
    _, paths = demo
    fasta = pysam.FastaFile(str(paths["reference"]))
    motifs = _truth(paths, "motifs").set_index("motif_id")
    sites = _truth(paths, "motif_sites")
    genes = _truth(paths, "genes").set_index("gene_id")
    assert len(sites) > 10 and set(sites["strand"]) == {"+", "-"}
    half = WINDOW // 2
    for site in sites.itertuples():
        motif = motifs.loc[site.motif_id]
        gene = genes.loc[site.gene_id]
        window = _window(fasta, gene.chrom, gene.tss, gene.strand)
        assert window[half + site.offset : half + site.offset + len(motif.sequence)] == motif.sequence
        assert motif.bin_start <= site.offset and site.offset + len(motif.sequence) <= motif.bin_end
        assert fasta.fetch(site.chrom, site.start, site.end).upper() == site.sequence
    motif_effect = sites.assign(e=sites["motif_id"].map(motifs["effect"])).groupby("gene_id")["e"].sum()
    assert np.allclose(genes["motif_effect"], genes.index.map(motif_effect).fillna(0), atol=1e-3)


def test_gc_and_cpg_of_the_truth_are_those_of_the_reference(demo):
    _, paths = demo
    fasta = pysam.FastaFile(str(paths["reference"]))
    genes = _truth(paths, "genes")
    for g in genes.itertuples():
        window = _window(fasta, g.chrom, g.tss, g.strand)
        assert np.isclose((window.count("G") + window.count("C")) / len(window), g.gc_fraction, atol=1e-4)
        promoter = fasta.fetch(g.chrom, g.tss - 500, g.tss + 500).upper()
        assert promoter.count("CG") == g.cpg_count
    islands = genes["cpg_island"].astype(bool)
    assert islands.any() and (~islands).any()
    assert genes.loc[islands, "cpg_count"].median() > 3 * genes.loc[~islands, "cpg_count"].median()


def test_reference_has_gc_variation_and_soft_masked_repeats(demo):
    sim, _ = demo
    seq = sim.sequences["chr1"][sim.config.gap :].decode()
    assert 0.05 < sum(c.islower() for c in seq) / len(seq) < 0.4
    upper = seq.upper()
    gc = [(b.count("G") + b.count("C")) / len(b) for b in (upper[i : i + 5000] for i in range(0, 140000, 5000))]
    assert max(gc) - min(gc) > 0.05
    expected_cpg = (upper.count("C") / len(upper)) * (upper.count("G") / len(upper)) * len(upper)
    assert upper.count("CG") < 0.6 * expected_cpg  # CpG depletion outside islands


def test_gtf_genes_match_the_truth_and_the_expression(demo):
    sim, paths = demo
    gtf = read_gtf_genes(str(paths["annotation"]))
    truth = _truth(paths, "genes")
    merged = truth.merge(gtf, on="gene_id", suffixes=("", "_gtf"))
    assert len(merged) == len(truth) == len(gtf)
    assert (merged["tss"] == merged["tss_gtf"]).all() and (merged["strand"] == merged["strand_gtf"]).all()
    assert set(gtf["strand"]) == {"+", "-"}
    assert {"protein_coding", "lncRNA"} <= set(gtf["biotype"])
    tss = np.sort(truth["tss"][truth["chrom"] == "chr1"].to_numpy())
    assert np.diff(tss).min() >= WINDOW + 1000
    raw = pd.read_csv(paths["expression"], sep="\t")
    assert list(raw.columns[:4]) == ["TargetID", "Gene_Symbol", "Chr", "Coord"]
    assert raw["TargetID"].str.fullmatch(r"ENSG\d{11}\.\d+").all()
    assert set(raw["TargetID"].map(strip_version)) == set(truth["gene_id"])
    assert list(raw.columns[4:]) == sim.individuals


def test_populations_file_has_two_columns_and_every_individual(demo):
    sim, paths = demo
    text = Path(paths["populations"]).read_text()
    assert not text.startswith("individual")
    pops = read_populations(str(paths["populations"]), "two_column")
    assert list(pops.index) == sim.individuals
    assert set(pops) == {"POPA", "POPB"}


def test_populations_differ_in_allele_frequency(demo):
    sim, _ = demo
    is_a = np.repeat(np.array(sim.populations) == "POPA", 2)
    freq = np.array([[(r.gt[is_a] == 1).mean(), (r.gt[~is_a] == 1).mean()] for r in sim.records["chr1"]])
    fst_like = np.mean((freq[:, 0] - freq[:, 1]) ** 2)
    assert fst_like > 1e-3


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        simulate_demo(_tiny(seed, chrom_length=60000, genes_per_chromosome=4, individuals=20), _paths(tmp_path / name))
    a, b, c = (_digest(tmp_path / n) for n in "abc")
    assert len(a) == 7 + 2 * len(CHROMS) + len(sim_mod.TRUTH_TABLES)
    assert a == b
    assert a.keys() == c.keys() and a != c


def test_a_failed_write_leaves_no_output(tmp_path, monkeypatch):
    def broken(path, text):
        raise OSError("disk full")

    monkeypatch.setattr(sim_mod, "_write_vcf", broken)
    with pytest.raises(OSError):
        simulate_demo(_tiny(chrom_length=60000, genes_per_chromosome=4, individuals=20), _paths(tmp_path))
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_config_that_cannot_hold_the_genes_names_the_key():
    with pytest.raises(SimulationError, match="chrom_length"):
        SimulationConfig.from_config({**TINY, "chrom_length": 20000, "genes_per_chromosome": 50}, CHROMS, 4000, 1)
    with pytest.raises(SimulationError, match="unknown key"):
        SimulationConfig.from_config({**TINY, "motif_count": 3}, CHROMS, 4000, 1)
    with pytest.raises(SimulationError, match="heritability"):
        SimulationConfig.from_config({**TINY, "heritability": [0.5, 0.2]}, CHROMS, 4000, 1)


def test_schema_defaults_are_the_library_defaults():
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    props = schema["properties"]["simulate"]["properties"]
    fields = {f.name: f for f in sim_mod.dataclasses.fields(SimulationConfig)}
    assert set(props) == set(fields) - {"chromosomes", "window", "seed"}
    for name, prop in props.items():
        if "default" in prop:
            default = fields[name].default
            assert (list(default) if isinstance(default, tuple) else default) == prop["default"], name
        else:
            assert name in schema["properties"]["simulate"]["required"], name


def test_motif_bins_grow_away_from_the_tss_and_stay_inside_the_window():
    bins = motif_bins(4000, 10)
    assert bins[0][0] == -2000 and bins[-1][1] == 2000
    assert all(a < b for a, b in bins) and all(b1 == a2 for (_, b1), (a2, _) in zip(bins, bins[1:]))


def test_window_range_puts_the_tss_at_the_centre_index():
    assert window_range(100, "+", 10) == (95, 105)  # index 5 -> 100
    start, end = window_range(100, "-", 10)
    assert end - start == 10 and end - 1 - 5 == 100  # reversed: index 5 -> 100


# --- traits (issue 16): their own random stream, a planted truth through the genetic expression component ---

TRAIT_FILES = {"phenotypes.tsv", "traits.tsv", "trait_genes.tsv", "trait_variants.tsv"}


def test_trait_settings_leave_every_other_file_byte_identical(tmp_path):
    """The traits draw from a fifth random stream: changing them moves no genome, VCF, expression or truth byte."""
    small = {"chrom_length": 60000, "genes_per_chromosome": 4, "individuals": 40}
    simulate_demo(_tiny(5, **small), _paths(tmp_path / "a"))
    simulate_demo(_tiny(5, **small, trait_genes=1, trait_prevalence=0.5, trait_direct_variants=3,
                        trait_expression_share=0.3, trait_population_shift=2.0, trait_pcs=3), _paths(tmp_path / "b"))
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert a.keys() == b.keys()
    other = [k for k in a if Path(k).name not in TRAIT_FILES]
    assert len(other) == 6 + 2 * len(CHROMS) + len(sim_mod.TRUTH_TABLES) - 3
    assert all(a[k] == b[k] for k in other)
    assert any(a[k] != b[k] for k in a if Path(k).name in TRAIT_FILES)


def test_phenotypes_follow_the_planted_genes_population_shift_and_prevalence(demo):
    sim, paths = demo
    table = pd.read_csv(paths["phenotypes"], sep="\t")
    assert list(table.columns) == ["individual", "sex", "PC1", "PC2", "trait_quantitative", "trait_binary"]
    assert list(table["individual"]) == sim.individuals
    assert set(table["sex"]) == {0, 1} and set(table["trait_binary"]) == {0, 1}
    assert abs(table["trait_binary"].mean() - 0.3) < 0.02
    population = pd.Series(sim.populations, index=sim.individuals).to_numpy()
    # PC1 separates the two populations; POPB's baseline is 0.5 SD higher
    assert abs(np.corrcoef(table["PC1"], population == "POPB")[0, 1]) > 0.6
    trait = table["trait_quantitative"].to_numpy()
    gap = trait[population == "POPB"].mean() - trait[population == "POPA"].mean()
    assert 0.1 < gap < 0.9, gap
    genes = _truth(paths, "trait_genes")
    truth_genes = _truth(paths, "genes").set_index("gene_id")
    planted = genes[genes["trait"] == "trait_quantitative"]
    assert len(planted) == 4 and (truth_genes.loc[planted["gene_id"], "h2"] >= 0.4).all()
    # the planted genetic expression part, rebuilt from the eQTL truth, explains much of the trait within POPA
    dosage = _causal_dosages(paths)
    part = np.zeros(len(trait))
    for gene, effect in zip(planted["gene_id"], planted["effect"]):
        value = dosage[gene]
        part += effect * (value - value.mean()) / value.std()
    popa = population == "POPA"
    assert np.corrcoef(part[popa], trait[popa])[0, 1] > 0.6
    traits = _truth(paths, "traits").set_index("trait")
    assert traits.loc["trait_binary", "type"] == "binary" and traits.loc["trait_quantitative", "n_variants"] == 20
    variants = _truth(paths, "trait_variants")
    eqtls = set(zip(_truth(paths, "causal_variants")["chrom"], _truth(paths, "causal_variants")["pos"]))
    assert len(variants) == 40 and not set(zip(variants["chrom"], variants["pos"])) & eqtls


def _causal_dosages(paths) -> dict:
    """Each eQTL gene's genetic value (sum of effect x ALT dosage of its causal variants), read from the VCFs."""
    causal = _truth(paths, "causal_variants")
    values = {}
    for row in causal.itertuples():
        with pysam.VariantFile(str(paths["vcf"][row.chrom])) as vcf:
            record = next(r for r in vcf.fetch(row.chrom, row.pos - 1, row.pos) if r.pos == row.pos)
            dose = np.array([sum(a == 1 for a in s["GT"] if a is not None) for s in record.samples.values()], float)
        values[row.gene_id] = values.get(row.gene_id, 0) + row.effect * dose
    return values


def test_trait_shares_that_leave_no_noise_name_the_keys():
    with pytest.raises(SimulationError, match="trait_expression_share"):
        SimulationConfig.from_config({**TINY, "trait_expression_share": 0.9, "trait_direct_share": 0.1}, CHROMS,
                                     WINDOW, 1)
    with pytest.raises(SimulationError, match="trait_chromosomes"):
        SimulationConfig.from_config({**TINY, "trait_chromosomes": ["chr9"]}, CHROMS, WINDOW, 1)
