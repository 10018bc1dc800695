"""A toy training loop with the checkpoint contract of the workflow's GPU training rules.

Every step it writes `<checkpoint-dir>/state.json` atomically and logs `checkpoint saved at step N`; on start it
resumes from that file when present and logs `resumed from checkpoint at step N`. The checkpoint directory is NOT
an output of the rule, so Snakemake does not delete it when the job fails or is killed; it is removed once the
output is written, so a forced rerun starts again from step 0. The output records the
step training started from and the visible GPUs, for the tests.
"""

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--seconds-per-step", type=float, required=True)
    parser.add_argument("--checkpoint-dir", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()

    state_path = args.checkpoint_dir / "state.json"
    args.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    with open(args.log, "a", buffering=1) as log:
        start = 0
        if state_path.exists():
            start = json.loads(state_path.read_text())["step"]
            log.write(f"resumed from checkpoint at step {start}\n")
        else:
            log.write("no checkpoint, starting at step 0\n")
        for step in range(start + 1, args.steps + 1):
            time.sleep(args.seconds_per_step)
            tmp = state_path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"step": step}))
            os.replace(tmp, state_path)
            log.write(f"checkpoint saved at step {step}\n")
        result = {
            "start_step": start,
            "final_step": args.steps,
            "partition": os.environ.get("SLURM_JOB_PARTITION"),
            "gpus": os.environ.get("CUDA_VISIBLE_DEVICES"),
        }
        tmp = args.output.with_suffix(".tmp")
        tmp.write_text(json.dumps(result))
        os.replace(tmp, args.output)
        # Training is complete: a forced rerun or new parameters must start from step 0, not from this state.
        state_path.unlink()
        log.write("training complete, checkpoint removed\n")


if __name__ == "__main__":
    main()
