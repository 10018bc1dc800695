"""The GPU paths of DNABERT-2, GTA and the CNN control: bf16 autocast on CUDA, the frozen LLM's weights in bf16 on the GPU,
checkpoints that carry the CUDA RNG, predictions that agree with the same weights in fp32 on the CPU.

Skipped where no CUDA device is visible (CI, the 2-core development machines); `bash benchmarks/gpu.sh` runs them
on a GPU machine together with the throughput measurements (benchmarks/README.md, "On a GPU").

Resuming after a kill is bitwise exact on the CPU (test_dnabert2.py, test_gta.py); on a GPU, backward kernels that
add with atomics (embedding gradients, attention) are not bitwise reproducible, so the resumed log is compared to
the uninterrupted one within a tolerance here, and the step it resumed from exactly.
"""

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest
import torch
from hapexpr import cnn, gta
from hapexpr.dnabert2_train import embed, finetune, predict
from hapexpr.training import autocast_dtype, describe, pick_device, require_device
from test_cnn import motif_task
from test_cnn import settings as cnn_settings
from test_dnabert2 import gc_task, small_model, tokenizer  # noqa: F401 (fixture)
from test_dnabert2 import settings as dnabert2_settings
from test_gta import W, gc, llm_dir, random_windows  # noqa: F401 (fixture)
from test_gta import settings as gta_settings

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible (GPU-only tests)")

CUDA = torch.device("cuda")


class Killed(Exception):
    pass


def kill_at(step_to_kill: int):
    def on_step(step, model, optimizer):
        if step == step_to_kill:
            raise Killed

    return on_step


def assert_resumed_log_matches(resumed: pd.DataFrame, full: pd.DataFrame) -> None:
    assert resumed["step"].tolist() == full["step"].tolist()
    for column in ("train_loss", "valid_loss"):
        np.testing.assert_allclose(resumed[column].to_numpy(float), full[column].to_numpy(float), rtol=2e-2,
                                   atol=1e-3, equal_nan=True, err_msg=column)


def test_the_gpu_is_picked_with_bf16_autocast():
    assert pick_device("auto") == CUDA
    assert autocast_dtype(CUDA, "auto") == torch.bfloat16 and autocast_dtype(CUDA, "fp32") is None
    assert require_device("train_gta", gpus=1, allow_cpu=False).type == "cuda"
    text = describe(CUDA, torch.bfloat16)
    assert re.fullmatch(r"cuda:\d+ \(.+\), bf16 autocast", text) and torch.cuda.get_device_name() in text


def test_dnabert2_fine_tunes_in_bf16_on_the_gpu_and_resumes(tokenizer, tmp_path, caplog):  # noqa: F811
    caplog.set_level("INFO", logger="hapexpr")
    train, valid = gc_task(tokenizer, seed=1), gc_task(tokenizer, n=16, seed=2)
    s = dnabert2_settings(device="cuda", precision="auto", steps=30, accumulation=1, checkpoint_every=10,
                          eval_every=10)
    model, full = finetune(small_model(tokenizer), train, valid, s, tmp_path / "a")
    assert "bf16 autocast" in caplog.text and "cuda:" in caplog.text
    assert next(model.parameters()).device.type == "cuda" and next(model.parameters()).dtype == torch.float32
    assert full["train_loss"].iloc[-5:].mean() < full["train_loss"].iloc[:5].mean()  # it learns on the GPU

    with pytest.raises(Killed):
        finetune(small_model(tokenizer), train, valid, s, tmp_path / "b", on_step=kill_at(15))
    _, resumed = finetune(small_model(tokenizer, seed=99), train, valid, s, tmp_path / "b")
    assert "resumed from checkpoint at step 10" in caplog.text
    assert_resumed_log_matches(resumed, full)

    on_gpu = predict(model, train.tokens, s)
    on_cpu = predict(model.float().cpu(), train.tokens, dataclasses.replace(s, device="cpu", precision="fp32"))
    assert on_gpu.dtype == np.float64 and np.isfinite(on_gpu).all()
    assert np.corrcoef(on_gpu, on_cpu)[0, 1] > 0.99, (on_gpu, on_cpu)
    np.testing.assert_allclose(on_gpu, on_cpu, atol=0.05 * on_cpu.std() + 1e-6)
    emb = embed(model.bert, train.tokens[:4], 128, "mean", {"cls": 1, "sep": 2, "pad": 3}, device="cuda")
    assert emb.dtype == np.float32 and emb.shape == (4, 32) and np.isfinite(emb).all()


def test_gta_trains_against_a_bf16_llm_on_the_gpu_and_resumes(llm_dir, tmp_path):  # noqa: F811
    llm, tok = gta.load_llm(llm_dir, layers=2, device=CUDA)
    weight = llm.get_input_embeddings().weight
    assert weight.device.type == "cuda" and weight.dtype == torch.bfloat16 and not weight.requires_grad
    windows = random_windows(24, seed=2)
    ex = gta.Examples(windows, [tok("Gene Y, lncRNA.")["input_ids"]] * 24, gc(windows) * 10, np.arange(1, 25))
    s = gta_settings(steps=20, checkpoint_every=10, eval_every=5, dropout=0.0, device="cuda", precision="auto")

    model = gta.build_model(s, llm, tok, W)
    assert model.device.type == "cuda"
    full = gta.fit(model, ex, ex, s, tmp_path / "a")
    assert full["train_loss"].iloc[-5:].mean() < full["train_loss"].iloc[:5].mean()
    with pytest.raises(Killed):
        gta.fit(gta.build_model(s, llm, tok, W), ex, ex, s, tmp_path / "b", on_step=kill_at(13))
    torch.manual_seed(12345)
    resumed = gta.fit(gta.build_model(s, llm, tok, W), ex, ex, s, tmp_path / "b")
    assert_resumed_log_matches(resumed, full)

    # the trained alignment and head, read back onto the CPU in fp32: the same predictions up to bf16 rounding
    on_gpu = model.predict(windows, ex.prompts)
    gta.save_weights(model, tmp_path / "trained.safetensors")
    cpu_llm, _ = gta.load_llm(llm_dir, layers=2, device=torch.device("cpu"), precision="fp32")
    cpu_model = gta.build_model(dataclasses.replace(s, device="cpu", precision="fp32"), cpu_llm, tok, W)
    gta.load_weights(cpu_model, tmp_path / "trained.safetensors")
    on_cpu = cpu_model.predict(windows, ex.prompts)
    assert on_gpu.dtype == np.float64 and np.isfinite(on_gpu).all()
    assert np.corrcoef(on_gpu, on_cpu)[0, 1] > 0.98, (on_gpu, on_cpu)


def test_gta_rule_functions_train_and_predict_on_the_gpu(llm_dir, tmp_path):  # noqa: F811
    """train_gta and predict_gta as the rules call them, on the GPU, with the model's bf16 LLM."""
    from test_gta import tiny_stage_inputs

    windows, hapmap = tiny_stage_inputs(tmp_path)
    s = gta_settings(steps=2, checkpoint_every=1, llm_layers=1, device="auto")
    inputs = (str(tmp_path / "genes.tsv"), str(tmp_path / "expr.parquet"), str(tmp_path / "individuals.tsv"))
    gta.train_gta("gta", *inputs, windows, hapmap, str(llm_dir), s, W, str(tmp_path / "model"))
    pred = gta.predict_gta("gta", *inputs, windows, hapmap, str(llm_dir), s, W, str(tmp_path / "model"))
    assert list(pred.columns) == gta.PREDICTION_COLUMNS
    trained = pred[pred["status"] == "ok"]
    assert len(trained) > 0 and np.isfinite(trained["y_pred"]).all()


def test_a_gta_model_built_on_the_cpu_trains_on_the_configured_gpu(llm_dir):  # noqa: F811
    """The LLM is outside GTA's module tree; moving the model to the trainer's device takes it along."""
    llm, tok = gta.load_llm(llm_dir, layers=1, device=torch.device("cpu"), precision="fp32")
    windows = random_windows(8, seed=3)
    ex = gta.Examples(windows, [tok("Gene Q.")["input_ids"]] * 8, gc(windows))
    model = gta.build_model(gta_settings(steps=2, device="cuda"), llm, tok, W)
    assert model.device.type == "cpu"
    history = gta.fit(model, ex, None, gta_settings(steps=2, device="cuda"))
    assert np.isfinite(history["train_loss"]).all()
    assert model.device.type == "cuda" and llm.get_input_embeddings().weight.device.type == "cuda"


def test_cnn_trains_in_bf16_on_the_gpu_resumes_and_round_trips(tmp_path):
    train, valid = motif_task(seed=1), motif_task(24, seed=2)
    s = cnn_settings(device="cuda", precision="auto", steps=40, checkpoint_every=20)
    model = cnn.CNNModel(s, W)
    before = np.mean((model.predict(valid.windows) - valid.y) ** 2)
    full = cnn.fit(model, train, valid, s, tmp_path / "a")
    assert model.device.type == "cuda"
    assert np.mean((model.predict(valid.windows) - valid.y) ** 2) < 0.5 * before
    with pytest.raises(Killed):
        cnn.fit(cnn.CNNModel(s, W), train, valid, s, tmp_path / "b", on_step=kill_at(30))
    assert_resumed_log_matches(cnn.fit(cnn.CNNModel(s, W), train, valid, s, tmp_path / "b"), full)

    model.save_pretrained(tmp_path / "m")
    on_cpu = cnn.CNNModel.from_pretrained(tmp_path / "m")
    on_cpu.settings = dataclasses.replace(on_cpu.settings, device="cpu", precision="fp32")
    on_cpu.to("cpu")
    on_gpu, reference = model.predict(valid.windows), on_cpu.predict(valid.windows)
    model.settings = dataclasses.replace(s, precision="fp32")
    assert np.corrcoef(model.predict(valid.windows), reference)[0, 1] > 0.999  # fp32 (TF32 convolutions) on the GPU
    assert np.corrcoef(on_gpu, reference)[0, 1] > 0.9  # bf16 rounds: 0.94 on an H200, 0.98 in bf16 on a CPU


def test_cnn_rule_functions_train_and_predict_on_the_gpu(tmp_path):
    from test_gta import tiny_stage_inputs

    windows, hapmap = tiny_stage_inputs(tmp_path)
    s = cnn_settings(steps=3, segment_length=256, device="auto")
    inputs = (str(tmp_path / "genes.tsv"), str(tmp_path / "expr.parquet"), str(tmp_path / "individuals.tsv"))
    cnn.train_cnn(*inputs, windows, hapmap, s, W, str(tmp_path / "model"))
    pred = cnn.predict_cnn(*inputs, windows, hapmap, s, str(tmp_path / "model"))
    trained = pred[pred["status"] == "ok"]
    assert len(trained) > 0 and np.isfinite(trained["y_pred"]).all()
