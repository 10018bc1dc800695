"""DNABERT-2 (Zhou et al. 2023) in plain torch: MosaicBERT with ALiBi attention and GEGLU feed-forward layers.

Loads the public checkpoint `zhihan1996/DNABERT-2-117M` from a local directory with its original parameter names
(`bert.encoder.layer.0.attention.self.Wqkv.weight`, `...mlp.gated_layers.weight`, `...mlp.wo.weight`,
`...mlp.layernorm.weight`, `cls.predictions.*`) and its original config.json keys, without Triton and without the
checkpoint's own Python code: attention is `torch.nn.functional.scaled_dot_product_attention` with the ALiBi bias
(plus the padding mask) passed as an additive float mask. Layer layout as in MosaicBERT's `bert_layers.py`:
post-LayerNorm after attention (`attention.output.LayerNorm`) and after the gated MLP (`mlp.layernorm`); the gated
MLP applies GELU to the FIRST half of `gated_layers(x)` and multiplies by the second half.

A model directory holds config.json, model.safetensors (or the hub's pytorch_model.bin, read with
`weights_only=True`) and tokenizer.json. `save_pretrained` writes exactly that public layout.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from hapexpr.io import atomic_path

log = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
LEGACY_WEIGHTS_NAME = "pytorch_model.bin"
TOKENIZER_NAME = "tokenizer.json"
SPECIAL_TOKENS = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
PAD_ID = SPECIAL_TOKENS.index("[PAD]")  # 3 in DNABERT-2's tokenizer.json
# The MLM decoder weight is the word-embedding matrix (tied, as in BERT): checkpoints may store it under either name.
TIED_WEIGHTS = ("bert.embeddings.word_embeddings.weight", "cls.predictions.decoder.weight")


class ModelDirectoryError(FileNotFoundError):
    """A model directory lacks a file the model needs; the message names it."""


class WindowTooLongError(ValueError):
    """A window has more tokens than the model's position budget and the config says to refuse it."""


# ---------------------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class DNABERT2Config:
    """The keys of DNABERT-2-117M's config.json (a transformers BertConfig plus `alibi_starting_size`).

    Keys this class does not model (auto_map, torch_dtype, transformers_version, ...) are kept in `extra` and
    written back unchanged, so a public config round-trips.
    """

    vocab_size: int = 4096
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.0
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    # [PAD] of the tokenizer: the embedding row that gets no gradient. DNABERT-2's config.json does not set it, and
    # BertConfig's default (0) is [UNK], which the N runs of real windows use.
    pad_token_id: int = PAD_ID
    alibi_starting_size: int = 512
    classifier_dropout: float | None = None
    position_embedding_type: str = "absolute"
    model_type: str = "bert"
    architectures: list[str] = field(default_factory=lambda: ["BertForMaskedLM"])
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not a multiple of num_attention_heads {self.num_attention_heads}"
            )
        if self.hidden_act not in ("gelu", "gelu_new", "gelu_pytorch_tanh"):
            raise ValueError(f"hidden_act {self.hidden_act!r}: DNABERT-2 uses 'gelu'")

    @classmethod
    def from_dict(cls, d: dict) -> DNABERT2Config:
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in d.items() if k in known}, extra={k: v for k, v in d.items() if k not in known})

    def to_dict(self) -> dict:
        d = asdict(self)
        extra = d.pop("extra")
        return {**d, **extra}

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> DNABERT2Config:
        with open(path) as fh:
            try:
                return cls.from_dict(json.load(fh))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not valid JSON ({e})") from e

    def to_json_file(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> DNABERT2Config:
        return cls.from_json_file(require_file(directory, CONFIG_NAME))

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.to_json_file(Path(directory) / CONFIG_NAME)


def require_file(directory: str | os.PathLike, *names: str) -> Path:
    """The first of `names` present in `directory`, or an error naming what is missing and what to do."""
    d = Path(directory)
    if not d.is_dir():
        raise ModelDirectoryError(f"model directory {d} does not exist (download it with the download_model rule, "
                                  f"or train one with pretrain_dna_lm)")
    for name in names:
        if (d / name).is_file():
            return d / name
    wanted = " or ".join(names)
    present = ", ".join(sorted(p.name for p in d.iterdir())) or "nothing"
    raise ModelDirectoryError(f"model directory {d} lacks {wanted} (it holds: {present}); "
                              f"a DNABERT-2 directory needs config.json, model.safetensors and tokenizer.json")


# ---------------------------------------------------------------------------------------------------------------
# Architecture (module and parameter names follow MosaicBERT / DNABERT-2 bert_layers.py)
# ---------------------------------------------------------------------------------------------------------------


def alibi_slopes(n_heads: int) -> list[float]:
    """ALiBi head slopes (Press et al.), with MosaicBERT's interleaving when n_heads is not a power of 2."""

    def power_of_2(n: int) -> list[float]:
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(n_heads).is_integer():
        return power_of_2(n_heads)
    closest = 2 ** math.floor(math.log2(n_heads))
    return power_of_2(closest) + alibi_slopes(2 * closest)[0::2][: n_heads - closest]


class BertEmbeddings(nn.Module):
    def __init__(self, config: DNABERT2Config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    """Fused QKV projection (`Wqkv`), attention by SDPA with the ALiBi + padding bias as float mask."""

    def __init__(self, config: DNABERT2Config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.p_dropout = config.attention_probs_dropout_prob
        self.Wqkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        qkv = self.Wqkv(x).view(b, s, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype),
                                             dropout_p=self.p_dropout if self.training else 0.0)
        return out.transpose(1, 2).reshape(b, s, -1)


class BertSelfOutput(nn.Module):
    def __init__(self, config: DNABERT2Config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class BertAttention(nn.Module):
    def __init__(self, config: DNABERT2Config):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, bias), x)


class BertGatedLinearUnitMLP(nn.Module):
    """GEGLU: gelu(first half of gated_layers(x)) * second half, then `wo`, residual, post-LayerNorm."""

    def __init__(self, config: DNABERT2Config):
        super().__init__()
        self.intermediate_size = config.intermediate_size
        self.gated_layers = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=False)
        self.act = nn.GELU(approximate="none" if config.hidden_act == "gelu" else "tanh")
        self.wo = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.gated_layers(x)
        gated, non_gated = h[..., : self.intermediate_size], h[..., self.intermediate_size :]
        h = self.dropout(self.act(gated) * non_gated)
        return self.layernorm(self.wo(h) + x)


class BertLayer(nn.Module):
    def __init__(self, config: DNABERT2Config):
        super().__init__()
        self.attention = BertAttention(config)
        self.mlp = BertGatedLinearUnitMLP(config)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.attention(x, bias))


class BertEncoder(nn.Module):
    def __init__(self, config: DNABERT2Config):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))
        self.register_buffer("slopes", torch.tensor(alibi_slopes(config.num_attention_heads)), persistent=False)

    def attention_bias(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """[batch, heads, seq, seq]: -slope * |i - j| plus -10000 on padded keys (as MosaicBERT)."""
        s = attention_mask.shape[1]
        pos = torch.arange(s, device=attention_mask.device)
        distance = (pos[None, :] - pos[:, None]).abs().float()
        alibi = -self.slopes.float()[:, None, None] * distance[None]
        pad = (1.0 - attention_mask[:, None, None, :].float()) * -10000.0
        return alibi[None] + pad

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        bias = self.attention_bias(attention_mask)
        for layer in self.layer:
            x = layer(x, bias)
        return x


class DNABERT2PreTrainedModel(nn.Module):
    """Shared loading and saving: a directory with config.json + model.safetensors (public parameter names)."""

    base_prefix = "bert."

    def __init__(self, config: DNABERT2Config):
        super().__init__()
        self.config = config

    def init_weights(self) -> None:
        """BERT initialisation: normal(0, initializer_range) for linear and embedding weights, zero biases."""
        std = self.config.initializer_range
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=std)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # Names as they appear in a checkpoint: subclasses map their own state dict to the public names.
    def public_state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().contiguous() for k, v in self.state_dict().items()}

    def load_public_state_dict(self, state: dict[str, torch.Tensor], source: str = "") -> None:
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        if missing:
            raise ValueError(f"{source}: the checkpoint lacks {len(missing)} parameters the model needs, "
                             f"e.g. {missing[:5]}; is it a DNABERT-2 / MosaicBERT checkpoint?")
        for k, v in own.items():
            if state[k].shape != v.shape:
                raise ValueError(f"{source}: parameter {k} has shape {tuple(state[k].shape)} in the checkpoint, "
                                 f"the config gives {tuple(v.shape)}")
        unused = sorted(set(state) - set(own))
        if unused:
            log.info("%s: %d checkpoint tensors not used by %s (e.g. %s)", source, len(unused),
                     type(self).__name__, unused[:3])
        self.load_state_dict({k: state[k] for k in own}, strict=True)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, **kwargs) -> DNABERT2PreTrainedModel:
        config = DNABERT2Config.from_pretrained(directory)
        model = cls(config, **kwargs)
        state = restore_tied_weights(read_weights(directory))
        model.load_public_state_dict(cls._map_names(model, state), str(directory))
        return model

    @classmethod
    def _map_names(cls, model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return state

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.config.save_pretrained(directory)
        with atomic_path(Path(directory) / WEIGHTS_NAME) as tmp:  # atomic, and readable as the umask says
            save_file(self.public_state_dict(), str(tmp), metadata={"format": "pt"})


def restore_tied_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Both names of the tied embedding/decoder weight: safetensors conversions keep only one of them (either)."""
    embedding, decoder = TIED_WEIGHTS
    state = dict(state)
    if embedding not in state and decoder in state:
        state[embedding] = state[decoder]
    elif decoder not in state and embedding in state:
        state[decoder] = state[embedding]
    return state


def read_weights(directory: str | os.PathLike) -> dict[str, torch.Tensor]:
    """model.safetensors, or the hub's pytorch_model.bin (loaded with weights_only=True: no unpickling of code)."""
    path = require_file(directory, WEIGHTS_NAME, LEGACY_WEIGHTS_NAME)
    if path.name == WEIGHTS_NAME:
        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


class DNABERT2Model(DNABERT2PreTrainedModel):
    """The encoder (`bert.*` in the public checkpoint): token ids -> hidden states [batch, seq, hidden]."""

    def __init__(self, config: DNABERT2Config):
        super().__init__(config)
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.init_weights()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        return self.encoder(self.embeddings(input_ids), attention_mask)

    def public_state_dict(self) -> dict[str, torch.Tensor]:
        return {"bert." + k: v for k, v in super().public_state_dict().items()}

    @classmethod
    def _map_names(cls, model, state):
        return {k[len("bert."):]: v for k, v in state.items() if k.startswith("bert.")} or state


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, config: DNABERT2Config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.act = nn.GELU()
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.act(self.dense(x)))


class BertLMPredictionHead(nn.Module):
    def __init__(self, config: DNABERT2Config, embedding_weight: nn.Parameter):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        self.decoder.weight = embedding_weight  # tied, as in BERT

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(x))


class BertOnlyMLMHead(nn.Module):
    def __init__(self, config: DNABERT2Config, embedding_weight: nn.Parameter):
        super().__init__()
        self.predictions = BertLMPredictionHead(config, embedding_weight)


class DNABERT2ForMaskedLM(DNABERT2PreTrainedModel):
    """Encoder plus the MLM head (`cls.predictions.*`): the class of the public checkpoint."""

    def __init__(self, config: DNABERT2Config):
        super().__init__(config)
        self.bert = DNABERT2Model(config)
        self.cls = BertOnlyMLMHead(config, self.bert.embeddings.word_embeddings.weight)
        self.init_weights()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Logits at every position; with `labels` (-100 = ignore) also the cross-entropy over labelled positions."""
        hidden = self.bert(input_ids, attention_mask)
        if labels is None:
            return None, self.cls.predictions(hidden)
        where = labels != -100
        logits = self.cls.predictions(hidden[where])
        return F.cross_entropy(logits.float(), labels[where]), logits

    def public_state_dict(self) -> dict[str, torch.Tensor]:
        # safetensors refuses shared storage: write the tied decoder weight as its own copy (as pytorch_model.bin has it)
        return {k: v.detach().clone().contiguous() for k, v in self.state_dict().items()}


class DNABERT2ForRegression(DNABERT2PreTrainedModel):
    """Encoder + dropout + linear regressor on the [CLS] hidden state (or the mean over non-padding tokens).

    Saved in the public layout (`bert.*`) plus `regressor.weight` / `regressor.bias`; the pooling is stored in
    config.json under `hapexpr_pooling`.
    """

    def __init__(self, config: DNABERT2Config, pooling: str | None = None, encoder: nn.Module | None = None):
        super().__init__(config)
        self.pooling = pooling or config.extra.get("hapexpr_pooling", "cls")
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"pooling {self.pooling!r}: expected 'cls' or 'mean'")
        config.extra["hapexpr_pooling"] = self.pooling
        self.bert = encoder if encoder is not None else DNABERT2Model(config)
        p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(p)
        self.regressor = nn.Linear(config.hidden_size, 1)
        nn.init.normal_(self.regressor.weight, std=config.initializer_range)
        nn.init.zeros_(self.regressor.bias)

    def embed_chunks(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled embedding per row of the batch [batch, hidden]."""
        hidden = self.bert(input_ids, attention_mask)
        return pool(hidden, attention_mask, self.pooling)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.regressor(self.dropout(self.embed_chunks(input_ids, attention_mask))).squeeze(-1)

    @classmethod
    def from_encoder(cls, directory: str | os.PathLike, pooling: str = "cls") -> DNABERT2ForRegression:
        """A fresh regression head on a pretrained encoder directory (public layout)."""
        encoder = DNABERT2Model.from_pretrained(directory)
        return cls(encoder.config, pooling=pooling, encoder=encoder)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, **kwargs) -> DNABERT2ForRegression:
        config = DNABERT2Config.from_pretrained(directory)
        model = cls(config, **kwargs)
        state = read_weights(directory)
        if "regressor.weight" not in state:
            raise ModelDirectoryError(f"{directory}/{WEIGHTS_NAME} has no regressor.weight: it is an encoder, not a "
                                      f"fine-tuned regression model (use from_encoder)")
        model.load_public_state_dict(state, str(directory))
        return model


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """[CLS] hidden state, or the mean over the non-padding positions."""
    if pooling == "cls":
        return hidden[:, 0]
    m = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


def remote_code_config(directory: str | os.PathLike, pad_token_id: int):
    """The config handed to the checkpoint's code: transformers' BertConfig read from config.json (auto_map and
    alibi_starting_size kept), as DNABERT-2's own example does for transformers > 4.28, with `pad_token_id` set:
    the checkpoint's config class, which AutoModel loads otherwise, lacks it under the pinned transformers."""
    from transformers import BertConfig

    config = BertConfig.from_pretrained(str(directory))
    config.pad_token_id = pad_token_id
    return config


class RemoteCodeEncoder(nn.Module):
    """Opt-in (`trust_remote_code: true`): the checkpoint's own code via transformers AutoModel, behind the same
    interface as DNABERT2Model (ids, mask -> hidden states). Tested on a toy checkpoint with remote code; the real
    DNABERT-2 code needs the hub files."""

    def __init__(self, directory: str | os.PathLike):
        super().__init__()
        from transformers import AutoModel

        self.config = DNABERT2Config.from_pretrained(directory)
        self.model = AutoModel.from_pretrained(str(directory), trust_remote_code=True,
                                               config=remote_code_config(directory, self.config.pad_token_id))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        out = self.model(input_ids, attention_mask=attention_mask)
        return out[0] if isinstance(out, (tuple, list)) else out.last_hidden_state


def load_encoder(directory: str | os.PathLike, trust_remote_code: bool = False) -> nn.Module:
    """The native encoder, or (only when the user opted in) the checkpoint's remote code."""
    if trust_remote_code:
        log.warning("trust_remote_code is on: running the Python code shipped in %s", directory)
        return RemoteCodeEncoder(directory)
    return DNABERT2Model.from_pretrained(directory)


# ---------------------------------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------------------------------

_NOT_ACGT = re.compile(r"[^ACGT]+")


def normalise_sequence(seq: str) -> str:
    """Upper case; every run of non-ACGT letters (N, IUPAC codes, soft-masked gaps) becomes a single N.

    A long N run (padding past a chromosome end, an assembly gap) would otherwise cost one [UNK] token per base.
    """
    return _NOT_ACGT.sub("N", seq.upper())


class DNATokenizer:
    """BPE tokenizer from a tokenizer.json (the DNABERT-2 one or one trained by `train_bpe_tokenizer`)."""

    def __init__(self, path: str | os.PathLike):
        from tokenizers import Tokenizer

        self.path = Path(path)
        self._tok = Tokenizer.from_file(str(path))
        vocab = self._tok.get_vocab()
        missing = [t for t in SPECIAL_TOKENS if t not in vocab]
        if missing:
            raise ValueError(f"{path}: tokenizer lacks the special tokens {missing} that DNABERT-2 uses")
        self.unk_id, self.cls_id, self.sep_id, self.pad_id, self.mask_id = (vocab[t] for t in SPECIAL_TOKENS)
        self.special_ids = {vocab[t] for t in SPECIAL_TOKENS}
        self.vocab_size = self._tok.get_vocab_size()

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> DNATokenizer:
        return cls(require_file(directory, TOKENIZER_NAME))

    def encode(self, seq: str) -> list[int]:
        """Token ids of a DNA sequence, without [CLS]/[SEP]."""
        return self._tok.encode(normalise_sequence(seq), add_special_tokens=False).ids

    def encode_batch(self, seqs: list[str]) -> list[list[int]]:
        encs = self._tok.encode_batch([normalise_sequence(s) for s in seqs], add_special_tokens=False)
        return [e.ids for e in encs]

    def decode(self, ids: list[int]) -> str:
        """The sequence the ids spell (special tokens dropped, [UNK] read as N)."""
        out = []
        for i in ids:
            if i == self.unk_id:
                out.append("N")
            elif i not in self.special_ids:
                out.append(self._tok.id_to_token(i))
        return "".join(out)

    def save(self, directory: str | os.PathLike) -> None:
        self._tok.save(str(Path(directory) / TOKENIZER_NAME))


def train_bpe_tokenizer(sequences: list[str], vocab_size: int, directory: str | os.PathLike) -> DNATokenizer:
    """Train a DNABERT-2 style BPE tokenizer (special tokens [UNK] [CLS] [SEP] [PAD] [MASK] = ids 0-4).

    Writes tokenizer.json plus tokenizer_config.json / special_tokens_map.json so transformers' AutoTokenizer
    reads the directory too.
    """
    from tokenizers import Tokenizer, models, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=list("ACGTN"), min_frequency=2)
    tok.train_from_iterator((normalise_sequence(s) for s in sequences), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tok.save(str(d / TOKENIZER_NAME))
    specials = {"unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                "mask_token": "[MASK]"}
    (d / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n")
    (d / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 1000000000, **specials}, indent=2) + "\n")
    return DNATokenizer(d / TOKENIZER_NAME)


# ---------------------------------------------------------------------------------------------------------------
# Windows -> model inputs
# ---------------------------------------------------------------------------------------------------------------


def check_budget(n_tokens: int, max_tokens: int, too_long: str, what: str) -> None:
    """Refuse a window whose tokens ([CLS] and [SEP] included) exceed the budget, unless it may be split."""
    if too_long not in ("split", "error"):
        raise ValueError(f"too_long {too_long!r}: expected 'split' or 'error'")
    if n_tokens + 2 > max_tokens and too_long == "error":
        raise WindowTooLongError(
            f"{what}: {n_tokens} tokens + [CLS] + [SEP] exceed the model's position budget of {max_tokens} tokens "
            f"(models.dnabert2.max_tokens). Shorten window.length, raise max_tokens (ALiBi extrapolates, at a cost "
            f"in memory), or set models.dnabert2.too_long: split to encode the window in pieces and average them.")


def chunk_tokens(ids: np.ndarray | list[int], max_tokens: int) -> list[np.ndarray]:
    """Consecutive pieces of at most max_tokens - 2 ids (room for [CLS] and [SEP]); at least one piece."""
    room = max_tokens - 2
    if room < 1:
        raise ValueError(f"max_tokens {max_tokens} leaves no room next to [CLS] and [SEP]")
    ids = np.asarray(ids, dtype=np.int64)
    n = max(1, math.ceil(len(ids) / room))
    return [ids[i * room:(i + 1) * room] for i in range(n)]


def build_batch(token_lists: list, tokenizer_ids: dict, max_tokens: int) -> tuple[torch.Tensor, torch.Tensor,
                                                                                   torch.Tensor, torch.Tensor]:
    """Chunks of every sequence as one padded batch.

    Returns input_ids, attention_mask [chunks, len], owner [chunks] (index of the sequence each chunk belongs to)
    and weight [chunks] (its share of the sequence's tokens, so chunk embeddings average to a sequence embedding).
    """
    rows, owner, weight = [], [], []
    for i, ids in enumerate(token_lists):
        pieces = chunk_tokens(ids, max_tokens)
        total = sum(len(p) for p in pieces) or 1
        for p in pieces:
            rows.append(np.concatenate([[tokenizer_ids["cls"]], p, [tokenizer_ids["sep"]]]))
            owner.append(i)
            weight.append(max(len(p), 1) / max(total, 1) if len(pieces) > 1 else 1.0)
    length = max(len(r) for r in rows)
    input_ids = np.full((len(rows), length), tokenizer_ids["pad"], dtype=np.int64)
    mask = np.zeros((len(rows), length), dtype=np.int64)
    for j, r in enumerate(rows):
        input_ids[j, :len(r)] = r
        mask[j, :len(r)] = 1
    return (torch.from_numpy(input_ids), torch.from_numpy(mask), torch.tensor(owner),
            torch.tensor(weight, dtype=torch.float32))


def special_ids(tokenizer: DNATokenizer) -> dict:
    return {"cls": tokenizer.cls_id, "sep": tokenizer.sep_id, "pad": tokenizer.pad_id}


# ---------------------------------------------------------------------------------------------------------------
# Fetching a model from the hub (the download_model rule)
# ---------------------------------------------------------------------------------------------------------------

HUB_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
             WEIGHTS_NAME, LEGACY_WEIGHTS_NAME, "*.py", "generation_config.json", "README.md", "LICENSE*"]


class DownloadError(RuntimeError):
    """The hub could not be reached or did not have the model at the pinned revision."""


def check_model_directory(directory: str | os.PathLike) -> Path:
    """A usable model directory has config.json, model weights and tokenizer.json; otherwise name what is missing."""
    require_file(directory, CONFIG_NAME)
    require_file(directory, WEIGHTS_NAME, LEGACY_WEIGHTS_NAME)
    require_file(directory, TOKENIZER_NAME)
    return Path(directory)


def is_local_model(spec: str) -> bool:
    """A model given as a path (absolute, ./ or ../, or an existing directory) rather than a hub id owner/name."""
    return spec.startswith(("/", "./", "../", "~")) or Path(spec).expanduser().is_dir()


def fetch_model(spec: str, revision: str | None, dest: str | os.PathLike) -> Path:
    """Download hub model `spec` at the pinned `revision` into `dest` (huggingface_hub.snapshot_download).

    A local directory is only checked and returned: no network is touched.
    """
    if is_local_model(spec):
        return check_model_directory(Path(spec).expanduser())
    if not revision or not re.fullmatch(r"[0-9a-f]{40}", revision):
        raise DownloadError(f"model {spec}: revision {revision!r} is not a pinned 40-character commit hash; set "
                            f"models.dnabert2.revision to the commit to use (the hub page lists them)")
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(repo_id=spec, revision=revision, local_dir=str(dest), allow_patterns=HUB_FILES)
    except Exception as e:  # network, 404, gated repo: one message that says what to do
        raise DownloadError(
            f"could not download {spec} at revision {revision} into {dest}: {type(e).__name__}: {e}. "
            f"Run this localrule on a machine with internet access, or download the model yourself and set "
            f"models.dnabert2.model to its local directory.") from e
    return check_model_directory(dest)
