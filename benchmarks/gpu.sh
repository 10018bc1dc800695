#!/usr/bin/env bash
# The GPU checks of DNABERT-2 and GTA in one run (GPU machines are lent by the minute): the CUDA tests
# (tests/unit/test_cuda.py), then throughput and peak memory in bf16 (benchmarks/dnabert2.py, benchmarks/gta.py),
# then the model modules' whole unit tests with the GPU visible. Results: benchmarks/README.md, "On a GPU".
#
#   bash benchmarks/gpu.sh OUTDIR LLM_DIR
#
# LLM_DIR: a Hugging Face directory of SmolLM2-135M (resources/models/gta_llm of a demo run); only its config.json
# and tokenizer are read: the LLMs are built with seeded random weights (speed and memory depend on the shape), at
# SmolLM2-135M's shape and at SmolLM2-1.7B's (same tokenizer), so nothing is downloaded. PYTHON: the interpreter
# (default python3); it needs torch with CUDA, transformers, pysam, pytest and pytest-xdist.
set -uo pipefail
out=${1:?usage: bash benchmarks/gpu.sh OUTDIR LLM_DIR}
llm=${2:?usage: bash benchmarks/gpu.sh OUTDIR LLM_DIR}
py=${PYTHON:-python3}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$here/workflow/scripts${PYTHONPATH:+:$PYTHONPATH}"
step() { echo "== $(date -u +%T) $*"; }

step environment
{ nvidia-smi; nproc; cat /proc/loadavg
  "$py" -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda,
    "transformers", transformers.__version__, torch.cuda.get_device_name(), "bf16", torch.cuda.is_bf16_supported())'
} 2>&1 | tee "$out/environment.txt"

step "LLM directories: SmolLM2-135M with random weights (for the tests), SmolLM2-1.7B's shape (config only)"
"$py" - "$llm" "$work" <<'EOF' || exit 1
import json, shutil, sys
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM

src, work = Path(sys.argv[1]), Path(sys.argv[2])
files = [f for f in src.iterdir() if f.name.startswith(("tokenizer", "special_tokens", "chat_template"))]
for name, shape in (("smollm2-135m", {}),
                    ("smollm2-1.7b", dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=24,
                                          num_attention_heads=32, num_key_value_heads=32))):
    d = work / name
    d.mkdir()
    for f in files:
        shutil.copy(f, d / f.name)
    config = json.loads((src / "config.json").read_text()) | shape
    (d / "config.json").write_text(json.dumps(config, indent=2))
torch.manual_seed(0)
AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(work / "smollm2-135m")).save_pretrained(
    work / "smollm2-135m")
print(sorted(p.name for p in (work / "smollm2-135m").iterdir()))
EOF

step "CUDA tests"
HAPEXPR_GTA_LLM_DIR="$work/smollm2-135m" timeout 240 "$py" -m pytest -o addopts="" -p no:cacheprovider -ra -v \
    --durations=10 tests/unit/test_cuda.py 2>&1 | tee "$out/test_cuda.log"

step "DNABERT-2-117M: 4-kb windows (1,000 tokens), inference and training, bf16 and fp32"
for args in "--batch 8" "--batch 32" "--batch 8 --precision fp32"; do
    # shellcheck disable=SC2086
    timeout 120 "$py" benchmarks/dnabert2.py speed --config 117m --tokens 1000 --reps 5 --device cuda $args
done 2>&1 | tee "$out/dnabert2.jsonl"

step "GTA: real settings at 4 kb and 49 kb (batch 8) and demo settings; SmolLM2-135M and 1.7B shapes"
for name in smollm2-135m smollm2-1.7b; do
    timeout 180 "$py" benchmarks/gta.py --llm-dir "$work/$name" --random-weights --devices cuda --batch 8 \
        --steps 3 --repeats 3 --out "$out/gta_$name.tsv" 2>&1 | tee "$out/gta_$name.log"
done

step "the model modules' unit tests with the GPU visible (device 'auto' picks it)"
HAPEXPR_GTA_LLM_DIR="$work/smollm2-135m" timeout 300 "$py" -m pytest -o addopts="" -p no:cacheprovider -ra -q \
    -n 6 --dist loadscope tests/unit/test_training.py tests/unit/test_cnn.py tests/unit/test_dnabert2.py \
    tests/unit/test_gta.py 2>&1 | tee "$out/unit_tests.log"
step done
rm -rf "$work"
