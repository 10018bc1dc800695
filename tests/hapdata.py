"""Small hand-made inputs for the haplotype tests: FASTA, bgzipped + indexed VCF, gene tables, random cases."""

import random
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pysam


def write_fasta(path: Path, contigs: dict[str, str]) -> Path:
    with open(path, "w") as fh:
        for name, seq in contigs.items():
            fh.write(f">{name}\n")
            for i in range(0, len(seq), 60):
                fh.write(seq[i : i + 60] + "\n")
    pysam.faidx(str(path))
    return path


def write_vcf(path: Path, chrom: str, length: int, samples: Sequence[str], records: Sequence[tuple],
              index: bool = True) -> Path:
    """records: (pos1, ref, alt, [GT strings]) with 1-based POS; written bgzipped (+ .tbi when index)."""
    lines = [
        "##fileformat=VCFv4.2",
        f"##contig=<ID={chrom},length={length}>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples),
    ]
    for pos, ref, alt, gts in records:
        lines.append(f"{chrom}\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\t.\tGT\t" + "\t".join(gts))
    plain = Path(str(path).removesuffix(".gz"))
    plain.write_text("\n".join(lines) + "\n")
    pysam.tabix_compress(str(plain), str(path), force=True)
    plain.unlink()
    if index:
        pysam.tabix_index(str(path), preset="vcf", force=True)
    return path


def genes_table(chrom: str, rows: Sequence[tuple[str, int, str]]) -> pd.DataFrame:
    """rows: (gene_id, tss 0-based, strand)."""
    return pd.DataFrame(
        [{"gene_id": g, "gene_name": g, "biotype": "protein_coding", "chrom": chrom, "tss": t, "strand": s,
          "split": "train", "y_cross_gene": 0.0} for g, t, s in rows]
    )


def random_case(seed: int, length: int = 400, n_records: int = 60, n_samples: int = 6, lowercase: bool = True):
    """A random reference and a sorted, REF-consistent VCF full of overlapping SNVs, MNPs, indels and
    multiallelic sites, phased genotypes; for comparison with bcftools consensus."""
    rng = random.Random(seed)
    seq = [rng.choice("ACGT") for _ in range(length)]
    if lowercase:
        for _ in range(4):
            a = rng.randrange(length - 30)
            for i in range(a, a + rng.randrange(5, 30)):
                seq[i] = seq[i].lower()
    ref_seq = "".join(seq)
    records = []
    positions = sorted(rng.randrange(1, length - 12) for _ in range(n_records))
    for pos0 in positions:
        n_alt = rng.choice([1, 1, 1, 2, 3])
        rlen = rng.choice([1, 1, 1, 2, 3, 5])
        ref = ref_seq[pos0 : pos0 + rlen].upper()
        alts = []
        while len(alts) < n_alt:
            kind = rng.choice(["snv", "ins", "del", "mnp", "complex"])
            if kind == "snv" or (kind == "mnp" and rlen == 1):
                alt = "".join(rng.choice("ACGT") for _ in range(rlen))
            elif kind == "mnp":
                alt = "".join(rng.choice("ACGT") for _ in range(rlen))
            elif kind == "ins":
                alt = ref + "".join(rng.choice("ACGT") for _ in range(rng.randrange(1, 6)))
            elif kind == "del":
                alt = ref[0] if rlen > 1 else ref + "".join(rng.choice("ACGT") for _ in range(2))
            else:
                alt = "".join(rng.choice("ACGT") for _ in range(rng.randrange(1, 5)))
            if alt != ref and alt not in alts:
                alts.append(alt)
        gts = []
        for _ in range(n_samples):
            a, b = (rng.choice([0] * 3 + list(range(1, n_alt + 1))) for _ in range(2))
            gts.append(f"{a}|{b}")
        records.append((pos0 + 1, ref, ",".join(alts), gts))
    return ref_seq, records


def write_store(directory: Path, chrom: str, sequences: pd.DataFrame, hap_map: pd.DataFrame,
                window: int) -> dict[str, str]:
    """A hand-written haplotype store of one chromosome (sequences with the window it was built at, and the map),
    as the haplotypes rule writes it; returns the paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hapexpr.haplotypes import MAP_SCHEMA, SEQUENCE_SCHEMA, WINDOW_KEY

    directory.mkdir(parents=True, exist_ok=True)
    paths = {"sequences": str(directory / f"{chrom}.sequences.parquet"), "map": str(directory / f"{chrom}.map.parquet")}
    table = pa.Table.from_pandas(sequences[SEQUENCE_SCHEMA.names], schema=SEQUENCE_SCHEMA, preserve_index=False)
    pq.write_table(table.replace_schema_metadata({WINDOW_KEY: str(window).encode()}), paths["sequences"])
    pq.write_table(pa.Table.from_pandas(hap_map[MAP_SCHEMA.names], schema=MAP_SCHEMA, preserve_index=False),
                   paths["map"])
    return paths
