"""The real-data test config: ../shared/realdata/chr22_20Mb_matched through the workflow's download rules.

`write_realdata_config(workdir, realdata)` builds a proper chr22 FASTA from the 1 Mb piece (N outside it, the
hg19 chr22 length), writes a checksum manifest for the VCF, and writes `workdir/config.yaml` whose sources are
file:// URLs, checked against the data set's SHA256SUMS. Later stages pass `overrides` (deep-merged) to add
their own sections, so every stage runs on the same real inputs.
"""

import copy
import hashlib
from pathlib import Path

import yaml

CHR22_LENGTH = 51_304_566  # GRCh37/hg19 chr22
PIECE_START = 20_000_000  # 0-based start of the piece `22:20000001-21000000`
N_WITH_BOTH = 173  # individuals with genotypes and FastQTL expression (README of the data set)

MATCHED = "chr22_20Mb_matched"
PIECE = f"{MATCHED}/reference/GRCh37_chr22_20000001-21000000.fa"
VCF = f"{MATCHED}/genotypes/1kgp_phase1_chr22_20.00-20.10Mb_191samples.phased.vcf.gz"
GTF = f"{MATCHED}/annotation/gencode.v19.annotation.chr22.gtf.gz"
TSS_TABLE = f"{MATCHED}/annotation/gencode_v19_chr22_gene_tss.tsv"
EXPRESSION = f"{MATCHED}/expression/geuvadis_fastqtl_example_chr22_373EUR_normalized.bed.gz"
POPULATIONS = "annotation/1000genomes_sampleinfo.haptools.tsv"


def published_sha256(realdata: Path, relative: str) -> str:
    """The SHA-256 that the data set's SHA256SUMS gives for one of its files."""
    for line in (realdata / "SHA256SUMS").read_text().splitlines():
        digest, _, name = line.partition("  ")
        if name.removeprefix("./") == relative:
            return digest
    raise KeyError(f"{realdata}/SHA256SUMS has no entry for {relative}")


def build_chr22_fasta(realdata: Path, dest: Path) -> Path:
    """chr22 as a whole chromosome: N everywhere except the real 1 Mb piece at its own coordinates."""
    lines = (realdata / PIECE).read_text().splitlines()
    assert lines[0] == ">22:20000001-21000000", lines[0]
    piece = "".join(lines[1:])
    seq = "N" * PIECE_START + piece + "N" * (CHR22_LENGTH - PIECE_START - len(piece))
    with open(dest, "w") as fh:
        fh.write(">chr22\n")
        for i in range(0, len(seq), 60):
            fh.write(seq[i : i + 60] + "\n")
    return dest


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def realdata_config(realdata: Path, inputs: Path) -> dict:
    """The config dict (inputs: the folder holding the built FASTA and the manifest)."""
    return {
        "build": "GRCh37",
        "seed": 11,
        "chromosomes": ["chr22"],
        "sources": {
            "reference": {"url": (inputs / "chr22.fa").as_uri()},
            "annotation": {"url": (realdata / GTF).as_uri(), "sha256": published_sha256(realdata, GTF)},
            "vcf": {"url": (realdata / VCF).as_uri(), "manifest": (inputs / "manifest.txt").as_uri()},
            "expression": {
                "url": (realdata / EXPRESSION).as_uri(),
                "sha256": published_sha256(realdata, EXPRESSION),
                "format": "bed",
            },
            "populations": {
                "url": (realdata / POPULATIONS).as_uri(),
                "sha256": published_sha256(realdata, POPULATIONS),
                "format": "two_column",
            },
        },
        "window": {"length": 4000},
        "haplotypes": {"missing": "reference", "unphased": "error"},
        # GENCODE v19 spells lincRNA; the FastQTL matrix is already normalised
        "genes": {"biotypes": ["protein_coding", "lincRNA"], "expression_transform": "none"},
        "splits": {
            "genes": {"block_bp": 2_000_000, "test_fraction": 0.2, "valid_fraction": 0.1},
            "individuals": {"test_fraction": 0.2, "valid_fraction": 0.1},
        },
        "evaluation": {"cross_gene_target": "mean", "bootstrap": 100},
    }


def write_realdata_config(workdir: Path, realdata: Path, overrides: dict | None = None) -> Path:
    """Build the inputs under `workdir/inputs` and write `workdir/config.yaml`; return its path."""
    inputs = workdir / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    build_chr22_fasta(realdata, inputs / "chr22.fa")
    vcf_md5 = hashlib.md5((realdata / VCF).read_bytes()).hexdigest()
    (inputs / "manifest.txt").write_text(f"./{Path(VCF).name}\t{vcf_md5}\n")
    config = _merge(realdata_config(realdata, inputs), overrides or {})
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
