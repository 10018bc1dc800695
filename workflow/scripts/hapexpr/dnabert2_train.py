"""DNABERT-2 training and prediction: masked-LM pretraining, fine-tuning with exact resume, frozen embeddings + ridge.

Training examples and prediction rows come from hapexpr.protocols (unique haplotypes with their weights; an
individual's prediction is the mean of its two haplotypes'); a window sequence is never encoded twice.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hapexpr import protocols
from hapexpr.haplotypes import read_map, read_windows
from hapexpr.protocols import attach
from hapexpr.io import read_parquet
from hapexpr.dnabert2 import (
    DNABERT2Config,
    DNABERT2ForMaskedLM,
    DNABERT2ForRegression,
    DNATokenizer,
    build_batch,
    check_budget,
    load_encoder,
    pool,
    special_ids,
    train_bpe_tokenizer,
)
from hapexpr.training import (
    TrainerSettings,
    Targets,
    TrainingTask,
    autocast,
    autocast_dtype,
    describe,
    lr_lambda,
    pick_device,
    shuffled_targets,
    train,
)

log = logging.getLogger(__name__)

_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def reverse_complement(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


# ---------------------------------------------------------------------------------------------------------------
# Tokenised windows
# ---------------------------------------------------------------------------------------------------------------


def tokenize_windows(windows: pd.DataFrame, tokenizer: DNATokenizer, max_tokens: int,
                     too_long: str = "split", chrom: str = "") -> pd.DataFrame:
    """gene_id, hap_id, n_tokens, input_ids (int32 list, no [CLS]/[SEP]) for every fixed-length window.

    A window with more tokens than the budget is an error (too_long='error') or is kept whole and later encoded
    in pieces whose embeddings are averaged (too_long='split').
    """
    # a store built at a longer window holds many haplotypes whose windows here are the same: each distinct window
    # is tokenised once (the demo's 8,192-bp store read at 4 kb: about half)
    codes, distinct = pd.factorize(windows["window"])
    encoded = [np.asarray(i, dtype=np.int32) for i in tokenizer.encode_batch(list(distinct))]
    ids = [encoded[c] for c in codes]
    n = np.array([len(i) for i in ids], dtype=np.int64)
    if len(n):
        worst = int(np.argmax(n))
        row = windows.iloc[worst]
        check_budget(int(n[worst]), max_tokens, too_long,
                     f"{chrom + ': ' if chrom else ''}gene {row['gene_id']} haplotype {row['hap_id']} "
                     f"({len(row['window'])} bp window)")
    return pd.DataFrame({
        "gene_id": windows["gene_id"].to_numpy(),
        "hap_id": windows["hap_id"].to_numpy().astype(np.int64),
        "n_tokens": n,
        "input_ids": ids,
    })


# ---------------------------------------------------------------------------------------------------------------
# Masked-LM pretraining of a small DNABERT-2
# ---------------------------------------------------------------------------------------------------------------


def reference_windows(reference_path: str, genes: pd.DataFrame, length: int) -> list[str]:
    """The reference window of every gene (TSS-centred, minus strand reverse-complemented), for pretraining."""
    from hapexpr.reference import Reference

    ref = Reference(reference_path)
    out = []
    try:
        for g in genes.itertuples():
            chrom = ref.resolve(str(g.chrom), "genes.tsv")
            start = int(g.tss) - length // 2
            seq = ref.fetch(chrom, start, start + length)
            out.append(reverse_complement(seq) if g.strand == "-" else seq)
    finally:
        ref.close()
    return out


def pretraining_genes(genes: pd.DataFrame, which: str) -> pd.DataFrame:
    """The genes whose reference windows pretrain the DNA LM and its tokenizer: `train` (the default: the training
    genes only, so that no held-out gene's sequence is seen, even without labels) or `all`."""
    if which == "all":
        return genes
    if which != "train":
        raise ValueError(f"models.dnabert2.pretrain_genes: {which!r} is not one of train, all")
    chosen = genes[genes["split"] == "train"]
    if chosen.empty:
        raise ValueError("models.dnabert2.pretrain_genes is 'train' but genes.tsv has no gene of split train; "
                         "check splits.genes or set pretrain_genes: all")
    log.info("pretraining on the reference windows of the %d training genes (of %d)", len(chosen), len(genes))
    return chosen


@dataclass
class PretrainSettings:
    vocab_size: int = 4096
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 256
    max_tokens: int = 128
    steps: int = 300
    batch_size: int = 16
    lr: float = 1e-3
    warmup_steps: int = 30
    mask_prob: float = 0.15
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"


def mask_tokens(ids: torch.Tensor, attention: torch.Tensor, tok: DNATokenizer, prob: float,
                gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: `prob` of the non-special tokens are predicted; of those 80% [MASK], 10% random, 10% kept."""
    special = torch.zeros_like(ids, dtype=torch.bool)
    for s in tok.special_ids:
        special |= ids == s
    chosen = (torch.rand(ids.shape, generator=gen) < prob) & ~special & attention.bool()
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    r = torch.rand(ids.shape, generator=gen)
    inputs = ids.clone()
    inputs[chosen & (r < 0.8)] = tok.mask_id
    random_ids = torch.randint(len(SPECIAL_OFFSET), tok.vocab_size, ids.shape, generator=gen)
    swap = chosen & (r >= 0.8) & (r < 0.9)
    inputs[swap] = random_ids[swap]
    return inputs, labels


SPECIAL_OFFSET = range(5)  # ids 0-4 are the special tokens of a DNABERT-2 vocabulary


def pretrain_dna_lm(sequences: list[str], out_dir: str | os.PathLike, s: PretrainSettings) -> pd.DataFrame:
    """Train a BPE tokenizer and a small DNABERT-2 by masked LM; write the model directory in the public layout.

    Returns the training log (step, loss, lr).
    """
    torch.manual_seed(s.seed)
    out = Path(out_dir)
    tok = train_bpe_tokenizer(sequences, s.vocab_size, out)
    log.info("BPE tokenizer: %d tokens (asked for %d) from %d sequences", tok.vocab_size, s.vocab_size,
             len(sequences))
    room = s.max_tokens - 2
    pieces = []
    for ids in tok.encode_batch(sequences):
        pieces += [ids[i:i + room] for i in range(0, len(ids), room) if len(ids[i:i + room]) >= 8]
    if not pieces:
        raise ValueError("pretrain_dna_lm: the reference windows gave no token pieces (all N?)")
    log.info("%d pieces of at most %d tokens", len(pieces), room)
    config = DNABERT2Config(vocab_size=tok.vocab_size, hidden_size=s.hidden_size,
                            num_hidden_layers=s.num_hidden_layers, num_attention_heads=s.num_attention_heads,
                            intermediate_size=s.intermediate_size, max_position_embeddings=s.max_tokens,
                            alibi_starting_size=s.max_tokens, pad_token_id=tok.pad_id)
    device = pick_device(s.device)
    amp = autocast_dtype(device, s.precision)
    log.info("pretraining on %s", describe(device, amp))
    model = DNABERT2ForMaskedLM(config).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda("linear", s.warmup_steps, s.steps))
    gen = torch.Generator().manual_seed(s.seed)
    ids_map = special_ids(tok)
    rows, t0 = [], time.time()
    model.train()
    for step in range(1, s.steps + 1):
        pick = torch.randint(len(pieces), (s.batch_size,), generator=gen).tolist()
        ids, attention, _, _ = build_batch([pieces[i] for i in pick], ids_map, s.max_tokens)
        inputs, labels = mask_tokens(ids, attention, tok, s.mask_prob, gen)
        with autocast(device, amp):
            loss, _ = model(inputs.to(device), attention.to(device), labels.to(device))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        rows.append({"step": step, "loss": loss.item(), "lr": sched.get_last_lr()[0]})
        if step % 50 == 0 or step == s.steps:
            recent = np.mean([r["loss"] for r in rows[-50:]])
            log.info("pretrain step %d/%d  mlm loss %.4f  (%.0f s)", step, s.steps, recent, time.time() - t0)
    model.cpu().save_pretrained(out)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------------
# Examples: unique haplotypes with targets and weights
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Examples:
    keys: pd.DataFrame  # gene_id, hap_id
    tokens: list  # token id arrays, no [CLS]/[SEP]
    y: np.ndarray
    w: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


def _examples(keys: pd.DataFrame, tokens: pd.DataFrame) -> Examples:
    """Examples of the contract's (gene_id, hap_id, y, weight) keys with their token lists (or embeddings)."""
    keys = attach(keys, tokens[["gene_id", "hap_id", "input_ids"]], "DNABERT-2 tokens")
    return Examples(keys[["gene_id", "hap_id"]].reset_index(drop=True), list(keys["input_ids"]),
                    keys["y"].to_numpy(np.float64), keys["weight"].to_numpy(np.float64))


def shuffled(ex: Examples, seed: int) -> Examples:
    """The negative control: targets (and their weights) permuted across examples (hapexpr.training)."""
    return Examples(ex.keys, ex.tokens, *shuffled_targets(ex.y, ex.w, seed))


# ---------------------------------------------------------------------------------------------------------------
# Fine-tuning through the one trainer (hapexpr.training)


@dataclass
class FinetuneSettings(TrainerSettings):
    """The trainer's options (hapexpr.training.TrainerSettings) and DNABERT-2's own (config `models.dnabert2`)."""

    lr: float = 5e-5
    pooling: str = "cls"
    max_tokens: int = 512
    eval_batch_size: int = 16

    NOT_FINGERPRINTED = TrainerSettings.NOT_FINGERPRINTED | {"eval_batch_size"}


def sequence_embeddings(model: DNABERT2ForRegression, token_lists: list, max_tokens: int, ids_map: dict,
                        device: torch.device, amp: torch.dtype | None) -> torch.Tensor:
    """Pooled embedding per sequence [n, hidden] (float32); a split window is the token-weighted mean of its pieces."""
    ids, mask, owner, weight = build_batch(token_lists, ids_map, max_tokens)
    with autocast(device, amp):
        hidden = model.bert(ids.to(device), mask.to(device))
    chunk = pool(hidden, mask.to(device), model.pooling).float()
    out = torch.zeros(len(token_lists), chunk.shape[1], device=device)
    return out.index_add(0, owner.to(device), chunk * weight.to(device)[:, None])


def _ids_map(model: DNABERT2ForRegression) -> dict:
    return model.config.extra.get("hapexpr_special_ids", {"cls": 1, "sep": 2, "pad": 3})


class FinetuneTask(TrainingTask):
    """DNABERT-2 with a regression head, for the trainer: token lists of unique haplotypes in, standardised out."""

    def __init__(self, model: DNABERT2ForRegression, train: Examples, valid: Examples | None, s: FinetuneSettings):
        super().__init__(model)
        self.train_ex, self.valid_ex, self.s = train, valid, s
        self.device = pick_device(s.device)
        self.amp = autocast_dtype(self.device, s.precision)

    def forward(self, idx: np.ndarray) -> torch.Tensor:
        emb = sequence_embeddings(self.model, [self.train_ex.tokens[i] for i in idx], self.s.max_tokens,
                                  _ids_map(self.model), self.device, self.amp)
        return self.model.regressor(self.model.dropout(emb)).squeeze(-1)

    def predict_valid(self, idx: np.ndarray) -> np.ndarray:
        return predict(self.model, [self.valid_ex.tokens[i] for i in idx], self.s, _ids_map(self.model),
                       device=self.device, standardised=True)

    def set_scale(self, mean: float, std: float) -> None:
        self.model.config.extra.update({"hapexpr_target_mean": mean, "hapexpr_target_std": std})


def targets(ex: Examples) -> Targets:
    """The trainer's view of examples: targets, weights and genes."""
    return Targets(ex.y, ex.w, ex.keys["gene_id"].to_numpy())


def finetune(model: DNABERT2ForRegression, train_ex: Examples, valid: Examples | None, s: FinetuneSettings,
             checkpoint_dir: str | os.PathLike | None = None, pretrained: str = "",
             on_step: Callable | None = None) -> tuple[DNABERT2ForRegression, pd.DataFrame]:
    """Fine-tune `model` with the one trainer (hapexpr.training.train); return it and the training log.

    Checkpoints in `checkpoint_dir` resume exactly; `pretrained` (the model directory and control) joins the
    fingerprint. `on_step(step, model, optimizer)` is called after every step.
    """
    task = FinetuneTask(model, train_ex, valid, s)
    history = train(task, targets(train_ex), targets(valid) if valid is not None else None, s, checkpoint_dir,
                    extra_fingerprint=pretrained, on_step=on_step)
    return model, history


@torch.no_grad()
def predict(model: DNABERT2ForRegression, token_lists: list, s: FinetuneSettings, ids_map: dict | None = None,
            device: torch.device | None = None, standardised: bool = False) -> np.ndarray:
    """One prediction per token list (in target units unless `standardised`); batches sorted by length.

    Equal token lists are encoded once: haplotypes distinct in a store built at a longer window often share their
    window here (the demo's 8,192-bp store read at 4 kb: about half of the windows DNABERT-2 predicts)."""
    device = device or pick_device(s.device)
    amp = autocast_dtype(device, s.precision)
    ids_map = ids_map or _ids_map(model)
    was_training = model.training
    model.eval().to(device)
    codes, _ = pd.factorize(pd.Series([np.asarray(t).tobytes() for t in token_lists], dtype=object))
    first = np.unique(codes, return_index=True)[1]  # one token list per code, in code order
    distinct = [token_lists[j] for j in first]
    out = np.empty(len(distinct))
    order = np.argsort([len(t) for t in distinct], kind="stable")
    for i in range(0, len(order), s.eval_batch_size):
        idx = order[i:i + s.eval_batch_size]
        emb = sequence_embeddings(model, [distinct[j] for j in idx], s.max_tokens, ids_map, device, amp)
        out[idx] = model.regressor(emb).squeeze(-1).float().cpu().numpy()
    out = out[codes]
    model.train(was_training)
    if standardised:
        return out
    return out * model.config.extra.get("hapexpr_target_std", 1.0) + model.config.extra.get("hapexpr_target_mean", 0.0)


@torch.no_grad()
def embed(encoder: torch.nn.Module, token_lists: list, max_tokens: int, pooling: str, ids_map: dict,
          batch_size: int = 16, device: str = "auto", precision: str = "auto") -> np.ndarray:
    """Frozen embeddings [n, hidden] (float32), one per token list."""
    dev = pick_device(device)
    holder = DNABERT2ForRegression(encoder.config, pooling=pooling, encoder=encoder)
    s = FinetuneSettings(max_tokens=max_tokens, eval_batch_size=batch_size, precision=precision)
    holder.eval().to(dev)
    amp = autocast_dtype(dev, s.precision)
    out = None
    order = np.argsort([len(t) for t in token_lists], kind="stable")
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        e = sequence_embeddings(holder, [token_lists[j] for j in idx], max_tokens, ids_map, dev, amp).cpu().numpy()
        if out is None:
            out = np.empty((len(token_lists), e.shape[1]), dtype=np.float32)
        out[idx] = e
    return out if out is not None else np.empty((0, encoder.config.hidden_size), dtype=np.float32)


# ---------------------------------------------------------------------------------------------------------------
# Predictions in the contract format
# ---------------------------------------------------------------------------------------------------------------


def hap_predictions(keys: pd.DataFrame, values: np.ndarray) -> pd.DataFrame:
    """gene_id, hap_id, y_pred: one prediction per unique haplotype (hapexpr.protocols turns them into rows)."""
    return pd.DataFrame({"gene_id": keys["gene_id"].to_numpy(), "hap_id": keys["hap_id"].to_numpy(),
                         "y_pred": np.asarray(values, dtype=np.float64)})


def needed_haplotypes(protocol: str, maps: pd.DataFrame, individuals: pd.DataFrame, tokens: pd.DataFrame,
                      genes: pd.DataFrame) -> pd.DataFrame:
    """The token rows to encode for the rows of a trained protocol (hapexpr.protocols.needed_haplotypes), each once."""
    keys = protocols.needed_haplotypes(protocols.row_protocols(protocol), genes, individuals, maps)
    return attach(keys, tokens, "DNABERT-2 tokens")


# ---------------------------------------------------------------------------------------------------------------
# Frozen embeddings + ridge
# ---------------------------------------------------------------------------------------------------------------


def fit_ridge(X: np.ndarray, y: np.ndarray, w: np.ndarray, Xv: np.ndarray | None, yv: np.ndarray | None,
              wv: np.ndarray | None, alphas: list[float]):
    """Standardise + ridge; alpha chosen by weighted MSE on the validation examples (or RidgeCV-free default 1.0
    without them). Returns the fitted pipeline and the chosen alpha."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def fit(alpha):
        p = make_pipeline(StandardScaler(), Ridge(alpha=alpha))
        p.fit(X, y, ridge__sample_weight=w)
        return p

    if Xv is None or len(Xv) == 0:
        return fit(1.0), 1.0
    scores = {a: float(np.sum(wv * (fit(a).predict(Xv) - yv) ** 2) / np.sum(wv)) for a in alphas}
    best = min(scores, key=scores.get)
    log.info("ridge alpha by validation MSE: %s -> %g", {a: round(v, 4) for a, v in scores.items()}, best)
    return fit(best), best


def load_model_for_finetuning(model_dir: str, pooling: str, trust_remote_code: bool,
                              seed: int = 0) -> DNABERT2ForRegression:
    """The pretrained encoder with a new regression head, initialised from `seed` (as GTA and the CNN are): the same
    settings give the same model in every process."""
    encoder = load_encoder(model_dir, trust_remote_code)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DNABERT2ForRegression(encoder.config, pooling=pooling, encoder=encoder)
    tok = DNATokenizer.from_pretrained(model_dir)
    model.config.extra["hapexpr_special_ids"] = special_ids(tok)
    return model


def tokenize_store(store_path: str, genes: pd.DataFrame, length: int, tokenizer: DNATokenizer, max_tokens: int,
                   too_long: str = "split", chrom: str = "") -> pd.DataFrame:
    """Tokens of every unique haplotype of a chromosome's store, from its `length`-bp windows
    (hapexpr.haplotypes.read_windows: TSS-anchored, strand-oriented, cropped around the TSS)."""
    windows = read_windows([store_path], genes, length)
    return tokenize_windows(windows, tokenizer, max_tokens, too_long, chrom)


# ---------------------------------------------------------------------------------------------------------------
# One call per rule
# ---------------------------------------------------------------------------------------------------------------


def read_store_tables(token_paths: list[str], map_paths: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tokens and haplotype maps of every chromosome, concatenated."""
    return pd.concat([read_parquet(p) for p in token_paths], ignore_index=True), read_map(map_paths)


def protocol_examples(protocol: str, tokens: pd.DataFrame, maps: pd.DataFrame, genes: pd.DataFrame,
                      expression: pd.DataFrame, individuals: pd.DataFrame) -> tuple[Examples, Examples]:
    """Training and validation examples of a protocol (hapexpr.protocols.examples: unique haplotypes, weights)."""
    return tuple(_examples(protocols.examples(protocol, split, genes, expression, individuals, maps), tokens)
                 for split in ("train", "valid"))


def protocol_predictions(protocol: str, genes: pd.DataFrame, maps: pd.DataFrame, expression: pd.DataFrame,
                         individuals: pd.DataFrame, f: pd.DataFrame) -> pd.DataFrame:
    """The rows of every protocol the model trained on `protocol` answers (hapexpr.protocols.row_protocols)."""
    return protocols.prediction_rows(protocols.row_protocols(protocol), f, genes, expression, individuals, maps)


def train_dnabert2(protocol: str, token_paths: list[str], map_paths: list[str], genes: pd.DataFrame,
                   expression: pd.DataFrame, individuals: pd.DataFrame, model_dir: str, s: FinetuneSettings,
                   out_dir: str, checkpoint_dir: str, trust_remote_code: bool = False,
                   control: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fine-tune on one protocol, save the model into `out_dir`, predict every needed unique haplotype once.

    control='shuffled' permutes the training targets (the negative control `dnabert2_shuffled`).
    Returns (predictions in the contract format, training log).
    """
    tokens, maps = read_store_tables(token_paths, map_paths)
    train, valid = protocol_examples(protocol, tokens, maps, genes, expression, individuals)
    log.info("%s: %d training and %d validation unique haplotypes (weights sum %.0f)", protocol, len(train),
             len(valid), train.w.sum())
    s = s.for_protocol(protocol)
    if control == "shuffled":
        train = shuffled(train, s.seed)
    model = load_model_for_finetuning(model_dir, s.pooling, trust_remote_code, s.seed)
    model, history = finetune(model, train, valid, s, checkpoint_dir, pretrained=f"{model_dir}|{control}")
    model.save_pretrained(out_dir)  # with trust_remote_code the encoder tensors keep the remote code's names
    need = needed_haplotypes(protocol, maps, individuals, tokens, genes)
    log.info("predicting %d unique haplotypes", len(need))
    f = hap_predictions(need, predict(model, list(need["input_ids"]), s))
    return protocol_predictions(protocol, genes, maps, expression, individuals, f), history


def embed_store(token_path: str, model_dir: str, pooling: str, max_tokens: int, batch_size: int,
                trust_remote_code: bool = False, precision: str = "auto", reference_only: bool = False) -> pd.DataFrame:
    """gene_id, hap_id, e0..e{H-1}: the frozen embedding of every unique haplotype of one chromosome, or only of the
    reference windows (hap_id 0: all that the cross_gene protocol reads) with `reference_only`."""
    tokens = read_parquet(token_path)
    if reference_only:
        tokens = tokens[tokens["hap_id"] == 0].reset_index(drop=True)
    encoder = load_encoder(model_dir, trust_remote_code)
    ids_map = special_ids(DNATokenizer.from_pretrained(model_dir))
    E = embed(encoder, list(tokens["input_ids"]), max_tokens, pooling, ids_map, batch_size, precision=precision)
    out = pd.DataFrame(E, columns=[f"e{i}" for i in range(E.shape[1])])
    out.insert(0, "hap_id", tokens["hap_id"].to_numpy())
    out.insert(0, "gene_id", tokens["gene_id"].to_numpy())
    return out


def frozen_predictions(trained: list[str], embedding_paths: list[str], map_paths: list[str],
                       genes: pd.DataFrame, expression: pd.DataFrame, individuals: pd.DataFrame,
                       alphas: list[float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ridge on cached frozen embeddings, per protocol, with the same unique-haplotype examples as fine-tuning."""
    emb = pd.concat([read_parquet(p) for p in embedding_paths], ignore_index=True)
    cols = [c for c in emb.columns if c.startswith("e")]
    emb["input_ids"] = list(emb[cols].to_numpy(np.float32))  # examples carry the embedding in place of tokens
    maps = read_map(map_paths)
    preds, chosen = [], []
    for protocol in trained:
        train, valid = protocol_examples(protocol, emb, maps, genes, expression, individuals)
        X, Xv = np.stack(train.tokens), (np.stack(valid.tokens) if len(valid) else None)
        pipe, alpha = fit_ridge(X, train.y, train.w, Xv, valid.y, valid.w, alphas)
        f = hap_predictions(emb, pipe.predict(emb[cols].to_numpy(np.float32)))
        preds.append(protocol_predictions(protocol, genes, maps, expression, individuals, f))
        chosen.append({"protocol": protocol, "alpha": alpha, "n_train": len(train), "n_valid": len(valid)})
    return pd.concat(preds, ignore_index=True), pd.DataFrame(chosen)
