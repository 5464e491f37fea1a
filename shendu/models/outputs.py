"""``ModelOutput``: what the pretrained-style models return (Hugging Face's ``ModelOutput`` contract).

A model output is a dataclass whose fields are optional tensors. It reads three ways: as attributes
(``out.logits``), as a mapping (``out["logits"]``, ``keys()``, ``items()``, iteration over the keys) and as
a tuple of the fields that are set (``out[0]``, ``out[:2]``, ``out.to_tuple()``). Fields left at None are
skipped by the mapping and the tuple views, so ``out[0]`` is the loss when labels were given and the
logits otherwise, as in transformers.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from shendu.tensor import Tensor

__all__ = ["ModelOutput", "BaseModelOutputWithPooling", "MaskedLMOutput", "NextSentencePredictorOutput",
           "PreTrainingOutput", "SequenceClassifierOutput", "TokenClassifierOutput", "QuestionAnsweringModelOutput"]


@dataclass
class ModelOutput:
    """Base of the model outputs: subclasses are dataclasses whose fields all default to None."""

    def keys(self) -> list[str]:
        """The names of the fields that are set, in declaration order."""
        """The names of the fields that are set (not None), in declaration order, as a dict's keys."""
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def values(self) -> list[Any]:
        """The values of the fields that are set."""
        """The values of the fields that are set (not None), in declaration order."""
        return [getattr(self, k) for k in self.keys()]

    def items(self) -> list[tuple[str, Any]]:
        """``(name, value)`` of the fields that are set."""
        """``(name, value)`` of every field that is set (not None), in declaration order."""
        return [(k, getattr(self, k)) for k in self.keys()]

    def to_tuple(self) -> tuple:
        """The fields that are set, in declaration order."""
        return tuple(self.values())

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self.keys():
                raise KeyError(f"{type(self).__name__} has no field {key!r} set; set fields: {self.keys()}")
            return getattr(self, key)
        return self.to_tuple()[key]

    def __contains__(self, key) -> bool:
        return key in self.keys()

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def get(self, key: str, default: Any = None) -> Any:
        """The field ``key`` if it is set, else ``default``."""
        """The field ``key`` if it is set, else ``default`` (as ``dict.get``)."""
        return getattr(self, key) if key in self.keys() else default


@dataclass
class BaseModelOutputWithPooling(ModelOutput):
    """An encoder's output: ``last_hidden_state`` (N, T, C), ``pooler_output`` (N, C), and when asked
    ``hidden_states`` (the embeddings' output, then each layer's: num_layers + 1 of (N, T, C)) and
    ``attentions`` (each layer's attention probabilities (N, H, T, T))."""

    last_hidden_state: Tensor | None = None
    pooler_output: Tensor | None = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass
class MaskedLMOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None  # (N, T, V)
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass
class NextSentencePredictorOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None  # (N, 2): index 0 = "B follows A"
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass
class PreTrainingOutput(ModelOutput):
    loss: Tensor | None = None
    prediction_logits: Tensor | None = None  # (N, T, V)
    seq_relationship_logits: Tensor | None = None  # (N, 2)
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass
class SequenceClassifierOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None  # (N, num_labels)
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass
class TokenClassifierOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None  # (N, T, num_labels)
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    loss: Tensor | None = None
    start_logits: Tensor | None = None  # (N, T)
    end_logits: Tensor | None = None  # (N, T)
    hidden_states: tuple | None = None
    attentions: tuple | None = None
