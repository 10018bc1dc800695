"""Time the demo simulation (config/demo.yaml) in one process on one core: median of N runs.

    .venv/bin/python benchmarks/simulate.py [runs]
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from hapexpr.simulate import SimulationConfig, simulate_demo  # noqa: E402


def main(runs: int) -> None:
    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    cfg = SimulationConfig.from_config(config["simulate"], config["chromosomes"], config["window"]["length"],
                                       config["seed"])
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            start = time.perf_counter()
            simulate_demo(
                cfg,
                {
                    "reference": out / "reference/genome.fa.gz",
                    "annotation": out / "annotation/genes.gtf.gz",
                    "vcf": str(out / "vcf/{chrom}.vcf.gz"),
                    "expression": out / "expression/expression.txt.gz",
                    "populations": out / "samples/populations.tsv",
                    "truth_dir": out / "truth",
                },
            )
            times.append(time.perf_counter() - start)
    print(f"simulate (demo config): median {statistics.median(times):.2f} s over {runs} runs "
          f"(min {min(times):.2f}, max {max(times):.2f})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
