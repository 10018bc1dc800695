#!/usr/bin/env bash
# Wall time of the README's two commands, as a developer meets them (issue 15): `make demo` and `make test`, each in a
# fresh clone of this repository whose environment is ready (the clone's .venv links to this one's), N runs each.
# /usr/bin/time -v gives wall time and peak memory; the load average before and after each run is recorded beside
# it, because a shared machine's load inflates every number. Medians: benchmarks/README.md, "Fast feedback".
#
#   bash benchmarks/feedback.sh [RUNS=3] [demo|test|both=both]
#   KEEP=1 bash benchmarks/feedback.sh ...   keeps each clone (its demo results) and prints where
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-3}"
which="${2:-both}"
out="$root/benchmarks/results/feedback"
mkdir -p "$out"
[ -x "$root/.venv/bin/python" ] || { echo "run 'make setup' in $root first (a ready environment is measured)"; exit 2; }

one() {  # one() KIND RUN: a fresh clone, the command under /usr/bin/time, one line of the table
  local kind="$1" run="$2" dir
  dir="$(mktemp -d)"
  git clone -q "$root" "$dir/hapexpr"
  ln -s "$root/.venv" "$dir/hapexpr/.venv"
  # as CI runs it: ../shared beside the clone (without it the real-data and harness tests skip)
  if [ -d "$root/../shared" ]; then ln -s "$(cd "$root/../shared" && pwd)" "$dir/shared"; fi
  touch "$root/.venv/.installed"  # the environment is ready: make must not rebuild it
  local before after status=0
  before="$(cut -d' ' -f1-3 /proc/loadavg)"
  (cd "$dir/hapexpr" && /usr/bin/time -v -o "$out/$kind.$run.time" make "$kind" >"$out/$kind.$run.log" 2>&1) || status=$?
  after="$(cut -d' ' -f1-3 /proc/loadavg)"
  local wall rss
  wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$out/$kind.$run.time")"
  rss="$(awk -F': ' '/Maximum resident set size/ {printf "%.2f", $2 / 1048576}' "$out/$kind.$run.time")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$run" "$status" "$wall" "$rss" "$before" "$after" | tee -a "$out/times.tsv"
  if [ -n "${KEEP:-}" ]; then echo "kept: $dir/hapexpr"; else rm -rf "$dir"; fi
}

[ -f "$out/times.tsv" ] || printf 'command\trun\texit\twall\tpeak_rss_gb\tload_before\tload_after\n' >"$out/times.tsv"
for run in $(seq 1 "$runs"); do
  case "$which" in
    demo) one demo "$run" ;;
    test) one test "$run" ;;
    *) one demo "$run"; one test "$run" ;;
  esac
done
