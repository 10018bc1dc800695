"""GTA speed and memory: training and inference tokens/s and peak memory at 4 kb and 49 kb windows, and the time
per epoch at demo size. CPU always; the GPU too when one is visible (bf16 there).

    .venv/bin/python benchmarks/gta.py --llm-dir resources/models/gta_llm --threads 2 --out benchmarks/results/gta.tsv
    python benchmarks/gta.py --llm-dir DIR --random-weights --devices cuda --batch 8 --out gta_gpu.tsv  # a GPU

--random-weights builds the LLM from the directory's config.json with seeded random weights (as the `random_lm`
ablation does): speed and memory depend on the shape alone, so a directory holding only config.json and the
tokenizer measures a model whose weights are not on the machine (benchmarks/gpu.sh: SmolLM2-1.7B's shape).

Tokens = prompt tokens + one aligned token per segment, per example. Peak memory on CPU is the process's peak
resident set (VmHWM) during the phase, reset after loading the model; on GPU torch.cuda.max_memory_allocated.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
from hapexpr import gta  # noqa: E402

GENE = {"gene_id": "ENSG00000141510", "gene_name": "TP53", "biotype": "protein_coding", "chrom": "chr17",
        "tss": 7687489, "strand": "-"}


def reset_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux)
    except OSError:
        pass


def peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(llm_dir: str, device: torch.device, window: int, settings: gta.GTASettings, steps: int,
            repeats: int, random_weights: bool = False) -> list[dict]:
    llm, tok = gta.load_llm(llm_dir, layers=settings.llm_layers, device=device, random_init=random_weights)
    prompt = gta.tokenize_prompts({"g": gta.gene_prompt(GENE)}, tok, settings.max_prompt_tokens)["g"]
    rng = np.random.default_rng(0)
    b = settings.batch_size
    windows = ["".join(rng.choice(list("ACGT"), window)) for _ in range(b)]
    tokens = b * (len(prompt) + gta.n_segments(window, settings.segment_length))
    model = gta.build_model(settings, llm, tok, window)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    y = torch.zeros(b, device=model.device)
    rows = []
    for phase in ("train", "inference"):
        times = []
        for r in range(repeats + 1):  # the first round warms up
            reset_peak()
            sync(device)
            t = time.perf_counter()
            for _ in range(steps):
                if phase == "train":
                    model.train()
                    loss = torch.nn.functional.mse_loss(model(windows, [prompt] * b), y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                else:
                    model.eval()
                    with torch.no_grad():
                        model(windows, [prompt] * b)
            sync(device)
            if r:
                times.append((time.perf_counter() - t) / steps)
        sec = statistics.median(times)
        rows.append({"device": device.type, "precision": str(gta.llm_dtype(device, settings.precision)),
                     "llm_params_M": round(sum(p.numel() for p in llm.parameters()) / 1e6, 1), "phase": phase,
                     "window_bp": window,
                     "segment_bp": settings.segment_length, "llm_layers": llm.config.num_hidden_layers,
                     "batch": b, "tokens_per_example": tokens // b, "sec_per_step": round(sec, 4),
                     "tokens_per_s": round(tokens / sec, 1), "bp_per_s": round(b * window / sec),
                     "peak_mb": round(peak_mb(device))})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--llm-dir", help="Hugging Face directory of the LLM (default: de-quantize SmolLM2 into a tmp dir)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=2, help="steps per timed round")
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds (the median is reported)")
    ap.add_argument("--demo-train-examples", type=int, default=160,
                    help="examples per cross-gene epoch at demo size (training genes of the demo)")
    ap.add_argument("--devices", choices=("auto", "cpu", "cuda"), default="auto",
                    help="auto: the CPU, and the GPU too when one is visible")
    ap.add_argument("--random-weights", action="store_true",
                    help="seeded random LLM weights from the directory's config.json (speed depends on the shape)")
    ap.add_argument("--batch", type=int, default=4, help="batch of the real settings (config.yaml: 8)")
    ap.add_argument("--out", help="TSV of the results")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    llm_dir = args.llm_dir
    if llm_dir is None:
        llm_dir = str(Path(tempfile.mkdtemp()) / "llm")
        gta.materialize_llm(gta.SMOLLM2, llm_dir)
    # The settings of config/config.yaml (batch --batch: 4 keeps CPU runs short) and of config/demo.yaml.
    root = Path(__file__).resolve().parents[1] / "config"
    real_cfg, demo_cfg = (yaml.safe_load((root / f).read_text()) for f in ("config.yaml", "demo.yaml"))
    real = gta.GTASettings.from_config(dict(real_cfg["models"]["gta"], batch_size=args.batch), real_cfg["seed"])
    demo = gta.GTASettings.from_config(demo_cfg["models"]["gta"], demo_cfg["seed"])
    devices = [torch.device(args.devices)] if args.devices != "auto" else (
        [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else []))
    rows = []
    for device in devices:
        for window in (4000, 49000):
            rows += [dict(r, setting="real") for r in measure(llm_dir, device, window, real, args.steps,
                                                              args.repeats, args.random_weights)]
        demo_rows = measure(llm_dir, device, 4000, demo, args.steps, args.repeats, args.random_weights)
        for r in demo_rows:
            r["setting"] = "demo"
            if r["phase"] == "train":
                r["sec_per_epoch"] = round(r["sec_per_step"] * args.demo_train_examples / demo.batch_size, 1)
        rows += demo_rows
    df = pd.DataFrame(rows)
    print(df.to_string(index=False))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(args.out, sep="\t", index=False)


if __name__ == "__main__":
    main()
