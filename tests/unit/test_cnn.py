"""The one-hot CNN control: fit, predict, save and load, and its stage functions in the prediction contract."""

import numpy as np
import pandas as pd
import pytest
import torch

from hapexpr import cnn
from hapexpr.gta import Examples

torch.set_num_threads(1)
W = 1024


def settings(**kw):
    base = dict(segment_length=128, encoder_channels=8, encoder_dim=8, head_hidden=16, dropout=0.0, lr=3e-3,
                warmup_steps=2, steps=40, batch_size=8, eval_every=10, checkpoint_every=20, device="cpu", seed=2)
    return cnn.CNNSettings(**(base | kw))


def motif_task(n=48, seed=0):
    """y = number of copies of a motif in the right half of the window: the CNN must see where it lies."""
    rng = np.random.default_rng(seed)
    windows, y = [], []
    for _ in range(n):
        w = list(rng.choice(list("ACGT"), W))
        k = int(rng.integers(0, 5))
        for j in range(k):
            start = W // 2 + 40 + j * 90
            w[start:start + 8] = "GGGCGGGC"
        windows.append("".join(w))
        y.append(float(k))
    return Examples(windows, [[]] * n, np.array(y), genes=[f"g{i % 6}" for i in range(n)])


def test_cnn_fits_predicts_and_round_trips(tmp_path):
    train, valid = motif_task(seed=1), motif_task(24, seed=2)
    s = settings()
    model = cnn.CNNModel(s, W)
    before = np.mean((model.predict(valid.windows) - valid.y) ** 2)
    history = cnn.fit(model, train, valid, s, tmp_path / "ckpt")
    after = np.mean((model.predict(valid.windows) - valid.y) ** 2)
    assert after < 0.5 * before, (before, after)
    assert history["step"].tolist() == list(range(1, 41))
    model.save_pretrained(tmp_path / "m")
    loaded = cnn.CNNModel.from_pretrained(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(valid.windows), model.predict(valid.windows))
    assert loaded.settings == s and loaded.window_length == W


def test_cnn_resume_after_a_kill_is_exact(tmp_path):
    train = motif_task(seed=3)
    s = settings(steps=8, checkpoint_every=4, dropout=0.2)
    full = cnn.fit(cnn.CNNModel(s, W), train, train, s, tmp_path / "a")

    class Killed(Exception):
        pass

    def kill(step, model, opt):
        if step == 6:
            raise Killed

    with pytest.raises(Killed):
        cnn.fit(cnn.CNNModel(s, W), train, train, s, tmp_path / "b", on_step=kill)
    pd.testing.assert_frame_equal(cnn.fit(cnn.CNNModel(s, W), train, train, s, tmp_path / "b"), full)


def test_train_and_predict_write_the_contract(tmp_path):
    from test_gta import tiny_stage_inputs

    windows, hapmap = tiny_stage_inputs(tmp_path)
    s = settings(steps=3, segment_length=256)
    inputs = (str(tmp_path / "genes.tsv"), str(tmp_path / "expr.parquet"), str(tmp_path / "individuals.tsv"))
    cnn.train_cnn(*inputs, windows, hapmap, s, W, str(tmp_path / "model"))
    for protocol in cnn.PROTOCOLS:
        assert (tmp_path / "model" / protocol / "config.json").is_file()
        assert pd.read_csv(tmp_path / "model" / protocol / "training_log.tsv", sep="\t")["step"].tolist() == [1, 2, 3]
    pred = cnn.predict_cnn(*inputs, windows, hapmap, s, str(tmp_path / "model"))
    assert list(pred.columns) == cnn.gta.PREDICTION_COLUMNS
    cg = pred[pred["protocol"] == "cross_gene"]
    assert len(cg) == 8 and cg["y_pred"].notna().all()
    ci = pred[pred["protocol"] == "cross_individual"].set_index(["gene_id", "individual"])
    model = cnn.CNNModel.from_pretrained(tmp_path / "model" / "cross_individual")
    lookup = {(g, h): w for g, h, w in windows.itertuples(index=False)}
    pair = hapmap[(hapmap["gene_id"] == "G1") & (hapmap["individual"] == "I2")]["hap_id"].tolist()
    assert ci.loc[("G1", "I2"), "y_pred"] == pytest.approx(model.predict([lookup[("G1", h)] for h in pair]).mean())
