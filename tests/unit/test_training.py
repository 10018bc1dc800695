"""The one trainer (hapexpr.training): schedules, objectives, early stopping, checkpoints, device checks.

The exact resume of DNABERT-2 and GTA through this trainer is tested in test_dnabert2.py and test_gta.py."""

import logging
import os
import math
import re

import numpy as np
import pandas as pd
import pytest
import torch

from hapexpr import training
from hapexpr.training import (
    Checkpoint,
    DataOrder,
    Targets,
    TrainerSettings,
    TrainingError,
    TrainingTask,
    autocast_dtype,
    centre_by_group,
    lr_lambda,
    objective_loss,
    require_device,
    subsample_indices,
    train,
)

torch.set_num_threads(1)


class LinearTask(TrainingTask):
    """y = x . beta with a linear model; predict_valid may be scripted to force a validation curve."""

    def __init__(self, x, xv=None, scripted=None, seed=0):
        torch.manual_seed(seed)
        super().__init__(torch.nn.Sequential(torch.nn.Dropout(0.1), torch.nn.Linear(x.shape[1], 1)))
        self.x, self.xv, self.scripted, self.evals = x, xv, scripted, 0
        self.scale = None

    def forward(self, idx):
        return self.model(torch.as_tensor(self.x[idx], dtype=torch.float32)).squeeze(-1)

    def predict_valid(self, idx):
        if self.scripted is not None:
            self.evals += 1
            return np.full(len(idx), self.scripted[self.evals - 1])
        self.model.eval()
        return self.model(torch.as_tensor(self.xv[idx], dtype=torch.float32)).squeeze(-1).detach().numpy()

    def set_scale(self, mean, std):
        self.scale = (mean, std)


def data(n=40, seed=0, groups=None):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.1, size=n)
    g = np.array([f"g{i % 5}" for i in range(n)]) if groups is None else groups
    return x, Targets(y, np.ones(n) + (np.arange(n) % 3), g)


def settings(**kw):
    base = dict(lr=0.05, warmup_steps=2, steps=12, batch_size=8, eval_every=3, patience=100, checkpoint_every=4,
                device="cpu", seed=1)
    return TrainerSettings(**(base | kw))


def test_schedules_warm_up_then_decay():
    lin, cos = lr_lambda("linear", 4, 14), lr_lambda("cosine", 4, 14)
    assert [lin(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0] == [cos(s) for s in range(4)]
    assert lin(9) == pytest.approx(0.5) and cos(9) == pytest.approx(0.5)
    assert lin(6) == pytest.approx(0.8) and cos(6) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.2)))
    assert lin(14) == 0 and cos(14) == pytest.approx(0)
    with pytest.raises(TrainingError, match="schedule"):
        TrainerSettings(schedule="step")
    with pytest.raises(TrainingError, match="objective"):
        TrainerSettings(objective="huber")


def test_training_fits_and_logs_integer_steps():
    x, t = data()
    task = LinearTask(x)
    history = train(task, t, None, settings(steps=60, checkpoint_every=0))
    assert list(history.columns) == training.LOG_COLUMNS
    assert history["step"].tolist() == list(range(1, 61)) and history["step"].dtype == np.int64
    assert history["train_loss"].iloc[-5:].mean() < 0.2 * history["train_loss"].iloc[:5].mean()
    assert task.scale[0] == pytest.approx(np.average(t.y, weights=t.w))


def test_early_stopping_keeps_the_best_weights():
    x, t = data()
    # validation predictions 0 are perfect for targets standardised to 0: losses follow |scripted|
    v = Targets(np.full(6, np.average(t.y, weights=t.w)), np.ones(6), ["v"] * 6)
    task = LinearTask(x, scripted=[2.0, 0.5, 1.0, 1.5, 3.0, 0.1])
    weights = {}
    history = train(task, t, v, settings(steps=30, patience=2, checkpoint_every=0),
                    on_step=lambda step, model, opt: weights.update({step: model[1].weight.detach().clone()}))
    assert history["step"].max() == 12  # evaluations at 3, 6 (best), 9, 12: two without improvement
    losses = history.set_index("step")["valid_loss"].dropna()
    assert losses.tolist() == pytest.approx([4.0, 0.25, 1.0, 2.25]) and losses.idxmin() == 6
    assert torch.equal(task.model[1].weight, weights[6]) and not torch.equal(weights[6], weights[12])


def test_without_validation_the_last_weights_are_kept():
    x, t = data()
    task = LinearTask(x)
    weights = {}
    train(task, t, None, settings(steps=5), on_step=lambda step, m, o: weights.update({step: m[1].weight.clone()}))
    assert torch.equal(task.model[1].weight, weights[5])
    empty = Targets(np.zeros(0), np.zeros(0), np.zeros(0, dtype=str))  # e.g. valid_chromosomes: []
    history = train(LinearTask(x), t, empty, settings(steps=5))
    assert history["valid_loss"].isna().all() and history["step"].max() == 5


class Killed(Exception):
    pass


def test_resume_after_a_kill_is_exact(tmp_path, caplog):
    x, t = data()
    xv, v = data(16, seed=5)
    s = settings()
    full_task = LinearTask(x, xv)
    full = train(full_task, t, v, s, tmp_path / "a")

    def kill(step, model, opt):
        if step == 6:
            raise Killed

    with pytest.raises(Killed), caplog.at_level(logging.INFO):
        train(LinearTask(x, xv), t, v, s, tmp_path / "b", on_step=kill)
    saved = [int(m) for m in re.findall(r"checkpoint saved at step (\d+)", caplog.text)]
    assert saved and saved[-1] <= 6  # the requeue contract's lines (profiles/slurm/README.md)
    caplog.clear()
    resumed_task = LinearTask(x, xv, seed=99)
    with caplog.at_level(logging.INFO):
        resumed = train(resumed_task, t, v, s, tmp_path / "b")
    assert f"resumed from checkpoint at step {saved[-1]}" in caplog.text
    pd.testing.assert_frame_equal(resumed, full)
    assert resumed["step"].dtype == np.int64
    assert torch.equal(resumed_task.model[1].weight, full_task.model[1].weight)


def test_checkpoint_files_follow_the_umask(tmp_path):
    """safetensors writes 0600; a checkpoint gets 0666 minus the umask like any other file (issue 12)."""
    x, t = data()
    old = os.umask(0o022)
    try:
        train(LinearTask(x), t, None, settings(steps=2, checkpoint_every=1), tmp_path / "u")
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "u").iterdir()}
    assert modes and set(modes.values()) == {0o644}, modes


def test_changed_settings_restart_with_a_warning(tmp_path, caplog):
    x, t = data()
    with pytest.raises(Killed):
        train(LinearTask(x), t, None, settings(), tmp_path / "c",
              on_step=lambda step, m, o: (_ for _ in ()).throw(Killed) if step == 5 else None)
    steps = []
    with caplog.at_level(logging.WARNING):
        train(LinearTask(x), t, None, settings(lr=0.01), tmp_path / "c", on_step=lambda step, m, o: steps.append(step))
    assert steps[0] == 1 and "other settings or data" in caplog.text and str(tmp_path / "c") in caplog.text


def test_a_corrupt_checkpoint_is_moved_aside_and_training_restarts(tmp_path, caplog):
    x, t = data()
    s = settings(steps=8)
    train(LinearTask(x), t, None, s, tmp_path / "d", on_step=lambda step, m, o: None)
    (tmp_path / "d" / "trainer_state.pt").write_bytes(b"PK\x03\x04 truncated")
    steps = []
    with caplog.at_level(logging.WARNING):
        history = train(LinearTask(x), t, None, s, tmp_path / "d", on_step=lambda step, m, o: steps.append(step))
    assert steps == list(range(1, 9)) and history["step"].tolist() == steps
    assert (tmp_path / "d.corrupt" / "trainer_state.pt").is_file()
    assert "d.corrupt" in caplog.text and "could not be read" in caplog.text
    assert Checkpoint(tmp_path / "d").load()[2]["step"] == 8  # a fresh, readable checkpoint


def test_a_gpu_job_without_cuda_stops_unless_cpu_is_allowed(caplog):
    with pytest.raises(TrainingError, match=r"rule train_x declares resources: gpu=1.*training\.allow_cpu: true"):
        require_device("train_x", 1, False, device="cpu")
    with caplog.at_level(logging.INFO):
        assert require_device("train_x", 1, True, device="cpu", precision="bf16").type == "cpu"
    assert "train_x: device cpu" in caplog.text and "bf16 autocast" in caplog.text
    assert require_device("predict_x", 0, False, device="cpu").type == "cpu"


def test_bf16_autocast_is_available_on_cpu():
    cpu = torch.device("cpu")
    assert autocast_dtype(cpu, "bf16") == torch.bfloat16
    assert autocast_dtype(cpu, "auto") is None and autocast_dtype(cpu, "fp32") is None
    x, t = data()
    history = train(LinearTask(x), t, None, settings(precision="bf16", steps=4))
    assert np.isfinite(history["train_loss"]).all()


def test_pairwise_loss_is_the_mean_squared_error_of_same_gene_differences():
    rng = np.random.default_rng(3)
    pred, y, w = (torch.tensor(rng.normal(size=7)) for _ in range(3))
    w = w.abs() + 0.1
    groups = torch.tensor([0, 0, 1, 1, 1, 2, 0])
    num = den = 0.0
    for i in range(7):
        for j in range(i + 1, 7):
            if groups[i] == groups[j]:
                ww = w[i] * w[j]
                num += ww * ((pred[i] - pred[j]) - (y[i] - y[j])) ** 2
                den += ww
    assert float(objective_loss(pred, y, w, groups, "pairwise")) == pytest.approx(float(num / den))
    shifted = pred + torch.tensor([5.0, 5.0, -1.0, -1.0, -1.0, 2.0, 5.0])  # a constant per gene changes nothing
    assert float(objective_loss(shifted, y, w, groups, "pairwise")) == pytest.approx(float(num / den))
    assert float(objective_loss(pred[:2], y[:2], w[:2], torch.tensor([0, 1]), "pairwise")) == 0.0
    mse = float(objective_loss(pred, y, w, groups, "mse"))
    assert mse == pytest.approx(float((w * (pred - y) ** 2).sum() / w.sum()))


def test_centred_targets_and_grouped_batches():
    y, w = np.array([1.0, 3.0, 10.0, 20.0]), np.array([1.0, 1.0, 3.0, 1.0])
    assert centre_by_group(y, w, np.array(["a", "a", "b", "b"])).tolist() == [-1.0, 1.0, -2.5, 7.5]
    groups = np.repeat(["a", "b", "c", "d"], 4)
    order = DataOrder(16, 4, seed=2, groups=groups)
    for m in range(8):  # each batch of 4 is one gene's 4 examples: every pair is within a gene
        assert len(set(groups[order.batch(m)])) == 1
    assert sorted(np.concatenate([order.batch(m) for m in range(4)])) == list(range(16))
    x, t = data(groups=np.repeat([f"g{i}" for i in range(8)], 5))
    history = train(LinearTask(x, x), t, t, settings(objective="pairwise", steps=30))
    assert history["train_loss"].iloc[-5:].mean() < history["train_loss"].iloc[:5].mean()


def test_validation_subset_is_seeded():
    a, b = subsample_indices(50, 10, seed=3), subsample_indices(50, 10, seed=3)
    assert len(a) == 10 and np.array_equal(a, b) and not np.array_equal(a, subsample_indices(50, 10, seed=4))
    assert np.array_equal(subsample_indices(5, None, 0), np.arange(5))


def test_shuffled_targets_permute_targets_with_their_weights_by_the_seed():
    y, w = np.arange(10.0), np.arange(10.0) + 100
    ys, ws = training.shuffled_targets(y, w, seed=3)
    assert sorted(ys) == sorted(y) and not np.array_equal(ys, y)
    np.testing.assert_array_equal(ws - ys, 100)  # each target keeps its weight
    np.testing.assert_array_equal(training.shuffled_targets(y, w, seed=3)[0], ys)
