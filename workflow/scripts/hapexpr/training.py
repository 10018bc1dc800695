"""The one trainer of the neural models (DNABERT-2 fine-tuning, GTA, the one-hot CNN).

A model supplies a `TrainingTask` (standardised predictions for example indices, its state, and an optional hook
before each evaluation); the trainer owns everything else, the same for every model:

* AdamW (weight decay on matrices only), a `linear` or `cosine` schedule after `warmup_steps` of linear warmup,
  gradient accumulation and clipping;
* the objective (`mse`; `centred`: targets centred per gene; `pairwise`: squared error of the differences between
  examples of the same gene), with targets standardised by the training set;
* early stopping: evaluated every `eval_every` steps, stopped after `patience` evaluations without improvement, the
  weights of the best validation loss kept (with no validation set, the last);
* checkpoints every `checkpoint_every` steps and at the end, resumed exactly (the same later losses as an
  uninterrupted run on CPU); a checkpoint of other settings or data is replaced with a warning, an unreadable one is
  moved aside (`<dir>.corrupt`) with a warning and training restarts;
* the device and precision, logged first; a GPU job that finds no CUDA device stops (`require_device`);
* one training log: `training_log.tsv` with columns `LOG_COLUMNS`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from hapexpr.io import apply_umask

log = logging.getLogger(__name__)

SCHEDULES = ("linear", "cosine")
OBJECTIVES = ("mse", "centred", "pairwise")
PRECISIONS = ("auto", "bf16", "fp32")
#: The training log of every model: file name and columns.
LOG_NAME = "training_log.tsv"
LOG_COLUMNS = ["step", "epoch", "train_loss", "valid_loss", "lr"]


class TrainingError(ValueError):
    """Bad training settings or environment: the message names the key or switch to change."""


@dataclass
class TrainerSettings:
    """The trainer's options, shared by every neural model's settings (config keys of the same names)."""

    lr: float = 1e-4
    weight_decay: float = 0.01
    schedule: str = "linear"  # linear | cosine decay after the warmup
    warmup_steps: int = 50
    steps: int = 1000
    batch_size: int = 8
    accumulation: int = 1
    eval_every: int = 50
    patience: int = 5
    checkpoint_every: int = 100
    grad_clip: float = 1.0
    objective: str = "mse"  # mse | centred | pairwise (cross-individual protocols; cross_gene always uses mse)
    valid_max: int | None = None  # validation examples scored at each evaluation (a seeded subset); None: all
    device: str = "auto"
    precision: str = "auto"  # auto (bf16 on a GPU that has it) | bf16 (also on CPU) | fp32
    seed: int = 0

    #: fields that do not change what is trained (left out of the checkpoint fingerprint)
    NOT_FINGERPRINTED = frozenset({"device", "checkpoint_every"})

    def __post_init__(self) -> None:
        for key, value, allowed in (("schedule", self.schedule, SCHEDULES), ("objective", self.objective, OBJECTIVES),
                                    ("precision", self.precision, PRECISIONS)):
            if value not in allowed:
                raise TrainingError(f"{key}: {value!r} is not one of {', '.join(allowed)}")

    def for_protocol(self, protocol: str):
        """These settings for one protocol: cross_gene has one example per gene, so its objective is always mse."""
        return dataclasses.replace(self, objective="mse") if protocol == "cross_gene" else self


def settings_from(cls, section: dict, **fixed):
    """A settings dataclass from a config section; keys that are not fields (e.g. `enabled`) are ignored."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in section.items() if k in names and v is not None}, **fixed)


# ---------------------------------------------------------------------------------------------------------------
# Device and precision


def pick_device(requested: str = "auto") -> torch.device:
    """'auto' -> the first CUDA GPU if there is one, else the CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype: 'auto' is bf16 on a GPU that supports it, else fp32 (None); 'bf16' also on the CPU
    (torch runs bf16 autocast there, which is how the tests exercise the GPU's dtype path)."""
    if precision not in PRECISIONS:
        raise TrainingError(f"precision {precision!r}: expected {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return None
    gpu_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if precision == "bf16":
        if device.type == "cuda" and not gpu_bf16:
            raise TrainingError("precision: bf16 was asked for but this GPU has no bf16 support; use auto or fp32")
        return torch.bfloat16
    return torch.bfloat16 if gpu_bf16 else None


def autocast(device: torch.device, dtype: torch.dtype | None):
    """Autocast to `dtype` on `device`, or nothing for full precision."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def describe(device: torch.device, amp: torch.dtype | None) -> str:
    """'cuda:0 (NVIDIA H200), bf16 autocast' or 'cpu (2 threads), fp32'."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        where = f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    else:
        where = f"{device.type} ({torch.get_num_threads()} threads)"
    return f"{where}, {'bf16 autocast' if amp == torch.bfloat16 else 'fp32'}"


def require_device(rule: str, gpus: int, allow_cpu: bool, device: str = "auto",
                   precision: str = "auto") -> torch.device:
    """Log the job's device and precision (the first line of its log); stop a GPU job that finds no CUDA device.

    `gpus` is the rule's `resources: gpu`; `allow_cpu` the config switch `training.allow_cpu`.
    """
    dev = pick_device(device)
    log.info("%s: device %s", rule, describe(dev, autocast_dtype(dev, precision)))
    if gpus and dev.type != "cuda" and not allow_cpu:
        raise TrainingError(
            f"rule {rule} declares resources: gpu={gpus} but this job finds no CUDA device (torch.cuda.is_available() "
            f"is {torch.cuda.is_available()}, CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}). "
            "Run it where a GPU is visible (profiles/slurm sends gpu rules to the GPU partition), or set "
            "training.allow_cpu: true in the config to run it on the CPU (slow).")
    return dev


# ---------------------------------------------------------------------------------------------------------------
# Schedule, data order, objective


def lr_lambda(schedule: str, warmup: int, total: int) -> Callable[[int], float]:
    """Linear warmup to the peak learning rate over `warmup` steps, then linear or cosine decay to 0 at `total`."""
    if schedule not in SCHEDULES:
        raise TrainingError(f"schedule: {schedule!r} is not one of {', '.join(SCHEDULES)}")

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 1.0 - progress if schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))

    return f


class DataOrder:
    """Micro-batch m -> example indices: a fresh seeded permutation per epoch, a pure function of (seed, m).

    Resuming at a step therefore continues the exact data order without storing it. With `groups` (the pairwise
    objective), each epoch visits the groups in a random order and a group's examples one after another, so that a
    batch holds several examples of the same gene.
    """

    def __init__(self, n: int, batch_size: int, seed: int, groups: np.ndarray | None = None):
        if n == 0:
            raise TrainingError("no training examples: check the splits and that genes have expression values")
        self.n, self.bs, self.seed = n, batch_size, seed
        self.codes = None if groups is None else pd.factorize(np.asarray(groups))[0]
        self._cache: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._cache:
            rng = np.random.default_rng([self.seed, epoch])
            perm = rng.permutation(self.n)
            if self.codes is not None:
                rank = rng.permutation(self.codes.max() + 1)
                perm = perm[np.argsort(rank[self.codes[perm]], kind="stable")]
            self._cache = {epoch: perm}
        return self._cache[epoch]

    def batch(self, m: int) -> np.ndarray:
        positions = range(m * self.bs, (m + 1) * self.bs)
        return np.array([self._perm(p // self.n)[p % self.n] for p in positions])

    def epoch(self, m: int) -> int:
        return (m * self.bs) // self.n


def centre_by_group(y: np.ndarray, w: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """y minus the weighted mean of its group (the within-gene target of the centred objective)."""
    df = pd.DataFrame({"g": np.asarray(groups), "wy": w * y, "w": w})
    sums = df.groupby("g", sort=False)[["wy", "w"]].transform("sum")
    return y - (sums["wy"] / sums["w"]).to_numpy()


def objective_loss(pred: torch.Tensor, y: torch.Tensor, w: torch.Tensor, groups: torch.Tensor | None,
                   objective: str) -> torch.Tensor:
    """Weighted loss of standardised predictions.

    mse / centred: sum w (pred - y)^2 / sum w (centred targets are prepared once, `centre_by_group`).
    pairwise: over pairs i < j of the same group, sum w_i w_j ((pred_i - pred_j) - (y_i - y_j))^2 / sum w_i w_j,
    computed per group from weighted moments of the residual (no n^2 pair matrix). A batch without a pair gives 0.
    """
    r = pred - y
    if objective != "pairwise":
        return (w * r * r).sum() / w.sum()
    _, codes = torch.unique(groups, return_inverse=True)
    k = int(codes.max()) + 1

    def per_group(v):
        return torch.zeros(k, dtype=v.dtype, device=v.device).index_add(0, codes, v)

    W, S1, S2, W2 = per_group(w), per_group(w * r), per_group(w * r * r), per_group(w * w)
    den = ((W * W - W2) / 2).sum()
    if float(den) <= 0:
        return (pred * 0).sum()
    return (W * S2 - S1 * S1).sum() / den


@dataclass
class Targets:
    """Targets, loss weights (copies of a unique haplotype) and groups (gene ids) of a set of examples."""

    y: np.ndarray
    w: np.ndarray
    groups: np.ndarray

    def __post_init__(self) -> None:
        self.y = np.asarray(self.y, dtype=np.float64)
        self.w = np.asarray(self.w, dtype=np.float64)
        self.groups = np.asarray(self.groups)
        if not len(self.y) == len(self.w) == len(self.groups):
            raise TrainingError("targets, weights and groups differ in length")

    def __len__(self) -> int:
        return len(self.y)


def prepared_targets(train: Targets, valid: Targets | None, objective: str
                     ) -> tuple[np.ndarray, np.ndarray | None, float, float]:
    """Standardised training (and validation) targets for the objective, and the (mean, std) that undo it.

    centred: targets centred per gene (within each set); its std and that of pairwise are the within-gene SD, so that
    the loss sees differences between people at unit scale.
    """
    y = centre_by_group(train.y, train.w, train.groups) if objective == "centred" else train.y
    mean = float(np.average(y, weights=train.w))
    spread = centre_by_group(train.y, train.w, train.groups) if objective != "mse" else y - mean
    std = float(np.sqrt(np.average(spread ** 2, weights=train.w))) or 1.0
    yv = None
    if valid is not None and len(valid):
        v = centre_by_group(valid.y, valid.w, valid.groups) if objective == "centred" else valid.y
        yv = (v - mean) / std
    return (y - mean) / std, yv, mean, std


# ---------------------------------------------------------------------------------------------------------------
# Checkpoints


class Checkpoint:
    """A checkpoint directory: model.safetensors, best.safetensors, trainer_state.pt, swapped in atomically.

    Loading uses `torch.load(weights_only=True)`; an unreadable checkpoint is renamed `<dir>.corrupt` (with a warning
    naming it) and training starts afresh.
    """

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)
        self.tmp = self.dir.with_name(self.dir.name + ".tmp")
        self.old = self.dir.with_name(self.dir.name + ".old")

    def exists(self) -> bool:
        return self.dir.is_dir() or self.old.is_dir()

    def save(self, model_state: dict, best_state: dict | None, trainer_state: dict) -> None:
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in model_state.items()},
                  str(self.tmp / "model.safetensors"))
        if best_state is not None:
            save_file(best_state, str(self.tmp / "best.safetensors"))
        torch.save(trainer_state, self.tmp / "trainer_state.pt")
        apply_umask(self.tmp)  # safetensors writes 0600: a group sharing the results can read and resume it
        if self.dir.exists():
            if self.old.exists():
                shutil.rmtree(self.old)
            os.replace(self.dir, self.old)
        os.replace(self.tmp, self.dir)
        if self.old.exists():
            shutil.rmtree(self.old)

    def load(self) -> tuple[dict, dict | None, dict] | None:
        """(model state, best state or None, trainer state), or None when the checkpoint could not be read."""
        d = self.dir if self.dir.is_dir() else self.old
        try:
            model_state = load_file(str(d / "model.safetensors"))
            best = load_file(str(d / "best.safetensors")) if (d / "best.safetensors").is_file() else None
            state = torch.load(d / "trainer_state.pt", map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unreadable file: move it aside and train afresh
            corrupt = d.with_name(d.name + ".corrupt")
            if corrupt.exists():
                shutil.rmtree(corrupt)
            os.replace(d, corrupt)
            log.warning("checkpoint %s could not be read (%s: %s); moved to %s, training restarts from step 0",
                        d, type(err).__name__, str(err).splitlines()[0] if str(err) else "", corrupt)
            return None
        return model_state, best, state

    def clear(self) -> None:
        for d in (self.dir, self.tmp, self.old):
            if d.exists():
                shutil.rmtree(d)


def fingerprint(settings: TrainerSettings, train: Targets, extra: str = "") -> str:
    """A hash of the settings that shape training and of the training targets: a checkpoint of another is not
    resumed."""
    skip = set(type(settings).NOT_FINGERPRINTED)
    keep = {k: v for k, v in dataclasses.asdict(settings).items() if k not in skip}
    h = hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode())
    h.update(np.ascontiguousarray(train.y, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(train.w, dtype=np.float64).tobytes())
    h.update("\t".join(map(str, train.groups)).encode())
    h.update(str(extra).encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# The trainer


class TrainingTask:
    """What a model supplies to the trainer. Subclasses implement `forward`, `predict_valid` and `set_scale`."""

    def __init__(self, model: torch.nn.Module):
        self.model = model

    def forward(self, idx: np.ndarray) -> torch.Tensor:
        """Standardised predictions (with gradients) for training examples `idx`."""
        raise NotImplementedError

    def predict_valid(self, idx: np.ndarray) -> np.ndarray:
        """Standardised predictions (no gradients) for validation examples `idx`."""
        raise NotImplementedError

    def set_scale(self, mean: float, std: float) -> None:
        """Store the target scaling with the model (predictions in target units = z * std + mean)."""
        raise NotImplementedError

    def state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().clone().contiguous() for k, v in self.model.state_dict().items()}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)

    def parameter_groups(self, weight_decay: float) -> list[dict]:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
                {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]

    def before_evaluation(self) -> None:
        """Called before each validation and at the end of training (e.g. GTA recalibrates its normalisation)."""


def shuffled_targets(y: np.ndarray, weight: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The shuffled-target control's training targets: y (and each target's weight) permuted across the examples,
    seeded; what a model scores on held-out data after training on them is what chance and the data's layout give."""
    perm = np.random.default_rng(seed).permutation(len(y))
    return np.asarray(y)[perm], np.asarray(weight)[perm]


def subsample_indices(n: int, limit: int | None, seed: int) -> np.ndarray:
    """At most `limit` of n indices, a seeded random subset in order (validation cost grows with individuals)."""
    if limit is None or n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, 1]).choice(n, limit, replace=False))


PROGRESS_EVERY = 50  # steps between progress lines in the log when no validation set is scored


def train(task: TrainingTask, train_targets: Targets, valid_targets: Targets | None, s: TrainerSettings,
          checkpoint_dir: str | os.PathLike | None = None, extra_fingerprint: str = "",
          on_step: Callable | None = None) -> pd.DataFrame:
    """Train `task.model` in place; return the training log (`LOG_COLUMNS`). See the module docstring.

    `on_step(step, model, optimizer)` is called after every step (tests use it to simulate a killed job).
    """
    device = pick_device(s.device)
    amp = autocast_dtype(device, s.precision)
    log.info("training on %s: %d examples, objective %s, %s schedule", describe(device, amp), len(train_targets),
             s.objective, s.schedule)
    torch.manual_seed(s.seed)
    y, yv, mean, std = prepared_targets(train_targets, valid_targets, s.objective)
    task.set_scale(mean, std)
    yt = torch.tensor(y, dtype=torch.float32)
    wt = torch.tensor(train_targets.w, dtype=torch.float32)
    codes = torch.as_tensor(pd.factorize(train_targets.groups)[0])
    has_valid = yv is not None
    if has_valid:
        vidx = subsample_indices(len(valid_targets), s.valid_max, s.seed)
        v_y = torch.tensor(yv[vidx], dtype=torch.float32)
        v_w = torch.tensor(valid_targets.w[vidx], dtype=torch.float32)
        v_g = torch.as_tensor(pd.factorize(valid_targets.groups[vidx])[0])
        log.info("%d validation examples (%d scored at each evaluation)", len(valid_targets), len(vidx))
    task.model.to(device)
    opt = torch.optim.AdamW(task.parameter_groups(s.weight_decay), lr=s.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(s.schedule, s.warmup_steps, s.steps))
    state = {"step": 0, "best_loss": math.inf, "best_step": 0, "bad_evals": 0, "history": []}
    best_state = None
    ckpt = Checkpoint(checkpoint_dir) if checkpoint_dir is not None else None
    fp = fingerprint(s, train_targets, extra_fingerprint)
    if ckpt is not None and ckpt.exists():
        loaded = ckpt.load()
        if loaded is not None and loaded[2].get("fingerprint") != fp:
            log.warning("checkpoint %s was made with other settings or data: it is discarded and training starts "
                        "from step 0", ckpt.dir)
            ckpt.clear()
        elif loaded is not None:
            model_state, best_state, saved = loaded
            task.load_state(model_state)
            opt.load_state_dict(saved["optimizer"])
            sched.load_state_dict(saved["scheduler"])
            torch.set_rng_state(saved["rng_cpu"])
            if device.type == "cuda" and saved.get("rng_cuda") is not None:
                torch.cuda.set_rng_state_all(list(saved["rng_cuda"]))
            state = {k: saved[k] for k in state}
            log.info("resumed from checkpoint at step %d (%s)", state["step"], ckpt.dir)  # profiles/slurm/README.md
    order = DataOrder(len(train_targets), s.batch_size, s.seed,
                      train_targets.groups if s.objective == "pairwise" else None)

    def stopped() -> bool:
        return has_valid and state["bad_evals"] >= s.patience

    log.info("training %d steps of batch %d from step %d; progress every %d steps", s.steps, s.batch_size,
             state["step"], s.eval_every if has_valid else PROGRESS_EVERY)
    t0 = time.time()
    while state["step"] < s.steps and not stopped():
        task.model.train()
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for a in range(s.accumulation):
            idx = order.batch(state["step"] * s.accumulation + a)
            with autocast(device, amp):
                pred = task.forward(idx)
            loss = objective_loss(pred.float(), yt[idx].to(device), wt[idx].to(device),
                                  codes[idx].to(device), s.objective) / s.accumulation
            loss.backward()
            total += loss.item()
        if s.grad_clip:
            torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], s.grad_clip)
        opt.step()
        sched.step()
        state["step"] += 1
        step = state["step"]
        row = {"step": step, "epoch": order.epoch(step * s.accumulation - 1), "train_loss": total,
               "valid_loss": float("nan"), "lr": float(sched.get_last_lr()[0])}
        if has_valid and (step % s.eval_every == 0 or step == s.steps):
            task.before_evaluation()
            with torch.no_grad(), autocast(device, amp):
                pv = torch.as_tensor(task.predict_valid(vidx), dtype=torch.float32)
            vl = float(objective_loss(pv, v_y, v_w, v_g, s.objective))
            row["valid_loss"] = vl
            if vl < state["best_loss"]:
                state.update(best_loss=vl, best_step=step, bad_evals=0)
                best_state = task.state()
            else:
                state["bad_evals"] += 1
            log.info("step %d/%d  train %.4f  valid %.4f  best %.4f @ %d  (%.0f s)", step, s.steps, total, vl,
                     state["best_loss"], state["best_step"], time.time() - t0)
        elif step % PROGRESS_EVERY == 0 or step == s.steps:
            log.info("step %d/%d  train %.4f  (%.0f s)", step, s.steps, total, time.time() - t0)
        state["history"].append(row)
        if ckpt is not None and s.checkpoint_every and (step % s.checkpoint_every == 0 or step == s.steps
                                                         or stopped()):
            ckpt.save(task.state(), best_state, {
                **state, "fingerprint": fp, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "rng_cpu": torch.get_rng_state(),
                "rng_cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else None})
            log.info("checkpoint saved at step %d", step)  # the requeue contract's line (profiles/slurm/README.md)
        if on_step is not None:
            on_step(step, task.model, opt)
    if best_state is not None:
        task.load_state(best_state)
        log.info("kept the weights of step %d (valid loss %.4f)", state["best_step"], state["best_loss"])
    else:
        task.before_evaluation()
        log.info("no validation set: kept the weights of the last step (%d)", state["step"])
    history = pd.DataFrame(state["history"], columns=LOG_COLUMNS)
    return history.astype({"step": "int64", "epoch": "int64"})
