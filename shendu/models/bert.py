"""BERT: a post-LayerNorm Transformer encoder with token, position and segment embeddings, a pooler, and
the pretraining and fine-tuning heads (after Hugging Face transformers' ``modeling_bert.py``).

Read top to bottom: the config, the embeddings, one encoder layer (self-attention through
``F.scaled_dot_product_attention`` with the padding mask, then the feed-forward block, each followed by
residual + LayerNorm), the encoder and pooler, ``BertModel``, then the heads. Module names are
transformers', so ``state_dict`` keys are the published checkpoints' exactly
(``bert.embeddings.word_embeddings.weight``, ``bert.encoder.layer.0.attention.self.query.weight``, ...,
``cls.predictions.transform.dense.weight``) and ``from_pretrained``/``save_pretrained``
(``shendu.models.pretrained``) read and write Hugging Face directories.

Shape letters: N batch, T tokens, C = hidden_size, H = num_attention_heads, D = C // H, V = vocab_size,
F = intermediate_size.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from shendu.grad_mode import is_grad_enabled
from shendu.models.bert_arrays import additive_mask, inference_encoder
from shendu.models.outputs import (
    BaseModelOutputWithPooling,
    MaskedLMOutput,
    NextSentencePredictorOutput,
    PreTrainingOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from shendu.models.pretrained import PreTrainedModel
from shendu.nn import functional as F
from shendu.nn import init
from shendu.nn.containers import ModuleList
from shendu.nn.layers.dropout import Dropout
from shendu.nn.layers.embedding import Embedding
from shendu.nn.layers.linear import Linear
from shendu.nn.layers.normalization import LayerNorm
from shendu.nn.module import Module
from shendu.nn.parameter import Parameter
from shendu.tensor import Tensor

__all__ = ["BertConfig", "BertModel", "BertForMaskedLM", "BertForNextSentencePrediction", "BertForPreTraining",
           "BertForSequenceClassification", "BertForTokenClassification", "BertForQuestionAnswering",
           "mean_pooling"]

ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish", "tanh")
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")


@dataclass
class BertConfig:
    """BERT's hyperparameters under config.json's field names (transformers' ``BertConfig`` defaults:
    bert-base). ``num_labels``/``problem_type``/``classifier_dropout`` shape the classification heads;
    ``extra`` keeps config.json's other fields so that a saved config round-trips."""

    model_type: ClassVar[str] = "bert"

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0
    position_embedding_type: str = "absolute"
    classifier_dropout: float | None = None
    num_labels: int = 2
    problem_type: str | None = None
    tie_word_embeddings: bool = True
    extra: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                     "max_position_embeddings", "type_vocab_size", "num_labels"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ValueError(f"BertConfig: {name} must be a positive int, got {getattr(self, name)!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"BertConfig: hidden_size {self.hidden_size} is not a multiple of "
                             f"num_attention_heads {self.num_attention_heads}")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"BertConfig: hidden_act must be one of {ACTIVATIONS}, got {self.hidden_act!r}")
        if self.position_embedding_type != "absolute":
            raise ValueError(f"BertConfig: only position_embedding_type 'absolute' is supported, got "
                             f"{self.position_embedding_type!r}")
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ValueError(f"BertConfig: problem_type must be None or one of {PROBLEM_TYPES}, "
                             f"got {self.problem_type!r}")

    @classmethod
    def from_dict(cls, data: dict) -> BertConfig:
        """From config.json's object: known fields by name, ``num_labels`` from ``id2label``, the rest in ``extra``."""
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in data.items() if k in names}
        if "num_labels" not in kwargs and isinstance(data.get("id2label"), dict):
            kwargs["num_labels"] = len(data["id2label"])
        extra = {k: v for k, v in data.items() if k not in names and k not in ("model_type", "architectures")}
        return cls(**kwargs, extra=extra)

    def to_dict(self) -> dict:
        """config.json's object (transformers reads ``num_labels`` from ``id2label``)."""
        data = dict(self.extra)
        data.update({f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"})
        if len(data.get("id2label") or {}) != self.num_labels:
            data["id2label"] = {str(i): f"LABEL_{i}" for i in range(self.num_labels)}
            data["label2id"] = {f"LABEL_{i}": i for i in range(self.num_labels)}
        data["model_type"] = self.model_type
        return data

    def replace(self, **changes) -> BertConfig:
        """A copy with ``changes`` applied (a TypeError names unknown fields)."""
        """A copy with the fields in ``changes`` replaced (e.g. ``config.replace(num_labels=3)``); an unknown
        field is a TypeError. Changing ``num_labels`` drops the stored ``id2label``/``label2id`` names."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(f"BertConfig: unknown field(s) {unknown}")
        extra = self.extra
        if "num_labels" in changes:  # the stored label names no longer apply
            extra = {k: v for k, v in extra.items() if k not in ("id2label", "label2id")}
        return dataclasses.replace(self, **{"extra": extra, **changes})


def _activation(name: str, x: Tensor) -> Tensor:
    if name == "gelu":
        return F.gelu(x)
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return F.gelu(x, approximate="tanh")
    if name == "relu":
        return F.relu(x)
    if name in ("silu", "swish"):
        return F.silu(x)
    return x.tanh()


class BertEmbeddings(Module):
    """word + position + token-type embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig):
        super().__init__()
        C = config.hidden_size
        self.word_embeddings = Embedding(config.vocab_size, C, padding_idx=config.pad_token_id)
        self.position_embeddings = Embedding(config.max_position_embeddings, C)
        self.token_type_embeddings = Embedding(config.type_vocab_size, C)
        self.LayerNorm = LayerNorm(C, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)
        self.max_positions = config.max_position_embeddings

    def forward(self, input_ids: Tensor | None, token_type_ids: Tensor | None = None,
                position_ids: Tensor | None = None, inputs_embeds: Tensor | None = None) -> Tensor:
        x = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds  # (N, T, C)
        T = x.shape[1]
        if T > self.max_positions:
            raise ValueError(f"BertModel: sequence length {T} exceeds max_position_embeddings {self.max_positions}")
        if position_ids is None:
            x = x + self.position_embeddings.weight[:T]                   # (N, T, C)
        else:
            x = x + self.position_embeddings(position_ids)
        if token_type_ids is None:
            x = x + self.token_type_embeddings.weight[0]                  # segment 0 everywhere
        else:
            x = x + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(Module):
    """Multi-head self-attention with separate ``query``/``key``/``value`` projections (checkpoint names)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        C = config.hidden_size
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = C // config.num_attention_heads
        self.query = Linear(C, C)
        self.key = Linear(C, C)
        self.value = Linear(C, C)
        self.dropout_prob = config.attention_probs_dropout_prob

    def forward(self, x: Tensor, keep: Tensor | None = None, output_attentions: bool = False):
        """``keep``: bool (N, 1, 1, T), False for padded keys, or None."""
        N, T, C = x.shape
        H, D = self.num_attention_heads, self.attention_head_size
        q = self.query(x).view(N, T, H, D).transpose(1, 2)                # (N, H, T, D)
        k = self.key(x).view(N, T, H, D).transpose(1, 2)                  # (N, H, T, D)
        v = self.value(x).view(N, T, H, D).transpose(1, 2)                # (N, H, T, D)
        p = self.dropout_prob if self.training else 0.0
        probs = None
        if output_attentions:  # the probabilities are wanted: the attention written out
            scores = q.matmul(k.transpose(-1, -2)) * (1.0 / math.sqrt(D))  # (N, H, T, T)
            if keep is not None:  # transformers' eager attention: a sequence of only padding attends uniformly
                scores = scores + Tensor._wrap(additive_mask(keep._data, scores.dtype))
            probs = F.softmax(scores, dim=-1)                             # (N, H, T, T)
            y = F.dropout(probs, p, self.training).matmul(v)              # (N, H, T, D)
        else:
            # (a sequence of only padding gets zero context, as transformers' sdpa attention)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=p)  # (N, H, T, D)
        return y.transpose(1, 2).reshape(N, T, C), probs                  # (N, T, C)


class BertSelfOutput(Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, h: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)     # post-LN


class BertAttention(Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, x: Tensor, keep: Tensor | None = None, output_attentions: bool = False):
        y, probs = self.self(x, keep, output_attentions)
        return self.output(y, x), probs


class BertIntermediate(Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.intermediate_size)
        self.act = config.hidden_act

    def forward(self, x: Tensor) -> Tensor:
        return _activation(self.act, self.dense(x))                       # (N, T, F)


class BertOutput(Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, h: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)     # (N, T, C)


class BertLayer(Module):
    """``x = LN(x + attn(x))``, then ``x = LN(x + W2 act(W1 x))``."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, x: Tensor, keep: Tensor | None = None, output_attentions: bool = False):
        a, probs = self.attention(x, keep, output_attentions)
        return self.output(self.intermediate(a), a), probs


class BertEncoder(Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.layer = ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])

    def _raw_ok(self, x: Tensor, output_hidden_states: bool, output_attentions: bool) -> bool:
        """The array path applies: nothing to differentiate, no dropout, no per-layer outputs, NumPy arrays, and
        no ONNX export running (the exporter records the ops the module path runs)."""
        if _exporting():
            return False
        if output_hidden_states or output_attentions or type(x._data) is not np.ndarray or x.dtype != np.float32:
            return False
        if self.training and (self.config.hidden_dropout_prob > 0 or self.config.attention_probs_dropout_prob > 0):
            return False
        return not (is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.parameters())))

    def forward(self, x: Tensor, keep: np.ndarray | None = None, output_hidden_states: bool = False,
                output_attentions: bool = False):
        if self._raw_ok(x, output_hidden_states, output_attentions):
            return Tensor._wrap(inference_encoder(self, x._data, keep, self.config)), None, None
        keep_t = keep if keep is None or isinstance(keep, Tensor) else Tensor._wrap(keep)
        hidden, attentions = ((x,) if output_hidden_states else None), (() if output_attentions else None)
        for layer in self.layer:
            x, probs = layer(x, keep_t, output_attentions)
            if output_hidden_states:
                hidden += (x,)
            if output_attentions:
                attentions += (probs,)
        return x, hidden, attentions


class BertPooler(Module):
    """tanh(dense(first token's hidden state)): the sentence vector the NSP and classification heads read."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.dense(x[:, 0]).tanh()                                 # (N, C)


class BertPreTrainedModel(PreTrainedModel, Module):
    """What every BERT class shares: the config class, the ``bert.`` prefix, transformers' initialisation
    and the old checkpoints' ``gamma``/``beta`` LayerNorm names and stored id buffers."""

    config_class = BertConfig
    base_model_prefix = "bert"
    _optional_keys = ("pooler.",)  # the masked-LM, token and span heads' checkpoints have no pooler

    def _init_weights(self) -> None:
        """transformers' initialisation: Linear and Embedding weights N(0, initializer_range²) (the padding
        row 0), biases 0, LayerNorms 1 and 0."""
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, (Linear, Embedding)):
                init.normal_(module.weight, 0.0, std)
                if isinstance(module, Linear) and module.bias is not None:
                    init.zeros_(module.bias)
                if isinstance(module, Embedding) and module.padding_idx is not None:
                    module.weight._data[module.padding_idx] = 0
            elif isinstance(module, LayerNorm):
                init.ones_(module.weight)
                init.zeros_(module.bias)
            elif isinstance(module, BertLMPredictionHead):
                init.zeros_(module.bias)

    @classmethod
    def _map_loaded_keys(cls, state: dict) -> dict:
        def rename(k: str) -> str:
            if ".LayerNorm." in k or k.startswith("LayerNorm."):
                k = k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
            return k
        # older transformers saved the position_ids / token_type_ids buffers; shendu makes them per forward
        return {rename(k): v for k, v in state.items()
                if not k.endswith(("embeddings.position_ids", "embeddings.token_type_ids"))}


def _exporting() -> bool:
    from shendu.onnx import is_in_onnx_export
    return is_in_onnx_export()


def _padding_keep(attention_mask: Tensor | None, N: int, T: int) -> np.ndarray | Tensor | None:
    """(N, T) 1 = token, 0 = padding -> a bool (N, 1, 1, T) array of the keys that take part (None: all)."""
    if attention_mask is None:
        return None
    if tuple(attention_mask.shape) != (N, T):
        raise ValueError(f"BertModel: attention_mask must have the input's shape ({N}, {T}), "
                         f"got {tuple(attention_mask.shape)}")
    if _exporting():  # the mask is an input of the exported graph: build the keys' mask with recorded ops
        return (attention_mask != 0)[:, None, None, :]
    keep = attention_mask._data.astype(bool, copy=False)
    if keep.all():
        return None  # nothing padded: the unmasked attention is the same and faster
    return keep[:, None, None, :]


class BertModel(BertPreTrainedModel):
    r"""The BERT encoder: embeddings, ``num_hidden_layers`` post-LN layers and (optionally) the pooler.

    Args:
        config: a :class:`BertConfig`.
        add_pooling_layer: build the pooler (``pooler_output``); the masked-LM, token and span heads go without.

    Shape:
        - ``input_ids``: (N, T) int token ids; ``attention_mask``: (N, T), 1 for tokens and 0 for padding
          (padded keys are masked out of every query's attention); ``token_type_ids``: (N, T) segment ids
          (default 0); ``position_ids``: (N, T) or (T,) (default ``0 .. T-1``).
        - Output: a :class:`~shendu.models.outputs.BaseModelOutputWithPooling` with ``last_hidden_state``
          (N, T, C) and ``pooler_output`` (N, C); ``hidden_states`` (num_layers + 1 of (N, T, C)) and
          ``attentions`` (num_layers of (N, H, T, T)) when asked.

    Attributes: parameter names and initialisation as transformers' ``BertModel``.
    """

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self._init_weights()

    def get_input_embeddings(self) -> Embedding:
        """The word-embedding table (``embeddings.word_embeddings``)."""
        """The token embedding table, an ``Embedding(vocab_size, hidden_size)`` (the MLM head's decoder
        shares its weight when ``tie_word_embeddings``)."""
        return self.embeddings.word_embeddings

    def forward(self, input_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, position_ids: Tensor | None = None,
                inputs_embeds: Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False, return_dict: bool = True):
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("BertModel: pass exactly one of input_ids and inputs_embeds")
        if input_ids is not None and (input_ids.ndim != 2 or input_ids.dtype.kind not in "iu"):
            raise ValueError(f"BertModel: input_ids must be (N, T) integers, got {tuple(input_ids.shape)} "
                             f"{input_ids.dtype}")
        N, T = (input_ids if input_ids is not None else inputs_embeds).shape[:2]
        keep = _padding_keep(attention_mask, N, T)
        x = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)  # (N, T, C)
        x, hidden, attentions = self.encoder(x, keep, output_hidden_states, output_attentions)
        pooled = self.pooler(x) if self.pooler is not None else None
        out = BaseModelOutputWithPooling(x, pooled, hidden, attentions)
        return out if return_dict else out.to_tuple()


def mean_pooling(last_hidden_state: Tensor, attention_mask: Tensor | None = None) -> Tensor:
    """Sentence embeddings: the mean of each sequence's token vectors over its non-padding positions
    (sentence-transformers' mean pooling). Shape: (N, T, C), (N, T) -> (N, C)."""
    if attention_mask is None:
        return last_hidden_state.mean(dim=1)
    if tuple(attention_mask.shape) != tuple(last_hidden_state.shape[:2]):
        raise ValueError(f"mean_pooling: attention_mask {tuple(attention_mask.shape)} must match the hidden "
                         f"states' (N, T) {tuple(last_hidden_state.shape[:2])}")
    m = Tensor._wrap(attention_mask._data.astype(last_hidden_state.dtype)[..., None])  # (N, T, 1)
    return (last_hidden_state * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)


# ---- heads ------------------------------------------------------------------------------------------------

class BertPredictionHeadTransform(Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.act = config.hidden_act
        self.LayerNorm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: Tensor) -> Tensor:
        return self.LayerNorm(_activation(self.act, self.dense(x)))


class BertLMPredictionHead(Module):
    """transform, then the decoder onto the vocabulary. With ``tie_word_embeddings`` (the default) its weight is
    the word embeddings' and its bias is ``cls.predictions.bias``; untied, the decoder has its own of each
    (and ``cls.predictions.bias`` is unused, as in transformers)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = Linear(config.hidden_size, config.vocab_size)
        self.bias = Parameter(np.zeros(config.vocab_size, dtype=np.float32))
        if config.tie_word_embeddings:
            self.decoder.bias = self.bias

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.transform(x))                            # (N, T, V)


class BertOnlyMLMHead(Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)

    def forward(self, x: Tensor) -> Tensor:
        return self.predictions(x)


class BertOnlyNSPHead(Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.seq_relationship = Linear(config.hidden_size, 2)

    def forward(self, pooled: Tensor) -> Tensor:
        return self.seq_relationship(pooled)


class BertPreTrainingHeads(Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)
        self.seq_relationship = Linear(config.hidden_size, 2)

    def forward(self, x: Tensor, pooled: Tensor):
        return self.predictions(x), self.seq_relationship(pooled)


def _tie_decoder(model, predictions: BertLMPredictionHead) -> None:
    """With tie_word_embeddings the decoder shares the word embeddings (and ``predictions.bias``); shared
    entries are not written by save_pretrained (as transformers)."""
    if model.config.tie_word_embeddings:
        predictions.decoder.weight = model.bert.embeddings.word_embeddings.weight
        model._tied_keys = ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias")


def _mlm_loss(logits: Tensor, labels: Tensor | None) -> Tensor | None:
    if labels is None:
        return None
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def _forward_kwargs(kwargs: dict) -> dict:
    names = ("attention_mask", "token_type_ids", "position_ids", "inputs_embeds", "output_attentions",
             "output_hidden_states")
    unknown = sorted(set(kwargs) - set(names))
    if unknown:
        raise TypeError(f"BERT forward got unexpected keyword argument(s) {unknown}")
    return kwargs


class BertForMaskedLM(BertPreTrainedModel):
    """BERT with the masked-LM head (no pooler). ``labels`` (N, T): target ids, -100 where no loss is taken.
    Output: ``MaskedLMOutput`` with ``logits`` (N, T, V) and ``loss`` (mean cross-entropy)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config)
        self._init_weights()
        _tie_decoder(self, self.cls.predictions)

    def forward(self, input_ids: Tensor | None = None, labels: Tensor | None = None, return_dict: bool = True,
                **kwargs) -> MaskedLMOutput:
        out = self.bert(input_ids, **_forward_kwargs(kwargs))
        logits = self.cls(out.last_hidden_state)
        res = MaskedLMOutput(_mlm_loss(logits, labels), logits, out.hidden_states, out.attentions)
        return res if return_dict else res.to_tuple()


class BertForNextSentencePrediction(BertPreTrainedModel):
    """BERT with the next-sentence head on the pooled vector. ``labels`` (N,): 0 = B follows A, 1 = random B."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        self.cls = BertOnlyNSPHead(config)
        self._init_weights()

    def forward(self, input_ids: Tensor | None = None, labels: Tensor | None = None, return_dict: bool = True,
                **kwargs) -> NextSentencePredictorOutput:
        out = self.bert(input_ids, **_forward_kwargs(kwargs))
        logits = self.cls(out.pooler_output)                              # (N, 2)
        loss = None if labels is None else F.cross_entropy(logits.reshape(-1, 2), labels.reshape(-1))
        res = NextSentencePredictorOutput(loss, logits, out.hidden_states, out.attentions)
        return res if return_dict else res.to_tuple()


class BertForPreTraining(BertPreTrainedModel):
    """BERT with both pretraining heads; the loss is masked-LM + next-sentence when both label sets are given."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        self.cls = BertPreTrainingHeads(config)
        self._init_weights()
        _tie_decoder(self, self.cls.predictions)

    def forward(self, input_ids: Tensor | None = None, labels: Tensor | None = None,
                next_sentence_label: Tensor | None = None, return_dict: bool = True, **kwargs) -> PreTrainingOutput:
        out = self.bert(input_ids, **_forward_kwargs(kwargs))
        logits, nsp = self.cls(out.last_hidden_state, out.pooler_output)  # (N, T, V), (N, 2)
        loss = None
        if labels is not None and next_sentence_label is not None:
            loss = _mlm_loss(logits, labels) + F.cross_entropy(nsp.reshape(-1, 2), next_sentence_label.reshape(-1))
        res = PreTrainingOutput(loss, logits, nsp, out.hidden_states, out.attentions)
        return res if return_dict else res.to_tuple()


class BertForSequenceClassification(BertPreTrainedModel):
    """BERT with a linear classifier on the pooled vector (``config.num_labels`` outputs).

    The loss follows ``config.problem_type``, or when None transformers' rule: one label -> regression (MSE),
    integer labels -> single-label cross-entropy, float labels -> multi-label BCE with logits.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.num_labels = config.num_labels
        self.bert = BertModel(config)
        p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = Dropout(p)
        self.classifier = Linear(config.hidden_size, config.num_labels)
        self._init_weights()

    def forward(self, input_ids: Tensor | None = None, labels: Tensor | None = None, return_dict: bool = True,
                **kwargs) -> SequenceClassifierOutput:
        out = self.bert(input_ids, **_forward_kwargs(kwargs))
        logits = self.classifier(self.dropout(out.pooler_output))        # (N, num_labels)
        loss = None
        if labels is not None:
            kind = self.config.problem_type
            if kind is None:
                kind = ("regression" if self.num_labels == 1 else
                        "single_label_classification" if labels.dtype.kind in "iu" else "multi_label_classification")
            if kind == "regression":
                loss = (F.mse_loss(logits.squeeze(), labels.squeeze().to(logits.dtype)) if self.num_labels == 1
                        else F.mse_loss(logits, labels.to(logits.dtype)))
            elif kind == "single_label_classification":
                loss = F.cross_entropy(logits.reshape(-1, self.num_labels), labels.reshape(-1))
            else:
                loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
        res = SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions)
        return res if return_dict else res.to_tuple()


class BertForTokenClassification(BertPreTrainedModel):
    """BERT with a per-token linear classifier (no pooler). ``labels`` (N, T), -100 where no loss is taken."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = Dropout(p)
        self.classifier = Linear(config.hidden_size, config.num_labels)
        self._init_weights()

    def forward(self, input_ids: Tensor | None = None, labels: Tensor | None = None, return_dict: bool = True,
                **kwargs) -> TokenClassifierOutput:
        out = self.bert(input_ids, **_forward_kwargs(kwargs))
        logits = self.classifier(self.dropout(out.last_hidden_state))    # (N, T, num_labels)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.reshape(-1, self.num_labels), labels.reshape(-1), ignore_index=-100)
        res = TokenClassifierOutput(loss, logits, out.hidden_states, out.attentions)
        return res if return_dict else res.to_tuple()


class BertForQuestionAnswering(BertPreTrainedModel):
    """BERT with span start/end logits (``qa_outputs``: C -> num_labels = 2; no pooler). The loss is the mean of
    the start and end cross-entropies; positions outside [0, T) are clamped to T and ignored (transformers)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.qa_outputs = Linear(config.hidden_size, config.num_labels)
        self._init_weights()

    def forward(self, input_ids: Tensor | None = None, start_positions: Tensor | None = None,
                end_positions: Tensor | None = None, return_dict: bool = True,
                **kwargs) -> QuestionAnsweringModelOutput:
        out = self.bert(input_ids, **_forward_kwargs(kwargs))
        logits = self.qa_outputs(out.last_hidden_state)                  # (N, T, 2)
        start, end = (t.squeeze(-1) for t in logits.split(1, dim=-1))     # (N, T) each
        loss = None
        if start_positions is not None and end_positions is not None:
            T = start.shape[1]
            s, e = (Tensor._wrap(np.clip(pos._data.reshape(-1), 0, T)) for pos in (start_positions, end_positions))
            loss = (F.cross_entropy(start, s, ignore_index=T) + F.cross_entropy(end, e, ignore_index=T)) / 2
        res = QuestionAnsweringModelOutput(loss, start, end, out.hidden_states, out.attentions)
        return res if return_dict else res.to_tuple()

