"""DNABERT-2: architecture and public checkpoint layout, tokenizer, fine-tuning with exact resume, predictions."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from hapdata import write_store
from safetensors.torch import save_file

torch.set_num_threads(1)  # tiny models: threads only contend on a shared machine

from hapexpr import dnabert2_train
from hapexpr.dnabert2 import (
    DNABERT2Config,
    DNABERT2ForMaskedLM,
    DNABERT2Model,
    DNABERT2ForRegression,
    DNATokenizer,
    DownloadError,
    ModelDirectoryError,
    RemoteCodeEncoder,
    SPECIAL_TOKENS,
    WindowTooLongError,
    alibi_slopes,
    fetch_model,
    load_encoder,
    train_bpe_tokenizer,
)
from hapexpr.dnabert2_train import (
    Examples,
    FinetuneSettings,
    PretrainSettings,
    embed,
    embed_store,
    finetune,
    frozen_predictions,
    hap_predictions,
    load_model_for_finetuning,
    predict,
    pretrain_dna_lm,
    protocol_examples,
    protocol_predictions,
    tokenize_store,
    tokenize_windows,
)

# config.json of zhihan1996/DNABERT-2-117M: exactly its keys (sizes shrunk for the test).
PUBLIC_CONFIG = {
    "_name_or_path": "zhihan1996/DNABERT-2-117M",
    "alibi_starting_size": 512,
    "architectures": ["BertForMaskedLM"],
    "attention_probs_dropout_prob": 0.0,
    "auto_map": {
        "AutoConfig": "configuration_bert.BertConfig",
        "AutoModel": "bert_layers.BertModel",
        "AutoModelForMaskedLM": "bert_layers.BertForMaskedLM",
        "AutoModelForSequenceClassification": "bert_layers.BertForSequenceClassification",
    },
    "classifier_dropout": None,
    "gradient_checkpointing": False,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 48,
    "initializer_range": 0.02,
    "intermediate_size": 80,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 512,
    "model_type": "bert",
    "num_attention_heads": 6,
    "num_hidden_layers": 2,
    "position_embedding_type": "absolute",
    "torch_dtype": "float32",
    "transformers_version": "4.29.0",
    "type_vocab_size": 2,
    "use_cache": True,
    "vocab_size": 40,
}


def public_state_dict(c: dict, gen: torch.Generator) -> dict:
    """Random tensors under the parameter names of the public BertForMaskedLM checkpoint."""
    H, I, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]

    def r(*shape):
        return torch.randn(*shape, generator=gen) * 0.2

    sd = {
        "bert.embeddings.word_embeddings.weight": r(V, H),
        "bert.embeddings.token_type_embeddings.weight": r(c["type_vocab_size"], H),
        "bert.embeddings.LayerNorm.weight": 1 + r(H),
        "bert.embeddings.LayerNorm.bias": r(H),
    }
    for i in range(c["num_hidden_layers"]):
        p = f"bert.encoder.layer.{i}."
        sd |= {
            p + "attention.self.Wqkv.weight": r(3 * H, H),
            p + "attention.self.Wqkv.bias": r(3 * H),
            p + "attention.output.dense.weight": r(H, H),
            p + "attention.output.dense.bias": r(H),
            p + "attention.output.LayerNorm.weight": 1 + r(H),
            p + "attention.output.LayerNorm.bias": r(H),
            p + "mlp.gated_layers.weight": r(2 * I, H),
            p + "mlp.wo.weight": r(H, I),
            p + "mlp.wo.bias": r(H),
            p + "mlp.layernorm.weight": 1 + r(H),
            p + "mlp.layernorm.bias": r(H),
        }
    sd |= {
        "cls.predictions.transform.dense.weight": r(H, H),
        "cls.predictions.transform.dense.bias": r(H),
        "cls.predictions.transform.LayerNorm.weight": 1 + r(H),
        "cls.predictions.transform.LayerNorm.bias": r(H),
        "cls.predictions.decoder.weight": sd["bert.embeddings.word_embeddings.weight"].clone(),
        "cls.predictions.decoder.bias": r(V),
    }
    return sd


def reference_forward(sd: dict, c: dict, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MosaicBERT's math written out independently, per head with explicit softmax (no SDPA, no modules)."""
    H, nh, I = c["hidden_size"], c["num_attention_heads"], c["intermediate_size"]
    d = H // nh
    eps = c["layer_norm_eps"]

    def ln(x, name):
        return torch.nn.functional.layer_norm(x, (H,), sd[name + ".weight"], sd[name + ".bias"], eps)

    x = sd["bert.embeddings.word_embeddings.weight"][ids] + sd["bert.embeddings.token_type_embeddings.weight"][0]
    x = ln(x, "bert.embeddings.LayerNorm")
    s = ids.shape[1]
    slopes = alibi_slopes(nh)
    dist = (torch.arange(s)[None, :] - torch.arange(s)[:, None]).abs().float()
    for i in range(c["num_hidden_layers"]):
        p = f"bert.encoder.layer.{i}."
        qkv = x @ sd[p + "attention.self.Wqkv.weight"].T + sd[p + "attention.self.Wqkv.bias"]
        q, k, v = qkv[..., :H], qkv[..., H:2 * H], qkv[..., 2 * H:]
        heads = []
        for h in range(nh):
            sl = slice(h * d, (h + 1) * d)
            scores = q[..., sl] @ k[..., sl].transpose(1, 2) / math.sqrt(d) - slopes[h] * dist
            scores = scores + (1 - mask[:, None, :].float()) * -10000.0
            heads.append(torch.softmax(scores, -1) @ v[..., sl])
        att = torch.cat(heads, -1) @ sd[p + "attention.output.dense.weight"].T + sd[p + "attention.output.dense.bias"]
        x = ln(att + x, p + "attention.output.LayerNorm")
        g = x @ sd[p + "mlp.gated_layers.weight"].T
        h = torch.nn.functional.gelu(g[..., :I]) * g[..., I:]
        x = ln(h @ sd[p + "mlp.wo.weight"].T + sd[p + "mlp.wo.bias"] + x, p + "mlp.layernorm")
    return x


def write_public_checkpoint(tmp_path, fmt="bin"):
    gen = torch.Generator().manual_seed(1)
    sd = public_state_dict(PUBLIC_CONFIG, gen)
    d = tmp_path / "DNABERT-2-117M"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(PUBLIC_CONFIG, indent=2))
    if fmt == "bin":
        torch.save(sd, d / "pytorch_model.bin")
    else:  # hub safetensors conversions store the tied decoder weight once
        save_file({k: v for k, v in sd.items() if k != "cls.predictions.decoder.weight"}, str(d / "model.safetensors"))
    return d, sd


@pytest.mark.parametrize("fmt", ["bin", "safetensors"])
def test_public_checkpoint_loads_and_matches_direct_weights(tmp_path, fmt):
    d, sd = write_public_checkpoint(tmp_path, fmt)
    loaded = DNABERT2ForMaskedLM.from_pretrained(d).eval()
    direct = DNABERT2ForMaskedLM(DNABERT2Config.from_dict(PUBLIC_CONFIG)).eval()
    params = dict(direct.named_parameters(remove_duplicate=False))
    with torch.no_grad():
        for name, tensor in sd.items():
            params[name].copy_(tensor)  # direct assignment under the public names
    ids = torch.randint(5, PUBLIC_CONFIG["vocab_size"], (3, 17), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(ids)
    mask[1, 11:] = 0
    mask[2, 5:] = 0
    with torch.no_grad():
        a = loaded.bert(ids, mask)
        b = direct.bert(ids, mask)
        ref = reference_forward(sd, PUBLIC_CONFIG, ids, mask)
        logits = loaded(ids, mask)[1]
    assert torch.equal(a, b)
    keep = mask.bool()
    torch.testing.assert_close(a[keep], ref[keep], rtol=1e-4, atol=1e-4)
    assert logits.shape == (3, 17, PUBLIC_CONFIG["vocab_size"])
    # the encoder alone loads from the same directory (cls.* ignored) and agrees
    enc = DNABERT2Model.from_pretrained(d).eval()
    with torch.no_grad():
        assert torch.equal(enc(ids, mask), a)
    # saving writes the public names and config keys back
    out = tmp_path / "saved"
    loaded.save_pretrained(out)
    from safetensors.torch import load_file

    assert set(load_file(str(out / "model.safetensors"))) == set(sd)
    assert set(json.loads((out / "config.json").read_text())) >= set(PUBLIC_CONFIG)


def test_padding_does_not_change_unpadded_positions(tmp_path):
    d, _ = write_public_checkpoint(tmp_path)
    m = DNABERT2Model.from_pretrained(d).eval()
    ids = torch.randint(5, 40, (1, 9), generator=torch.Generator().manual_seed(3))
    padded = torch.cat([ids, torch.full((1, 4), 3)], 1)
    mask = torch.cat([torch.ones(1, 9, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long)], 1)
    with torch.no_grad():
        torch.testing.assert_close(m(padded, mask)[:, :9], m(ids), rtol=1e-5, atol=1e-5)


def test_missing_files_are_named(tmp_path):
    d, _ = write_public_checkpoint(tmp_path)
    with pytest.raises(ModelDirectoryError, match="tokenizer.json"):
        DNATokenizer.from_pretrained(d)
    (d / "pytorch_model.bin").unlink()
    with pytest.raises(ModelDirectoryError, match="model.safetensors or pytorch_model.bin"):
        DNABERT2Model.from_pretrained(d)
    (d / "config.json").unlink()
    with pytest.raises(ModelDirectoryError, match="config.json"):
        DNABERT2Model.from_pretrained(d)


def random_dna(n, length, seed=0):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return train_bpe_tokenizer(random_dna(40, 1000), 128, tmp_path_factory.mktemp("tok"))


def test_tokenizer_round_trip(tokenizer):
    seq = random_dna(1, 777, seed=5)[0]
    ids = tokenizer.encode(seq)
    assert tokenizer.decode(ids) == seq
    assert len(ids) < len(seq)  # BPE merges
    assert tokenizer.decode(tokenizer.encode(seq.lower())) == seq
    assert [tokenizer.unk_id, tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id, tokenizer.mask_id] == [0, 1, 2, 3, 4]


def test_n_runs_tokenise_without_crashing(tokenizer, tmp_path):
    seq = "ACGTAC" + "N" * 5000 + "GGRYKT" + "n" * 7
    ids = tokenizer.encode(seq)
    assert tokenizer.decode(ids) == "ACGTACNGGNTN"  # each run of non-ACGT is one N
    assert len(ids) < 20
    # a vocabulary without N (like the public one) reads the run as a single [UNK]
    from tokenizers import Tokenizer, models, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.train_from_iterator(random_dna(10, 300), trainers.BpeTrainer(
        vocab_size=40, special_tokens=["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"], show_progress=False))
    tok.save(str(tmp_path / "tokenizer.json"))
    public_like = DNATokenizer.from_pretrained(tmp_path)
    ids = public_like.encode("ACGT" + "N" * 3000 + "ACGT")
    assert ids.count(public_like.unk_id) == 1
    assert public_like.decode(ids) == "ACGTNACGT"


def windows_df(seqs):
    return pd.DataFrame({"gene_id": [f"G{i}" for i in range(len(seqs))], "hap_id": 0, "window": seqs})


def test_window_too_long_is_refused_or_split(tokenizer, tmp_path):
    seqs = random_dna(3, 2000, seed=7)
    with pytest.raises(WindowTooLongError, match=r"gene G\d haplotype 0 .*position budget of 64 tokens"):
        tokenize_windows(windows_df(seqs), tokenizer, 64, "error")
    toks = tokenize_windows(windows_df(seqs), tokenizer, 64, "split")
    assert (toks["n_tokens"] > 62).all()
    # a split window's embedding is the token-weighted mean of its pieces' embeddings
    config = DNABERT2Config(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                            num_attention_heads=4, intermediate_size=32, hidden_dropout_prob=0.0)
    enc = DNABERT2Model(config).eval()
    ids_map = {"cls": 1, "sep": 2, "pad": 3}
    ids = toks["input_ids"][0]
    whole = embed(enc, [ids], 64, "mean", ids_map, device="cpu")[0]
    pieces = [ids[i:i + 62] for i in range(0, len(ids), 62)]
    parts = embed(enc, pieces, 64, "mean", ids_map, device="cpu")
    w = np.array([len(p) for p in pieces], float)
    np.testing.assert_allclose(whole, (parts * w[:, None]).sum(0) / w.sum(), rtol=1e-4, atol=1e-5)


def gc_task(tokenizer, n=32, length=160, seed=0):
    """y = GC fraction: learnable from tokens."""
    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(n):
        p = rng.uniform(0.2, 0.8)
        seqs.append("".join(rng.choice(list("ACGT"), length, p=[(1 - p) / 2, p / 2, p / 2, (1 - p) / 2])))
    y = np.array([(s.count("G") + s.count("C")) / len(s) for s in seqs])
    toks = tokenize_windows(windows_df(seqs), tokenizer, 128, "split")
    return Examples(toks[["gene_id", "hap_id"]], list(toks["input_ids"]), y, np.ones(n))


def small_model(tokenizer, seed=0):
    torch.manual_seed(seed)
    config = DNABERT2Config(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                            num_attention_heads=4, intermediate_size=48)
    return DNABERT2ForRegression(config, pooling="mean")


def settings(**kw):
    base = dict(lr=3e-3, warmup_steps=2, steps=8, batch_size=4, accumulation=2, eval_every=3,
                checkpoint_every=4, patience=100, max_tokens=128, device="cpu", eval_batch_size=16, seed=3)
    return FinetuneSettings(**(base | kw))


def test_training_lowers_the_loss(tokenizer):
    train = gc_task(tokenizer)
    model = small_model(tokenizer)
    s = settings(steps=30, accumulation=1, checkpoint_every=0)
    mean, std = train.y.mean(), train.y.std()
    before = np.mean(((predict(model.eval(), train.tokens, s, standardised=True)) - (train.y - mean) / std) ** 2)
    model, hist = finetune(model, train, None, s)
    after = np.mean((predict(model, train.tokens, s, standardised=True) - (train.y - mean) / std) ** 2)
    assert after < 0.5 * before
    assert hist["train_loss"].iloc[-5:].mean() < hist["train_loss"].iloc[:5].mean()


def test_equal_windows_are_tokenised_and_predicted_once(tokenizer, monkeypatch):
    """A store built at a longer window holds haplotypes whose windows here are equal: one encoding each."""
    seqs = random_dna(3, 300, seed=4)
    toks = tokenize_windows(windows_df([seqs[0], seqs[1], seqs[0], seqs[2], seqs[1]]), tokenizer, 128, "split")
    assert toks["input_ids"][0] is toks["input_ids"][2] and toks["input_ids"][1] is toks["input_ids"][4]
    model = small_model(tokenizer).eval()
    s = settings(eval_batch_size=2)
    alone = [predict(model, [t], s)[0] for t in toks["input_ids"]]
    encoded = []
    real = dnabert2_train.sequence_embeddings
    monkeypatch.setattr(dnabert2_train, "sequence_embeddings",
                        lambda m, lists, *a: encoded.extend(lists) or real(m, lists, *a))
    together = predict(model, list(toks["input_ids"]), s)
    assert len(encoded) == 3
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)
    assert together[0] == together[2] and together[1] == together[4]


class Killed(Exception):
    pass


def test_resume_after_kill_is_exact(tokenizer, tmp_path):
    train, valid = gc_task(tokenizer, seed=1), gc_task(tokenizer, n=16, seed=2)
    s = settings()
    snapshots = {}

    def keep(step, model, opt):
        if step == 4:
            snapshots["opt"] = {k: {n: t.clone() if torch.is_tensor(t) else t for n, t in v.items()}
                                for k, v in opt.state_dict()["state"].items()}

    _, full = finetune(small_model(tokenizer), train, valid, s, tmp_path / "a", on_step=keep)

    def kill(step, model, opt):
        if step == 6:  # after the checkpoint at step 4, before the one at step 8
            raise Killed

    with pytest.raises(Killed):
        finetune(small_model(tokenizer), train, valid, s, tmp_path / "b", on_step=kill)
    seen = {}

    def first(step, model, opt):
        if not seen:
            seen["step"] = step - 1
            seen["opt_steps"] = [int(v["step"]) for v in opt.state_dict()["state"].values()]

    # a fresh process: a differently initialised model, resumed from the checkpoint
    resumed_model, resumed = finetune(small_model(tokenizer, seed=99), train, valid, s, tmp_path / "b",
                                      on_step=first)
    assert seen["step"] == 4
    pd.testing.assert_frame_equal(resumed, full)  # identical log, steps 1-8 (1-4 restored from the checkpoint)
    # the optimizer resumed from its step-4 state: after one more update its counters read 5
    assert set(seen["opt_steps"]) == {5}
    assert {int(v["step"]) for v in snapshots["opt"].values()} == {4}


def test_changed_settings_do_not_resume(tokenizer, tmp_path):
    train = gc_task(tokenizer, seed=1)
    with pytest.raises(Killed):
        finetune(small_model(tokenizer), train, None, settings(), tmp_path / "c",
                 on_step=lambda step, m, o: (_ for _ in ()).throw(Killed) if step == 5 else None)
    steps = []
    finetune(small_model(tokenizer), train, None, settings(lr=1e-3, steps=2), tmp_path / "c",
             on_step=lambda step, m, o: steps.append(step))
    assert steps[0] == 1


def test_optimizer_state_is_restored_exactly(tokenizer, tmp_path):
    train = gc_task(tokenizer, seed=1)
    s = settings(steps=4, checkpoint_every=4)
    ref = {}
    finetune(small_model(tokenizer), train, None, s, tmp_path / "d",
             on_step=lambda step, m, o: ref.update(o.state_dict()["state"]) if step == 4 else None)
    from hapexpr.training import Checkpoint

    _, _, saved = Checkpoint(tmp_path / "d").load()
    assert saved["step"] == 4
    for k, v in ref.items():
        torch.testing.assert_close(saved["optimizer"]["state"][k]["exp_avg"], v["exp_avg"], rtol=0, atol=0)
        torch.testing.assert_close(saved["optimizer"]["state"][k]["exp_avg_sq"], v["exp_avg_sq"], rtol=0, atol=0)


def test_cross_individual_examples_are_unique_haplotypes_with_tokens():
    tokens = pd.DataFrame({"gene_id": ["G", "G", "G"], "hap_id": [0, 1, 2],
                           "input_ids": [np.array([5]), np.array([6]), np.array([7])]})
    maps = pd.DataFrame({"gene_id": "G", "individual": ["a", "a", "b", "b", "c", "c"],
                         "haplotype": [1, 2] * 3, "hap_id": [1, 1, 1, 2, 0, 2]})
    genes = pd.DataFrame({"gene_id": ["G"], "split": ["train"], "y_cross_gene": [1.0]})
    expression = pd.DataFrame({"gene_id": ["G"], "a": [1.0], "b": [4.0], "c": [10.0]})
    individuals = pd.DataFrame({"individual": ["a", "b", "c"], "split": ["train", "train", "test"]})
    ex, valid = protocol_examples("cross_individual", tokens, maps, genes, expression, individuals)
    got = dict(zip(ex.keys["hap_id"], zip(ex.y, ex.w)))
    assert got == {1: (2.0, 3.0), 2: (4.0, 1.0)}  # hap 1: copies a, a, b -> mean(1, 1, 4); hap 2: b
    assert [int(t[0]) for t in ex.tokens] == [6, 7]
    assert len(valid) == 0  # no validation individual: an empty validation set, not an error
    # weighted MSE over unique haplotypes == MSE over copies, for any predictions f
    f = {1: 0.3, 2: 5.0}
    per_copy = [(1.0 - f[1]) ** 2, (1.0 - f[1]) ** 2, (4.0 - f[1]) ** 2, (4.0 - f[2]) ** 2]
    unique = [w * (y - f[h]) ** 2 for h, (y, w) in got.items()]
    within = sum((v - 2.0) ** 2 for v in [1.0, 1.0, 4.0])  # the constant a model cannot change
    assert math.isclose(sum(per_copy), sum(unique) + within)


def test_predictions_average_both_haplotypes_and_skip_constant_genes():
    genes = pd.DataFrame({"gene_id": ["G", "H"], "split": ["train", "train"], "y_cross_gene": [1.0, np.nan]})
    maps = pd.DataFrame({"gene_id": ["G"] * 6 + ["H"] * 6, "individual": ["a", "a", "b", "b", "c", "c"] * 2,
                         "haplotype": [1, 2] * 6, "hap_id": [0, 1, 1, 1, 0, 0] + [0] * 6})
    f = hap_predictions(pd.DataFrame({"gene_id": ["G", "G", "H"], "hap_id": [0, 1, 0]}), np.array([1.0, 3.0, 7.0]))
    expression = pd.DataFrame({"gene_id": ["G", "H"], "a": [1.0, 2.0], "b": [5.0, 2.0], "c": [3.0, 2.0]})
    individuals = pd.DataFrame({"individual": ["a", "b", "c", "z"], "split": ["train", "test", "train", "none"]})
    rows = protocol_predictions("cross_individual", genes, maps, expression, individuals, f)
    assert set(rows["protocol"]) == {"cross_individual"}  # no test genes, no held-out population: no such rows
    g = rows[rows["gene_id"] == "G"].set_index("individual")
    assert g.loc["a", "y_pred"] == 2.0 and g.loc["b", "y_pred"] == 3.0
    assert g.loc["b", "split"] == "test" and (g["status"] == "ok").all()
    assert (rows.loc[rows["gene_id"] == "H", "status"] == "skipped: constant expression").all()
    assert rows.loc[rows["gene_id"] == "H", "y_pred"].isna().all()
    cg = protocol_predictions("cross_gene", genes, maps, expression, individuals, f).set_index("gene_id")
    assert cg.loc["G", "y_pred"] == 1.0 and cg.loc["G", "individual"] == "reference"
    assert cg.loc["H", "status"] == "skipped: no target"
    assert list(rows.columns) == list(cg.reset_index().columns) == [
        "gene_id", "individual", "protocol", "y_true", "y_pred", "split", "status"]


def test_tokenize_store_from_a_hand_written_haplotype_store(tokenizer, tmp_path):
    from hapexpr.haplotypes import fixed_windows

    ref = random_dna(1, 120, seed=11)[0]
    alt = ref[:60] + "T" * 10 + ref[60:]  # an insertion after the TSS
    store = pd.DataFrame({"gene_id": ["G1", "G1"], "hap_id": [0, 1], "sequence": [ref, alt], "tss_offset": [50, 50]})
    hap_map = pd.DataFrame({"gene_id": [], "individual": [], "haplotype": [], "hap_id": []})
    paths = write_store(tmp_path, "chr1", store, hap_map, 120)
    genes = pd.DataFrame({"gene_id": ["G1"], "chrom": ["chr1"], "tss": [1000], "strand": ["+"]})
    toks = tokenize_store(paths["sequences"], genes, 80, tokenizer, 512)
    assert list(toks["hap_id"]) == [0, 1]
    assert tokenizer.decode(toks["input_ids"][0]) == ref[10:90]  # TSS at offset 50 lands on window[40]
    w = fixed_windows(store, genes, 80)
    assert [tokenizer.decode(t) for t in toks["input_ids"]] == [
        tokenizer.decode(tokenizer.encode(x)) for x in w["window"]]
    assert tokenizer.decode(toks["input_ids"][1]).startswith(ref[10:60] + "T" * 10)


def test_pretrain_writes_a_loadable_public_layout(tmp_path):
    seqs = random_dna(20, 600, seed=4)
    hist = pretrain_dna_lm(seqs, tmp_path / "lm", PretrainSettings(
        vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=32,
        max_tokens=64, steps=20, batch_size=4, lr=3e-3, warmup_steps=2, device="cpu"))
    assert len(hist) == 20 and np.isfinite(hist["loss"]).all()
    cfg = json.loads((tmp_path / "lm" / "config.json").read_text())
    assert cfg["architectures"] == ["BertForMaskedLM"] and cfg["alibi_starting_size"] == 64
    model = DNABERT2ForRegression.from_encoder(tmp_path / "lm")
    assert model.bert.config.num_hidden_layers == 1
    tok = DNATokenizer.from_pretrained(tmp_path / "lm")
    assert cfg["pad_token_id"] == tok.pad_id == 3 and model.bert.embeddings.word_embeddings.padding_idx == tok.pad_id


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A pretrained model directory of the public layout (pretrain_dna_lm at two steps), with its tokenizer."""
    out = tmp_path_factory.mktemp("tiny") / "lm"
    pretrain_dna_lm(random_dna(6, 300, seed=5), out, PretrainSettings(
        vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
        max_tokens=64, steps=2, batch_size=2, lr=1e-3, warmup_steps=1, device="cpu"))
    return out


def test_frozen_embeddings_of_the_reference_windows_alone_serve_the_cross_gene_ridge(tiny_lm, tmp_path):
    """models.dnabert2.variant_protocols [cross_gene]: embed_dnabert2 embeds only hap_id 0, the same vectors as in
    the full table, and the frozen ridge writes its cross-gene rows from them."""
    from hapexpr.io import write_parquet

    seqs = random_dna(6, 300, seed=5)
    tok = DNATokenizer.from_pretrained(tiny_lm)
    genes = pd.DataFrame({"gene_id": [f"G{i}" for i in range(6)], "split": ["train"] * 4 + ["valid", "test"],
                          "y_cross_gene": np.arange(6.0)})
    tokens = pd.DataFrame({"gene_id": [g for g in genes["gene_id"] for _ in (0, 1)], "hap_id": [0, 1] * 6,
                           "input_ids": [tok.encode(s[:200 + h]) for s in seqs for h in (0, 7)]})
    write_parquet(tokens, tmp_path / "tokens.parquet")
    args = (str(tmp_path / "tokens.parquet"), str(tiny_lm), "mean", 64, 4)
    full, ref = embed_store(*args), embed_store(*args, reference_only=True)
    assert list(ref["hap_id"]) == [0] * 6
    pd.testing.assert_frame_equal(ref, full[full["hap_id"] == 0].reset_index(drop=True), atol=1e-6)
    write_parquet(ref, tmp_path / "embeddings.parquet")
    maps = pd.DataFrame({"gene_id": [], "individual": [], "haplotype": [], "hap_id": []})
    write_parquet(maps, tmp_path / "map.parquet")
    rows, ridge = frozen_predictions(["cross_gene"], [str(tmp_path / "embeddings.parquet")],
                                     [str(tmp_path / "map.parquet")], genes, pd.DataFrame({"gene_id": genes["gene_id"]}),
                                     pd.DataFrame({"individual": [], "split": []}), [1.0, 10.0])
    assert set(rows["protocol"]) == {"cross_gene"} and len(rows) == 6 and (rows["status"] == "ok").all()
    assert list(ridge["protocol"]) == ["cross_gene"] and ridge["n_train"].item() == 4


def test_the_regression_head_starts_from_the_settings_seed_whatever_the_global_rng(tiny_lm):
    """Fine-tuning is reproducible from the config's seed: the head does not take the process's random state (each
    process starts torch from a different seed)."""
    heads = []
    for seed, rng in ((7, 1), (7, 2), (8, 1)):
        torch.manual_seed(rng)
        model = load_model_for_finetuning(str(tiny_lm), "mean", False, seed)
        heads.append(model.regressor.weight.detach().clone())
    assert torch.equal(heads[0], heads[1]) and not torch.equal(heads[0], heads[2])


def test_fine_tuned_model_round_trips(tokenizer, tmp_path):
    model = small_model(tokenizer)
    model.config.extra.update(hapexpr_target_mean=2.0, hapexpr_target_std=3.0)
    model.save_pretrained(tmp_path / "ft")
    again = DNABERT2ForRegression.from_pretrained(tmp_path / "ft")
    ex = gc_task(tokenizer, n=4)
    s = settings()
    np.testing.assert_allclose(predict(model, ex.tokens, s), predict(again, ex.tokens, s), rtol=1e-6)
    with pytest.raises(ModelDirectoryError, match="regressor"):
        model.bert.save_pretrained(tmp_path / "enc")
        DNABERT2ForRegression.from_pretrained(tmp_path / "enc")


def test_download_skips_a_local_directory_and_explains_failures(tmp_path, monkeypatch):
    d, _ = write_public_checkpoint(tmp_path)
    (d / "tokenizer.json").write_text("{}")
    import huggingface_hub

    def no_network(*a, **k):
        raise AssertionError("a local directory must not touch the network")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    assert fetch_model(str(d), None, tmp_path / "unused") == d
    (d / "tokenizer.json").unlink()
    with pytest.raises(ModelDirectoryError, match="tokenizer.json"):
        fetch_model(str(d), None, tmp_path / "unused")
    with pytest.raises(DownloadError, match="pinned"):
        fetch_model("zhihan1996/DNABERT-2-117M", "main", tmp_path / "m")

    def unreachable(*a, **k):  # what snapshot_download raises on a compute node without internet
        raise OSError("Name or service not known")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", unreachable)
    with pytest.raises(DownloadError, match="(?s)could not download zhihan1996/DNABERT-2-117M .*local directory"):
        fetch_model("zhihan1996/DNABERT-2-117M", "b5ae377faa374ee160eec1c27b8494436cc94451", tmp_path / "m")


def test_bf16_autocast_runs_on_cpu(tokenizer, tmp_path):
    """The GPU's bf16 autocast path on the CPU, so that dtype errors surface without a GPU."""
    train, valid = gc_task(tokenizer, seed=1), gc_task(tokenizer, n=16, seed=2)
    s = settings(precision="bf16", steps=4, objective="centred")
    model, history = finetune(small_model(tokenizer), train, valid, s, tmp_path / "bf16")
    assert np.isfinite(history["train_loss"]).all() and np.isfinite(history["valid_loss"].dropna()).all()
    pred = predict(model, train.tokens, s)
    assert pred.dtype == np.float64 and np.isfinite(pred).all()
    emb = embed(model.bert, train.tokens[:3], 128, "mean", {"cls": 1, "sep": 2, "pad": 3}, device="cpu",
                precision="bf16")
    assert emb.dtype == np.float32 and np.isfinite(emb).all()


def test_pretraining_sees_only_the_training_genes_by_default():
    from hapexpr.dnabert2_train import pretraining_genes

    genes = pd.DataFrame({"gene_id": ["a", "b", "c", "d"], "split": ["train", "valid", "test", "train"]})
    assert pretraining_genes(genes, "train")["gene_id"].tolist() == ["a", "d"]
    assert pretraining_genes(genes, "all")["gene_id"].tolist() == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="no gene of split train"):
        pretraining_genes(genes.assign(split="test"), "train")
    with pytest.raises(ValueError, match="pretrain_genes"):
        pretraining_genes(genes, "test")


# ---------------------------------------------------------------------------------------------------------------
# Loading details checked against the original remote code (issue 14, item 7)


def test_embedding_padding_row_is_pad_not_unk(tmp_path):
    """padding_idx is [PAD] (id 3): the public config.json sets no pad_token_id, and BertConfig's default 0 is [UNK],
    which every N run of a real window uses and which must keep learning."""
    d, _ = write_public_checkpoint(tmp_path)
    model = DNABERT2Model.from_pretrained(d)
    emb = model.embeddings.word_embeddings
    assert emb.padding_idx == SPECIAL_TOKENS.index("[PAD]") == 3
    ids = torch.tensor([[1, 0, 7, 0, 2, 3, 3]])  # [CLS] [UNK] x [UNK] [SEP] [PAD] [PAD]
    model(ids, (ids != 3).long()).sum().backward()
    grad = emb.weight.grad
    assert grad[0].abs().sum() > 0 and grad[3].abs().sum() == 0


def test_safetensors_with_the_tied_weight_under_the_decoder_name_loads(tmp_path):
    """A conversion that kept the tied matrix as cls.predictions.decoder.weight (and dropped the embedding's name)."""
    gen = torch.Generator().manual_seed(1)
    sd = public_state_dict(PUBLIC_CONFIG, gen)
    d = tmp_path / "decoder_named"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(PUBLIC_CONFIG))
    save_file({k: v for k, v in sd.items() if k != "bert.embeddings.word_embeddings.weight"},
              str(d / "model.safetensors"))
    encoder = DNABERT2Model.from_pretrained(d)
    mlm = DNABERT2ForMaskedLM.from_pretrained(d)
    expected = sd["cls.predictions.decoder.weight"]
    assert torch.equal(encoder.embeddings.word_embeddings.weight.detach(), expected)
    assert torch.equal(mlm.bert.embeddings.word_embeddings.weight.detach(), expected)
    assert torch.equal(mlm.cls.predictions.decoder.weight.detach(), expected)


REMOTE_CONFIG_CODE = """
from transformers import PretrainedConfig


class ToyRemoteConfig(PretrainedConfig):
    model_type = "toy_remote_dnabert"

    def __init__(self, vocab_size=8, hidden_size=4, alibi_starting_size=512, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.alibi_starting_size = alibi_starting_size
"""

REMOTE_MODEL_CODE = """
import torch
from transformers import PreTrainedModel

from .configuration_toy import ToyRemoteConfig


class ToyRemoteModel(PreTrainedModel):
    config_class = ToyRemoteConfig
    base_model_prefix = "bert"

    def __init__(self, config):
        super().__init__(config)
        # as DNABERT-2's bert_layers.BertEmbeddings does
        self.word_embeddings = torch.nn.Embedding(config.vocab_size, config.hidden_size,
                                                  padding_idx=config.pad_token_id)
        self.alibi = config.alibi_starting_size
        self.post_init()

    def forward(self, input_ids, attention_mask=None):
        return (self.word_embeddings(input_ids),)
"""


def test_trust_remote_code_hands_the_remote_code_a_config_with_pad_token_id(tmp_path):
    """The opt-in remote-code path on a checkpoint whose own config class lacks pad_token_id (as DNABERT-2's does
    under the pinned transformers): loading it as AutoModel does fails; RemoteCodeEncoder gives it a BertConfig
    read from the same config.json, with [PAD] as pad_token_id."""
    import transformers
    d = tmp_path / "remote"
    d.mkdir()
    (d / "configuration_toy.py").write_text(REMOTE_CONFIG_CODE)
    (d / "modeling_toy.py").write_text(REMOTE_MODEL_CODE)
    (d / "config.json").write_text(json.dumps({
        "model_type": "toy_remote_dnabert", "vocab_size": 8, "hidden_size": 4, "num_attention_heads": 2,
        "alibi_starting_size": 64,
        "architectures": ["ToyRemoteModel"],
        "auto_map": {"AutoConfig": "configuration_toy.ToyRemoteConfig", "AutoModel": "modeling_toy.ToyRemoteModel"},
    }))
    weight = torch.arange(32, dtype=torch.float32).reshape(8, 4)
    save_file({"word_embeddings.weight": weight}, str(d / "model.safetensors"))
    with pytest.raises(AttributeError, match="pad_token_id"):
        transformers.AutoModel.from_pretrained(str(d), trust_remote_code=True)
    encoder = load_encoder(d, trust_remote_code=True)
    assert isinstance(encoder, RemoteCodeEncoder)
    assert encoder.model.word_embeddings.padding_idx == 3 and encoder.model.alibi == 64
    hidden = encoder(torch.tensor([[1, 2]]), torch.ones(1, 2, dtype=torch.long))
    assert torch.equal(hidden[0], weight[[1, 2]])
