"""A supervised one-hot CNN: GTA's convolutional segment encoder with a regression head, trained from scratch.

The bar that DNA language models are measured against in recent benchmarks (Tang et al. 2025; DART-Eval), where
tuned one-hot CNNs match or beat them. The window is cut into segments (as GTA does); `ConvSegmentEncoder` turns
each into a feature vector; the head reads all segments' features in order (so it knows where each lies relative to
the TSS) through one hidden layer. It is trained by the one trainer (hapexpr.training) on the same examples and
protocols as DNABERT-2 and GTA, whose example and prediction-row functions it calls.

A model directory holds `config.json` (settings and window length) and `model.safetensors`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from hapexpr import gta
from hapexpr.io import atomic_path, write_tsv
from hapexpr.training import LOG_NAME, TrainerSettings, TrainingTask, autocast, autocast_dtype, settings_from, train

log = logging.getLogger(__name__)

PROTOCOLS = gta.PROTOCOLS


@dataclass
class CNNSettings(TrainerSettings):
    """The trainer's options (hapexpr.training.TrainerSettings) and the CNN's own (config `models.cnn`)."""

    segment_length: int = 256
    encoder_channels: int = 128
    encoder_dim: int = 256
    head_hidden: int = 128
    dropout: float = 0.1
    lr: float = 1e-3
    schedule: str = "cosine"
    warmup_steps: int = 100
    steps: int = 2000
    batch_size: int = 32
    eval_every: int = 100
    checkpoint_every: int = 200
    valid_max: int | None = 512
    predict_batch_size: int = 64

    NOT_FINGERPRINTED = TrainerSettings.NOT_FINGERPRINTED | {"predict_batch_size"}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.segment_length < 32:
            raise gta.GTAError(f"models.cnn.segment_length: {self.segment_length} is below 32, the encoder's minimum")

    @classmethod
    def from_config(cls, section: dict, seed: int) -> CNNSettings:
        return settings_from(cls, dict(section), seed=seed)


class CNNModel(nn.Module):
    """One-hot window -> ConvSegmentEncoder (per segment) -> all segments' features -> MLP -> one value."""

    def __init__(self, settings: CNNSettings, window_length: int):
        super().__init__()
        self.settings, self.window_length = settings, window_length
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(settings.seed)
            self.encoder = gta.ConvSegmentEncoder(settings.segment_length, settings.encoder_channels,
                                                  settings.encoder_dim, settings.dropout)
            width = gta.n_segments(window_length, settings.segment_length) * settings.encoder_dim
            self.head = nn.Sequential(nn.Flatten(), nn.Dropout(settings.dropout), nn.Linear(width, settings.head_hidden),
                                      nn.GELU(), nn.Linear(settings.head_hidden, 1))
        self.register_buffer("y_mean", torch.zeros(()))
        self.register_buffer("y_std", torch.ones(()))

    @property
    def device(self) -> torch.device:
        return self.y_mean.device

    def forward(self, windows: Sequence[str]) -> torch.Tensor:
        """Standardised predictions for a batch of equal-length windows."""
        return self.head(self.encoder(windows)).squeeze(-1)

    def predict(self, windows: Sequence[str], prompts: Sequence | None = None, batch_size: int = 64) -> np.ndarray:
        """Predictions in the target's units, without gradients (`prompts` is ignored: the signature of
        GTAModel.predict, so that the same prediction-row functions serve both)."""
        self.eval()
        out = []
        with torch.no_grad(), autocast(self.device, autocast_dtype(self.device, self.settings.precision)):
            for i in range(0, len(windows), batch_size):
                out.append(self(windows[i:i + batch_size]).float().cpu())
        z = torch.cat(out) if out else torch.zeros(0)
        return (z * self.y_std.cpu() + self.y_mean.cpu()).numpy().astype(np.float64)

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """config.json (settings, window length) and model.safetensors, each written atomically."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "model.safetensors") as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}, str(tmp))
        with atomic_path(out / "config.json") as tmp:
            Path(tmp).write_text(json.dumps({"settings": dataclasses.asdict(self.settings),
                                             "window_length": self.window_length}, indent=1, sort_keys=True))

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> CNNModel:
        config = json.loads(Path(directory, "config.json").read_text())
        model = cls(CNNSettings(**config["settings"]), config["window_length"])
        model.load_state_dict(load_file(str(Path(directory, "model.safetensors"))))
        return model


class CNNTask(TrainingTask):
    """The CNN for the one trainer: training examples are GTA's (windows with targets and weights)."""

    def __init__(self, model: CNNModel, train_ex: gta.Examples, valid: gta.Examples | None):
        super().__init__(model)
        self.train_ex, self.valid_ex = train_ex, valid

    def forward(self, idx: np.ndarray) -> torch.Tensor:
        return self.model([self.train_ex.windows[i] for i in idx])

    def predict_valid(self, idx: np.ndarray) -> np.ndarray:
        pred = self.model.predict([self.valid_ex.windows[i] for i in idx], None, self.model.settings.predict_batch_size)
        return (pred - float(self.model.y_mean)) / float(self.model.y_std)

    def set_scale(self, mean: float, std: float) -> None:
        self.model.y_mean.fill_(mean)
        self.model.y_std.fill_(std)


def fit(model: CNNModel, train_ex: gta.Examples, valid: gta.Examples | None, settings: CNNSettings,
        checkpoint_dir: str | os.PathLike | None = None, fingerprint: str = "",
        on_step: Callable | None = None) -> pd.DataFrame:
    """Train with the one trainer; return the training log (hapexpr.training.LOG_COLUMNS)."""
    valid_targets = gta.targets(valid, valid.genes) if valid is not None and len(valid) else None
    return train(CNNTask(model, train_ex, valid), gta.targets(train_ex, train_ex.genes), valid_targets, settings,
                 checkpoint_dir, extra_fingerprint=fingerprint, on_step=on_step)


def _no_prompts(genes: pd.DataFrame) -> dict[str, list]:
    return {g: [] for g in genes["gene_id"]}


def train_cnn(genes_path: str, expression_path: str, individuals_path: str, windows: pd.DataFrame,
              hapmap: pd.DataFrame, settings: CNNSettings, window_length: int, outdir: str,
              protocols: Sequence[str] = PROTOCOLS) -> None:
    """Train one CNN per protocol on the examples GTA trains on; write `outdir/{protocol}/` (model directory and
    training log; the `checkpoint` directory there resumes a killed job exactly)."""
    genes, expression, individuals, _ = gta._read_inputs(genes_path, expression_path, individuals_path, None)
    prompts = _no_prompts(genes)
    for protocol in protocols:
        train_ex, valid = (gta.protocol_examples(protocol, split, genes, expression, individuals, hapmap, windows,
                                                 prompts) for split in ("train", "valid"))
        log.info("cnn %s: %d training and %d validation examples (unique haplotypes)", protocol, len(train_ex),
                 len(valid))
        model = CNNModel(settings, window_length)
        log.info("cnn: %d parameters", sum(p.numel() for p in model.parameters()))
        out = Path(outdir, protocol)
        history = fit(model, train_ex, valid, settings.for_protocol(protocol), out / "checkpoint",
                      fingerprint=f"cnn/{protocol}/{window_length}")
        write_tsv(history, out / LOG_NAME)
        model.save_pretrained(out)


def predict_cnn(genes_path: str, expression_path: str, individuals_path: str, windows: pd.DataFrame,
                hapmap: pd.DataFrame, settings: CNNSettings, model_dir: str,
                protocols: Sequence[str] = PROTOCOLS) -> pd.DataFrame:
    """Predictions in the shared contract, through GTA's prediction-row function (hapexpr.protocols)."""
    genes, expression, individuals, _ = gta._read_inputs(genes_path, expression_path, individuals_path, None)
    prompts = _no_prompts(genes)
    frames = []
    for protocol in protocols:
        model = CNNModel.from_pretrained(Path(model_dir, protocol))
        model.to(gta.pick_device(settings.device))
        frames.append(gta.protocol_predictions(model, protocol, genes, expression, individuals, hapmap, windows,
                                               prompts, settings))
    return pd.concat(frames, ignore_index=True)[gta.PREDICTION_COLUMNS]
