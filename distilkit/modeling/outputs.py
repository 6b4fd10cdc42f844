"""Typed model outputs that behave like the reference's `ModelOutput`.

Each output is a frozen dataclass that also reads like an ordered mapping whose None fields are absent:
`out.loss` is None when no labels were given, `out["loss"]` then raises KeyError, `out[0]` is the first
non-None field (the loss when present, otherwise the logits), and `to_tuple()` drops the Nones.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.utils._pytree as pytree


def _flatten(output: ModelOutput) -> tuple[list[Any], list[str]]:
    names = [field.name for field in fields(output)]
    return [getattr(output, name) for name in names], names


@dataclass(frozen=True)
class ModelOutput:
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # a pytree node, so torch.export / torch.compile can trace models that return these outputs
        pytree.register_pytree_node(cls, _flatten, lambda values, names: cls(**dict(zip(names, values, strict=True))),
                                    serialized_type_name=f"{cls.__module__}.{cls.__qualname__}")

    def keys(self) -> list[str]:
        return [field.name for field in fields(self) if getattr(self, field.name) is not None]

    def values(self) -> list[Any]:
        return [getattr(self, name) for name in self.keys()]

    def items(self) -> list[tuple[str, Any]]:
        return [(name, getattr(self, name)) for name in self.keys()]

    def to_tuple(self) -> tuple[Any, ...]:
        return tuple(self.values())

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in self.keys() else default

    def __getitem__(self, key: str | int | slice) -> Any:
        if isinstance(key, str):
            if key not in self.keys():
                raise KeyError(key)
            return getattr(self, key)
        return self.to_tuple()[key]

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __contains__(self, key: object) -> bool:
        return key in self.keys()


Tensors = tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class BaseModelOutput(ModelOutput):
    last_hidden_state: torch.Tensor | None = None  # (B, T, D)
    hidden_states: Tensors | None = None  # n_layers + 1 of (B, T, D)
    attentions: Tensors | None = None  # n_layers of (B, H, T, T)


@dataclass(frozen=True)
class MaskedLMOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, T, vocab)
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass(frozen=True)
class SequenceClassifierOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, num_labels)
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass(frozen=True)
class TokenClassifierOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, T, num_labels)
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass(frozen=True)
class QuestionAnsweringModelOutput(ModelOutput):
    loss: torch.Tensor | None = None
    start_logits: torch.Tensor | None = None  # (B, T)
    end_logits: torch.Tensor | None = None  # (B, T)
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass(frozen=True)
class MultipleChoiceModelOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, num_choices)
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None
