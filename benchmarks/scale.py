"""Scale of the real run, simulated (issue 13, item 5): a workflow config for a `../shared/bench-haplotypes` cohort.

Turns the harness's `make_data.py` output into the sources a real run reads and writes one config per measurement:

    python benchmarks/scale.py prepare --data /tmp/scale/data --out /tmp/scale/run [--enet-genes 30]
    python benchmarks/scale.py summarize /tmp/scale/run/w4k /tmp/scale/run/w49k /tmp/scale/run/enet

writes under --out:
  sources/genes.gtf.gz      the harness's genes.gtf with `gene_type "protein_coding"` (the real config keeps
                            protein_coding and lncRNA; the harness's GTF has no biotype)
  sources/expression.bed    the harness's expression.tsv as a FastQTL phenotype BED (`#chr start end id`, then the
                            individuals), TSS from genes.tsv (1-based there, 0-based start in the BED)
  sources/expression_enet.bed   the first --enet-genes genes only, evenly spaced along the chromosome (elastic-net
                            subset, when --enet-genes is given)
  w4k/config.yaml           config/config.yaml's model settings, gta off: the store is built at 4,000 bp
  w49k/config.yaml          the same with gta on (window 49,152, as the real run): the store at 49,152 bp, which
                            gc_cpg, kmer_ridge and dexter read at 4,000 bp
  enet/config.yaml          the elastic net alone (cis_window 500,000), on expression_enet.bed when given

`summarize` prints each job's Snakemake benchmark file (results/runtime/**.tsv: wall s, CPU s, peak RSS) of the
given run directories as one Markdown table.

Sources are plain local paths (config/README.md, "Sources and downloads": copied by the download rules). The
genome build is `simulated`, so no GRCh38 length check applies; one chromosome means gene splits by blocks
(`splits.genes.block_bp`); no population table (every individual `unknown`, no test population).
"""

from __future__ import annotations

import argparse
import copy
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
CLASSICAL = ("gc_cpg", "kmer_ridge", "dexter")


def convert(data: Path, out: Path, enet_genes: int | None) -> dict[str, Path]:
    """Write the GTF (with gene_type) and the expression BED(s) of a harness data directory; return their paths."""
    src = out / "sources"
    src.mkdir(parents=True, exist_ok=True)
    gtf = src / "genes.gtf.gz"
    with open(data / "genes.gtf") as fin, gzip.open(gtf, "wt") as fout:
        for line in fin:
            fout.write(line.rstrip("\n").rstrip() + ' gene_type "protein_coding";\n')
    genes = pd.read_csv(data / "genes.tsv", sep="\t")
    expression = pd.read_csv(data / "expression.tsv", sep="\t")
    bed = genes[["chrom", "tss", "gene_id"]].merge(expression, on="gene_id", validate="one_to_one")
    bed.insert(1, "start", bed.pop("tss") - 1)
    bed.insert(2, "end", bed["start"] + 1)
    bed = bed.rename(columns={"chrom": "#chr", "gene_id": "id"}).sort_values("start", kind="stable")
    paths = {"gtf": gtf, "expression": src / "expression.bed", "expression_enet": src / "expression.bed"}
    bed.to_csv(paths["expression"], sep="\t", index=False, float_format="%.4f")
    if enet_genes:
        keep = np.unique(np.linspace(0, len(bed) - 1, enet_genes).round().astype(int))
        paths["expression_enet"] = src / "expression_enet.bed"
        bed.iloc[keep].to_csv(paths["expression_enet"], sep="\t", index=False, float_format="%.4f")
    return paths


def configs(data: Path, paths: dict[str, Path], chrom: str) -> dict[str, dict]:
    """The three configs: config/config.yaml's settings, local sources, only the measured models enabled."""
    real = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    base = {k: v for k, v in real.items() if k not in ("sources", "models", "splits", "evaluation", "build")}
    base |= {
        "build": "simulated",
        "chromosomes": [chrom],
        "sources": {
            "reference": {"url": str(data / "ref.fa")},
            "annotation": {"url": str(paths["gtf"])},
            "vcf": {"url": str(data / f"{chrom}.norm.vcf.gz")},
            "expression": {"url": str(paths["expression"]), "format": "bed"},
        },
        "splits": {
            "genes": {"block_bp": 2_000_000, "test_fraction": 0.2, "valid_fraction": 0.1},
            "individuals": {"test_fraction": 0.2, "valid_fraction": 0.1},
        },
        "evaluation": {"cross_gene_target": "mean", "bootstrap": real["evaluation"]["bootstrap"]},
    }
    models = real["models"]
    off = {name: {**props, "enabled": False} if "enabled" in props else props for name, props in models.items()}
    classical = {name: models[name] for name in CLASSICAL}
    w4k = copy.deepcopy(base) | {"models": off | classical}
    w49k = copy.deepcopy(base) | {"models": off | classical | {"gta": models["gta"]}}
    enet = copy.deepcopy(base) | {"models": off | {"elastic_net": models["elastic_net"]}}
    enet["sources"]["expression"]["url"] = str(paths["expression_enet"])
    return {"w4k": w4k, "w49k": w49k, "enet": enet}


def summarize(runs: list[Path]) -> pd.DataFrame:
    """One row per job of the run directories: Snakemake's benchmark file (wall s, CPU s, peak RSS MB)."""
    rows = []
    for run in runs:
        for path in sorted((run / "results" / "runtime").rglob("*.tsv")):
            bench = pd.read_csv(path, sep="\t")
            job = str(path.relative_to(run / "results" / "runtime").with_suffix(""))
            rows.append({"run": run.name, "job": job, "wall_s": round(float(bench["s"].iloc[0]), 1),
                         "cpu_s": round(float(bench["cpu_time"].iloc[0]), 1),
                         "max_rss_mb": round(float(bench["max_rss"].iloc[0]))})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    prepare = sub.add_parser("prepare", help="sources and configs from a make_data.py directory")
    prepare.add_argument("--data", type=Path, required=True, help="a make_data.py output directory")
    prepare.add_argument("--out", type=Path, required=True, help="where the sources and the run directories go")
    prepare.add_argument("--enet-genes", type=int, default=None, help="elastic net on this many genes only")
    prepare.add_argument("--chrom", default="chr22", help="the harness's contig name [chr22]")
    report = sub.add_parser("summarize", help="the benchmark files of run directories as a Markdown table")
    report.add_argument("runs", type=Path, nargs="+")
    args = parser.parse_args()
    if args.command == "summarize":
        print(summarize(args.runs).to_markdown(index=False))
        return
    paths = convert(args.data, args.out, args.enet_genes)
    for name, config in configs(args.data.resolve(), paths, args.chrom).items():
        (args.out / name).mkdir(parents=True, exist_ok=True)
        (args.out / name / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        print(args.out / name / "config.yaml")


if __name__ == "__main__":
    main()
