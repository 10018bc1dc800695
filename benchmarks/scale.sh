#!/usr/bin/env bash
# Scale of the real run, simulated (issue 13, item 5; benchmarks/README.md): one 50-Mb chromosome, 3,202 individuals
# with population growth, 300 genes, through the workflow's per-chromosome rules with config/config.yaml's settings.
#   bash benchmarks/scale.sh [OUT]      (OUT: /tmp/scale by default; needs ../shared/bench-haplotypes and msprime)
# Every job runs on one core at nice 19; each rule's wall s, CPU s and peak RSS come from Snakemake's benchmark files.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-/tmp/scale}
PY=${PYTHON:-$ROOT/.venv/bin/python}
HARNESS=${HARNESS:-$ROOT/../shared/bench-haplotypes}
mkdir -p "$OUT"
[ -f "$OUT/data/manifest.json" ] || nice -n 19 "$PY" "$HARNESS/make_data.py" --out "$OUT/data" --length-mb 50 \
    --n-ind 3202 --n-genes 300 --model expansion
"$PY" "$ROOT/benchmarks/scale.py" prepare --data "$OUT/data" --out "$OUT/run" --enet-genes 30

run() {  # run DIR TARGET...: the workflow in DIR with its config.yaml; load before and after into DIR/load.log
    local dir=$1
    shift
    echo "start $(date -u +%T) $(cat /proc/loadavg)" >>"$dir/load.log"
    HAPEXPR_DEMO_LOCAL=1 nice -n 19 "$ROOT/.venv/bin/snakemake" -s "$ROOT/workflow/Snakefile" -d "$dir" \
        --configfile "$dir/config.yaml" --cores 1 "$@" >"$dir/snakemake.log" 2>&1
    echo "end $(date -u +%T) $(cat /proc/loadavg)" >>"$dir/load.log"
}
# gta on (window 49,152, as config/config.yaml): the store at 49,152 bp, read at 4,000 bp by the classical models
run "$OUT/run/w49k" results/predictions/{gc_cpg,kmer_ridge,dexter}/chr22.parquet &
# the elastic net (cis_window 500,000) on 30 of the 300 genes, evenly spaced
run "$OUT/run/enet" results/predictions/elastic_net/chr22.parquet &
wait
# gta off: the store at 4,000 bp
run "$OUT/run/w4k" results/haplotypes/chr22.sequences.parquet
"$PY" "$ROOT/benchmarks/scale.py" summarize "$OUT/run/w4k" "$OUT/run/w49k" "$OUT/run/enet"
