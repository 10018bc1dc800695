"""Bad input through Snakemake: each case fails naming the file, record or key, and leaves no output behind."""

import hashlib

import numpy as np
import pysam
import pytest
import yaml

from conftest import run_snakemake

pytestmark = pytest.mark.slow

SAMPLES = ["S1", "S2", "S3", "S4"]


def gtf_line(chrom, start, end, strand, gene_id):
    attrs = f'gene_id "{gene_id}.1"; gene_type "protein_coding"; gene_name "N{gene_id}";'
    return f"{chrom}\tHAVANA\tgene\t{start}\t{end}\t.\t{strand}\t.\t{attrs}\n"


def write_inputs(tmp_path, chroms=("chr1",), fasta_chroms=None, expression_ids=None, samples=None):
    """A tiny consistent data set: FASTA, GTF, one bgzipped VCF per chromosome, Geuvadis-style expression."""
    rng = np.random.default_rng(0)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    sequences = {c: "".join(rng.choice(list("ACGT"), 6000)) for c in fasta_chroms or chroms}
    with open(inputs / "genome.fa", "w") as fh:
        for c, seq in sequences.items():
            fh.write(f">{c}\n{seq}\n")
    genes = []
    with open(inputs / "genes.gtf", "w") as fh:
        for i, c in enumerate(chroms):
            for j, (start, strand) in enumerate([(1001, "+"), (3001, "-")]):
                gid = f"ENSG{i}{j:04d}"
                genes.append(gid)
                fh.write(gtf_line(c, start, start + 999, strand, gid))
    samples = samples or SAMPLES
    for c in chroms:
        ref = sequences.get(c, "A" * 1500)[1499]  # REF as in the FASTA (1-based position 1500)
        alt = "G" if ref != "G" else "T"
        plain = inputs / f"{c}.vcf"
        plain.write_text(
            f"##fileformat=VCFv4.2\n##contig=<ID={c},length=6000>\n"
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(SAMPLES) + "\n"
            f"{c}\t1500\t.\t{ref}\t{alt}\t.\tPASS\t.\tGT\t0|1\t1|1\t0|0\t0|1\n"
        )
        pysam.tabix_compress(str(plain), str(inputs / f"{c}.vcf.gz"))
    ids = expression_ids or genes
    header = "\t".join(["TargetID", "Gene_Symbol", "Chr", "Coord", *samples])
    body = "".join(f"{g}.1\tX\t1\t1\t" + "\t".join(f"{v:.2f}" for v in rng.uniform(1, 9, len(samples))) + "\n"
                   for g in ids)
    (inputs / "expression.txt").write_text(header + "\n" + body)
    return inputs


def write_config(tmp_path, inputs, chroms=("chr1",), **extra):
    config = {
        "build": "test",
        "seed": 1,
        "chromosomes": list(chroms),
        "sources": {
            "reference": {"url": str(inputs / "genome.fa")},
            "annotation": {"url": str(inputs / "genes.gtf")},
            "vcf": {"url": str(inputs / "{chrom}.vcf.gz")},
            "expression": {"url": str(inputs / "expression.txt"), "format": "geuvadis"},
        },
        "window": {"length": 1000},
        "genes": {"biotypes": ["protein_coding"], "expression_transform": "log1p"},
        "splits": {"genes": {"block_bp": 1000}, "individuals": {"test_fraction": 0.25, "valid_fraction": 0.0}},
    }
    config.update(extra)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def failing_run(tmp_path, config, *targets):
    proc = run_snakemake(tmp_path, "--configfile", str(config), "--cores", "1", *targets, check=False)
    assert proc.returncode != 0, proc.stdout[-3000:]
    return proc.stdout + proc.stderr


def logs_text(tmp_path):
    return "".join(p.read_text() for p in (tmp_path / "logs").rglob("*.log"))


def test_the_tiny_data_set_runs(tmp_path):
    """The control: the same inputs without a fault pass, so each failure below is the fault's."""
    inputs = write_inputs(tmp_path)
    run_snakemake(tmp_path, "--configfile", str(write_config(tmp_path, inputs)), "--cores", "1")
    assert (tmp_path / "results/genes/genes.tsv").read_text().count("\n") == 3


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"window": {"length": "4kb"}}, "length"),
        ({"seed": "seven"}, "seed"),
        ({"windw": {"length": 10}}, "windw"),
        ({"genes": {"biotypes": ["protein_coding"], "transform": "log1p"}}, "transform"),
    ],
)
def test_config_key_of_wrong_type_or_unknown_is_named(tmp_path, change, key):
    inputs = write_inputs(tmp_path)
    out = failing_run(tmp_path, write_config(tmp_path, inputs, **change), "-n")
    assert key in out and ("not of type" in out or "Additional properties" in out or "was unexpected" in out)
    assert not (tmp_path / "resources").exists() and not (tmp_path / "results").exists()


def test_expression_matching_no_gene(tmp_path):
    inputs = write_inputs(tmp_path, expression_ids=["ENSG9990001", "ENSG9990002"])
    out = failing_run(tmp_path, write_config(tmp_path, inputs))
    log = (tmp_path / "logs/genes.log").read_text()
    assert "expression.txt.gz: none of its 2 gene ids" in log and "genes.gtf.gz" in log
    assert "genes" in out
    assert not (tmp_path / "results/genes").exists() or not any((tmp_path / "results/genes").iterdir())
    assert not (tmp_path / "results/expression/default.parquet").exists()


def test_fasta_lacking_a_chromosome(tmp_path):
    chroms = ("chr1", "chr2")
    inputs = write_inputs(tmp_path, chroms=chroms, fasta_chroms=("chr1",))
    failing_run(tmp_path, write_config(tmp_path, inputs, chroms=chroms))
    log = (tmp_path / "logs/genes.log").read_text()
    assert "genome.fa.gz.fai: the reference has no chromosome 'chr2'" in log
    assert not (tmp_path / "results/genes/genes.tsv").exists()


@pytest.mark.parametrize("bad", ["S/2", "S 2", "S;$(touch x)"])
def test_unsafe_individual_id(tmp_path, bad):
    inputs = write_inputs(tmp_path, samples=["S1", bad, "S3", "S4"])
    failing_run(tmp_path, write_config(tmp_path, inputs), "results/individuals.tsv")
    log = (tmp_path / "logs/individuals.log").read_text()
    assert "expression.txt.gz" in log and repr(bad) in log and "Rename them" in log
    assert not (tmp_path / "results/individuals.tsv").exists()
    assert not (tmp_path / "x").exists()


def test_checksum_mismatch_in_the_workflow(tmp_path):
    inputs = write_inputs(tmp_path)
    config = write_config(tmp_path, inputs)
    data = yaml.safe_load(config.read_text())
    data["sources"]["annotation"]["sha256"] = "0" * 64
    config.write_text(yaml.safe_dump(data))
    failing_run(tmp_path, config, "resources/annotation/genes.gtf.gz")
    log = (tmp_path / "logs/download_annotation.log").read_text()
    actual = hashlib.sha256((inputs / "genes.gtf").read_bytes()).hexdigest()
    assert "sha256 mismatch" in log and "0" * 64 in log and actual in log and "genes.gtf" in log
    annotation = tmp_path / "resources/annotation"
    assert not annotation.exists() or not any(p.is_file() for p in annotation.iterdir())


# ----------------------------------------------------------------------------------------------- issue 12


def write_yaml(tmp_path, data):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_numeric_chromosome_names_say_to_quote_them(tmp_path):
    inputs = write_inputs(tmp_path)
    config = write_config(tmp_path, inputs)
    config.write_text(config.read_text().replace("- chr1", "- 1"))
    out = failing_run(tmp_path, config, "-n")
    assert "chromosomes: [1] are numbers" in out and "quote them" in out and "'1'" in out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"splits": {"genes": {"test_chromosomes": ["chr9"]}}},
         "splits.genes.test_chromosomes: ['chr9'] not in 'chromosomes'"),
        ({"splits": {"genes": {"valid_chromosomes": ["chr1"]}}},
         "splits.genes.test_chromosomes names no chromosome of the run"),
        ({"splits": {"genes": {"block_bp": 1000}, "individuals": {"test_fraction": 0.6, "valid_fraction": 0.4}}},
         "leave no training individual"),
    ],
)
def test_settings_that_cannot_mean_what_they_ask_are_named_at_start(tmp_path, change, message):
    inputs = write_inputs(tmp_path)
    out = failing_run(tmp_path, write_config(tmp_path, inputs, **change), "-n")
    assert message in out
    assert not (tmp_path / "resources").exists() and not (tmp_path / "results").exists()


@pytest.mark.parametrize("how", ["no {chrom} in url", "chrom_urls repeat a file"])
def test_several_chromosomes_reading_one_vcf_is_an_error_naming_the_key(tmp_path, how):
    chroms = ("chr1", "chr2")
    inputs = write_inputs(tmp_path, chroms=chroms)
    data = yaml.safe_load(write_config(tmp_path, inputs, chroms=chroms).read_text())
    if how == "no {chrom} in url":
        data["sources"]["vcf"]["url"] = str(inputs / "chr1.vcf.gz")
        key = "sources.vcf.url"
    else:
        data["sources"]["vcf"]["chrom_urls"] = {"chr2": str(inputs / "chr1.vcf.gz")}
        key = "sources.vcf.chrom_urls"
    out = failing_run(tmp_path, write_yaml(tmp_path, data), "-n")
    assert f"{key}: chromosomes ['chr1', 'chr2'] would all read {inputs / 'chr1.vcf.gz'}" in out and "{chrom}" in out


def test_local_source_changed_after_a_run_is_copied_again(tmp_path):
    inputs = write_inputs(tmp_path)
    config = write_config(tmp_path, inputs)
    data = yaml.safe_load(config.read_text())
    data["sources"]["annotation"]["url"] = (inputs / "genes.gtf").as_uri()  # file:// behaves like a path
    config = write_yaml(tmp_path, data)
    target = "resources/annotation/genes.gtf.gz"
    run_snakemake(tmp_path, "--configfile", str(config), "--cores", "1", target)
    with open(inputs / "genes.gtf", "a") as fh:
        fh.write(gtf_line("chr1", 5001, 5500, "+", "ENSG0NEW"))
    run_snakemake(tmp_path, "--configfile", str(config), "--cores", "1", target)
    import gzip

    assert "ENSG0NEW" in gzip.decompress((tmp_path / target).read_bytes()).decode()


def test_source_fixed_after_a_failed_check_of_its_copy_needs_no_manual_delete(tmp_path):
    inputs = write_inputs(tmp_path)
    good = (inputs / "expression.txt").read_text()
    lines = good.splitlines()
    fields = lines[2].split("\t")
    fields[5] = "high"
    (inputs / "expression.txt").write_text("\n".join([*lines[:2], "\t".join(fields), *lines[3:]]) + "\n")
    config = write_config(tmp_path, inputs)
    failing_run(tmp_path, config, "results/individuals.tsv")
    log = (tmp_path / "logs/individuals.log").read_text()
    assert f"expression.txt.gz, line 3: non-numeric expression value 'high' for gene {fields[0]} in column 'S2'" in log
    (inputs / "expression.txt").write_text(good)  # the user fixes the source, not the copy under resources/
    run_snakemake(tmp_path, "--configfile", str(config), "--cores", "1", "results/individuals.tsv")
    assert (tmp_path / "results/individuals.tsv").exists()


def test_truncated_vcf_source_is_named_and_not_copied(tmp_path):
    inputs = write_inputs(tmp_path)
    vcf = inputs / "chr1.vcf.gz"
    vcf.write_bytes(vcf.read_bytes()[:-30])
    failing_run(tmp_path, write_config(tmp_path, inputs), "resources/vcf/chr1.vcf.gz")
    log = (tmp_path / "logs/download_vcf/chr1.log").read_text()
    assert "chr1.vcf.gz" in log and "BGZF end-of-file block is missing" in log and "truncated" in log
    vcfs = tmp_path / "resources/vcf"
    assert not vcfs.exists() or not any(p.is_file() for p in vcfs.iterdir())


def test_window_longer_than_every_chromosome_stops_the_genes_rule_naming_the_key(tmp_path):
    inputs = write_inputs(tmp_path)  # chromosomes of 6,000 bp
    failing_run(tmp_path, write_config(tmp_path, inputs, window={"length": 10000}), "results/genes/genes.tsv")
    log = (tmp_path / "logs/genes.log").read_text()
    assert "genome.fa.gz.fai: window.length is 10,000 bp" in log and "chr1, has 6,000 bp" in log
    assert not (tmp_path / "results/genes/genes.tsv").exists()
