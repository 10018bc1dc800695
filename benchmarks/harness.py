"""Issue 13, item 4: the haplotype command against its peers in the shared harness (../shared/bench-haplotypes).

    python benchmarks/harness.py run --python VENV/bin/python --data-root DATA --out OUT [--runs 3]
    python benchmarks/harness.py tables OUT          # the two tables of benchmarks/README.md, from OUT/*/results.json

`run` makes the harness's data sets (`make_data.py`: DATA/d500, DATA/d3000 with --n-ind 3000) where absent, then
runs bench.py on every configuration of CONFIGS, `--runs` times, one configuration after another: the first run
with every peer (bcftools modes on nested subsets), the later ones with gvl and naive (the reference then naive).
Our plug-in is `python -m hapexpr.haplotypes build ... --digests` with this checkout's workflow/scripts on
PYTHONPATH. `--python` needs hapexpr's requirements and the harness's (msprime, pyfaidx, genvarloader).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT.parent / "shared" / "bench-haplotypes"
OURS = ("PYTHONPATH={scripts} {{python}} -m hapexpr.haplotypes build --fasta {{ref}} --vcf {{vcf}} "
        "--regions {{regions_bed}} --samples {{samples_txt}} --threads {{threads}} --out {{out}}/store "
        "--digests {{out}}/digests.tsv --timing {{out}}/timing.json")
PEERS = ("gvl", "naive")
# name: (data set, window, genes for every method or None, first run's bcftools methods and their subsets)
CONFIGS = {
    "w4k": ("d500", 4000, None, {"bcftools-batched": "20:50", "bcftools-batched-bcf": "100:100",
                                 "bcftools-huang": "10:10"}),
    "w49k": ("d500", 49152, None, {"bcftools-batched": "10:20", "bcftools-batched-bcf": "20:50",
                                   "bcftools-huang": "5:5"}),
    "w196k": ("d500", 196608, 50, {"bcftools-batched": "5:10"}),
    "n3000_w4k": ("d3000", 4000, None, {"bcftools-batched": "10:10"}),
    "n3000_w49k": ("d3000", 49152, 50, {"bcftools-batched": "5:10"}),
}
LABELS = {"w4k": "4 kb, 500", "w49k": "49 kb, 500", "w196k": "196 kb, 500, 50 genes", "n3000_w4k": "4 kb, 3,000",
          "n3000_w49k": "49 kb, 3,000, 50 genes"}


def run(args: argparse.Namespace) -> None:
    data = Path(args.data_root)
    for name, extra in (("d500", []), ("d3000", ["--n-ind", "3000"])):
        if not (data / name / "manifest.json").exists():
            subprocess.run([args.python, "make_data.py", "--out", str(data / name), *extra], cwd=HARNESS, check=True)
    ours = OURS.format(scripts=ROOT / "workflow" / "scripts")
    for k in range(1, args.runs + 1):
        for config in args.configs.split(","):
            dataset, window, genes, bcftools = CONFIGS[config]
            methods = [*bcftools, *PEERS] if k == 1 else list(PEERS)
            command = [args.python, "bench.py", "--data", str(data / dataset), "--window", str(window),
                       "--out", str(Path(args.out).resolve() / f"{config}_{k}"), "--methods", ",".join(methods),
                       "--ours", ours, "--ours-name", "hapexpr", "--ours-strand", "plus",
                       "--wait-quiet", str(args.wait_quiet)]
            command += ["--genes", str(genes)] if genes else []
            if k == 1:
                for method, subset in bcftools.items():
                    command += ["--subset", f"{method}={subset}"]
            print(f"[harness] {config} run {k}: load {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
            subprocess.run(command, cwd=HARNESS, check=True)


def _runs(out: Path, config: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob(f"{config}_*/results.json"))]


def _identical(result: dict, method: str) -> str:
    m = result["methods"][method]
    if method == result.get("reference"):
        return "reference"
    parts = []
    for key, label in (("vs_reference", ""), ("vs_naive", "naive ")):
        v = m.get(key)
        if v and (key == "vs_reference" or result.get("reference") != "naive"):
            parts.append(f"{label}{v['identical']:,}/{v['compared']:,}")
    return "; ".join(parts) or "-"


def _size(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.2f} MB"


def tables(args: argparse.Namespace) -> None:
    out = Path(args.out)
    rows = ["| W, individuals | method | hap-windows | runs | wall s (median; each run) | CPU s | core s | "
            "peak RSS MB | other load (cores) | identical to the reference (bcftools in run 1, else naive) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    summary = ["| W, individuals | hapexpr wall s | best peer: wall s | hapexpr vs best peer | 5x? | vs gvl | "
               "hapexpr build_s | store on disk | distinct haplotypes as text | every haplotype as FASTA text |",
               "|---|---|---|---|---|---|---|---|---|---|"]
    unequal = []
    for config in CONFIGS:
        results = _runs(out, config)
        if not results:
            continue
        methods = list(dict.fromkeys(m for r in results for m in r["methods"]))
        full = max(r["methods"][m]["hap_windows"] for r in results for m in r["methods"])
        walls = {}
        for method in methods:
            runs = [r for r in results if method in r["methods"]]
            tv = [r["methods"][method]["time_v"] for r in runs]
            wall = [t["wall_s"] for t in tv]
            walls[method] = statistics.median(wall)
            cpu = statistics.median([(t["user_s"] or 0) + (t["sys_s"] or 0) for t in tv])
            core = statistics.median([r["methods"][method]["core_s"] or 0 for r in runs])
            load = [t.get("other_cores") or 0 for t in tv]
            m = runs[0]["methods"][method]
            name = f"**{method}**" if method == "hapexpr" else method
            hw = f"{m['hap_windows']:,}" + (" (subset)" if m["hap_windows"] < full else "")
            rows.append(f"| {LABELS[config]} | {name} | {hw} | {len(runs)} | {walls[method]:.2f} "
                        f"({', '.join(f'{w:.2f}' for w in wall)}) | {cpu:.1f} | {core:.2f} | "
                        f"{max(t['max_rss_mb'] for t in tv):,.0f} | {min(load):.2f}-{max(load):.2f} | "
                        f"{_identical(runs[0], method)} |")
        if "hapexpr" not in walls:
            continue
        for k, r in enumerate(results, 1):
            m = r["methods"]["hapexpr"]
            for key in ("vs_reference", "vs_naive"):  # naive is the reference of the runs without bcftools
                v = m.get(key)
                if v is not None and (v["mismatched"] or not v["compared"]
                                      or (r["reference"] == "naive" or key == "vs_naive")
                                      and v["compared"] != m["hap_windows"]):
                    unequal.append(f"{config} run {k} {key}: {v}")
        best = min((p for p in PEERS if p in walls), key=walls.get)
        ratio = walls[best] / walls["hapexpr"]
        first = results[0]
        store = out / f"{config}_1" / "hapexpr" / "output" / "store"
        size = sum(f.stat().st_size for f in store.glob("*.parquet"))
        unique = first.get("unique_haplotypes", {}).get("unique_total")
        vs_gvl = f"{walls['gvl'] / walls['hapexpr']:.1f}x" if "gvl" in walls else "-"
        build = statistics.median([r["methods"]["hapexpr"]["timing"]["build_s"] for r in results])
        summary.append(
            f"| {LABELS[config]} | {walls['hapexpr']:.2f} | {best}: {walls[best]:.2f} | **{ratio:.1f}x** | "
            f"{'yes' if ratio >= 5 else '**no**'} | {vs_gvl} | {build:.2f} | "
            f"{_size(size)} | {_size(unique * first['window'])} ({unique:,}) | "
            f"{_size(first['methods']['hapexpr']['bp'])} |")
    print("\n".join(rows) + "\n\n" + "\n".join(summary))
    print("\nhapexpr identical to the reference on every compared key of every run: "
          + ("yes" if not unequal else "NO\n" + "\n".join(unequal)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--python", required=True, help="python with hapexpr's and the harness's requirements")
    r.add_argument("--data-root", required=True, help="where the harness's data sets are (made when absent)")
    r.add_argument("--out", required=True)
    r.add_argument("--runs", type=int, default=3)
    r.add_argument("--configs", default=",".join(CONFIGS))
    r.add_argument("--wait-quiet", type=int, default=20, help="bench.py --wait-quiet: seconds to wait for an idle "
                                                               "machine before each method")
    t = sub.add_parser("tables")
    t.add_argument("out")
    args = parser.parse_args()
    run(args) if args.command == "run" else tables(args)


if __name__ == "__main__":
    main()
