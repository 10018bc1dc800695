"""How long the dry run of a config takes to build its DAG, and how many jobs it has (issue 8, item 6).

    .venv/bin/python benchmarks/dag.py [--configfile config/config.yaml] [--repeats 5]

Each repeat is a fresh `snakemake -n` in an empty temporary working directory (wall time of the whole command,
Snakemake's start-up included). Two states are measured:
  fresh           nothing downloaded yet: the DAG includes the download jobs
  inputs present  the download stage's files exist (empty placeholders, touched): the DAG from genes onwards,
                  what a user rerunning after the downloads sees
and, as the yardstick, Snakemake's start-up alone (a one-rule Snakefile). Prints the median and range of the times, the number of jobs per rule and in total, as a Markdown table for
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def download_stage_files(config: dict) -> list[str]:
    """The download stage's file contracts (workflow/rules/common.smk) for this config."""
    files = ["resources/reference/genome.fa.gz", "resources/reference/genome.fa.gz.fai",
             "resources/reference/genome.fa.gz.gzi", "resources/annotation/genes.gtf.gz",
             "resources/expression/expression.txt.gz", "resources/samples/populations.tsv",
             "resources/expression/gtex_median_tpm.gct.gz"]
    for chrom in config["chromosomes"]:
        files += [f"resources/vcf/{chrom}.vcf.gz", f"resources/vcf/{chrom}.vcf.gz.tbi"]
    return files


def dry_run(configfile: Path, with_inputs: bool) -> tuple[float, dict[str, int], str]:
    config = yaml.safe_load(configfile.read_text())
    with tempfile.TemporaryDirectory(prefix="hapexpr-dag-") as tmp:
        if with_inputs:
            for name in download_stage_files(config):
                path = Path(tmp) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
        cmd = [SNAKEMAKE, "-s", str(ROOT / "workflow" / "Snakefile"), "-d", tmp, "-n", "--configfile", str(configfile),
               "--replace-workflow-config", "--cores", "1"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        error = next((line for line in out.splitlines() if "Exception" in line or "Error" in line), out[-300:])
        return seconds, {}, error.strip()
    m = re.search(r"^job\s+count\n-+\s+-+\n((?:.+\n)+?)total\s+(\d+)", out, re.M)
    counts = {line.split()[0]: int(line.split()[1]) for line in m.group(1).splitlines()} if m else {}
    return seconds, counts, ""


def baseline() -> float:
    """Snakemake's own start-up: the dry run of a one-rule Snakefile, the floor under every number above."""
    with tempfile.TemporaryDirectory(prefix="hapexpr-dag-") as tmp:
        (Path(tmp) / "Snakefile").write_text('rule a:\n    output: "a"\n    shell: "touch {output}"\n')
        start = time.perf_counter()
        subprocess.run([SNAKEMAKE, "-s", f"{tmp}/Snakefile", "-d", tmp, "-n", "--cores", "1"], capture_output=True,
                       check=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", type=Path, default=ROOT / "config" / "config.yaml")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    config = yaml.safe_load(args.configfile.read_text())
    print(f"config: {args.configfile.relative_to(ROOT) if args.configfile.is_relative_to(ROOT) else args.configfile}"
          f" ({len(config['chromosomes'])} chromosomes), {args.repeats} repeats each\n")
    print("| state | median s | min-max s | jobs | jobs per rule |")
    print("|---|---|---|---|---|")
    floor = statistics.median(baseline() for _ in range(args.repeats))
    print(f"| one-rule Snakefile (start-up floor) | {floor:.2f} | | 1 | |")
    for label, with_inputs in (("fresh", False), ("inputs present", True)):
        runs = [dry_run(args.configfile, with_inputs) for _ in range(args.repeats)]
        times = [seconds for seconds, _, _ in runs]
        counts, error = runs[-1][1], runs[-1][2]
        jobs = str(sum(counts.values())) if counts else "-"
        per_rule = ", ".join(f"{rule} {n}" for rule, n in sorted(counts.items())) if counts else f"failed: {error}"
        median = statistics.median(times)
        print(f"| {label} | {median:.2f} ({median / floor:.1f}x floor) | {min(times):.2f}-{max(times):.2f} | {jobs} "
              f"| {per_rule} |")


if __name__ == "__main__":
    main()
