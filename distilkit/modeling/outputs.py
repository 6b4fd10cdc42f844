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
    """What every model returns: a frozen dataclass that also reads like an ordered mapping of its non-None fields.

    Read a field by attribute (`out.logits`, None when absent), by key (`out["logits"]`, KeyError when absent) or
    by position (`out[0]`: the first non-None field, so the loss when labels were given, else the logits);
    `to_tuple()` gives the non-None fields in order, as `return_dict=False` does.

    >>> import torch
    >>> from distilkit import SequenceClassifierOutput
    >>> out = SequenceClassifierOutput(logits=torch.tensor([[0.5, 2.0]]))   # no labels, so no loss
    >>> out.loss is None, "loss" in out, list(out.keys())
    (True, False, ['logits'])
    >>> out[0] is out["logits"] is out.logits
    True
    >>> with_loss = SequenceClassifierOutput(loss=torch.tensor(0.3), logits=out.logits)
    >>> loss, logits = with_loss.to_tuple()   # or unpack the first item: with_loss[0] is the loss
    >>> float(loss), logits.shape
    (0.3..., torch.Size([1, 2]))
    """

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
    """The encoder's output: `last_hidden_state` (B, T, D); with `output_hidden_states=True` the input of every
    layer plus the last output in `hidden_states` (n_layers + 1 of (B, T, D)); with `output_attentions=True` each
    layer's attention weights in `attentions` (n_layers of (B, heads, T, T)).

    >>> import torch
    >>> from distilkit import DistilBertConfig, DistilBertModel
    >>> model = DistilBertModel(DistilBertConfig(vocab_size=30, dim=32, n_heads=2, n_layers=2, hidden_dim=64))
    >>> out = model(torch.tensor([[2, 7, 3]]), output_hidden_states=True, output_attentions=True)
    >>> type(out).__name__, list(out.keys())
    ('BaseModelOutput', ['last_hidden_state', 'hidden_states', 'attentions'])
    >>> len(out.hidden_states), out.attentions[0].shape   # (batch, heads, tokens, tokens)
    (3, torch.Size([1, 2, 3, 3]))
    >>> torch.equal(out.hidden_states[-1], out.last_hidden_state)
    True
    """

    last_hidden_state: torch.Tensor | None = None  # (B, T, D)
    hidden_states: Tensors | None = None  # n_layers + 1 of (B, T, D)
    attentions: Tensors | None = None  # n_layers of (B, H, T, T)


@dataclass(frozen=True)
class MaskedLMOutput(ModelOutput):
    """A masked-LM head's output: `logits` (B, T, vocab_size), `loss` when `labels` were given, and the encoder's
    `hidden_states` / `attentions` when asked for.

    >>> import torch
    >>> from distilkit import MaskedLMOutput
    >>> out = MaskedLMOutput(logits=torch.zeros(1, 5, 30))
    >>> out.logits[0, 2].argmax().item(), len(out)   # the predicted word id at position 2; one field set
    (0, 1)
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, T, vocab)
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass(frozen=True)
class SequenceClassifierOutput(ModelOutput):
    """A text classifier's output: `logits` (B, num_labels), `loss` when `labels` were given, and the encoder's
    `hidden_states` / `attentions` when asked for.

    >>> import torch
    >>> from distilkit import SequenceClassifierOutput
    >>> out = SequenceClassifierOutput(loss=torch.tensor(0.7), logits=torch.tensor([[0.1, 0.9], [2.0, -1.0]]))
    >>> out.logits.softmax(-1).argmax(-1).tolist(), list(out.keys())   # predicted class per text
    ([1, 0], ['loss', 'logits'])
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, num_labels)
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass(frozen=True)
class TokenClassifierOutput(ModelOutput):
    """A token tagger's output: `logits` (B, T, num_labels), `loss` when `labels` were given, and the encoder's
    `hidden_states` / `attentions` when asked for.

    >>> import torch
    >>> from distilkit import TokenClassifierOutput
    >>> out = TokenClassifierOutput(logits=torch.tensor([[[3.0, 0.0], [0.0, 3.0], [3.0, 0.0]]]))
    >>> out["logits"].argmax(-1).tolist(), out.get("loss", "no loss")   # a label id per token
    ([[0, 1, 0]], 'no loss')
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, T, num_labels)
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass(frozen=True)
class QuestionAnsweringModelOutput(ModelOutput):
    """An extractive QA model's output: `start_logits` and `end_logits` (B, T), `loss` when `start_positions` /
    `end_positions` were given, and the encoder's `hidden_states` / `attentions` when asked for.

    >>> import torch
    >>> from distilkit import QuestionAnsweringModelOutput
    >>> out = QuestionAnsweringModelOutput(start_logits=torch.tensor([[0.0, 0.1, 4.0, 0.2]]),
    ...                                    end_logits=torch.tensor([[0.0, 0.1, 0.3, 5.0]]))
    >>> start, end = out.to_tuple()
    >>> start.argmax().item(), end.argmax().item()   # the answer span is tokens 2..3
    (2, 3)
    """

    loss: torch.Tensor | None = None
    start_logits: torch.Tensor | None = None  # (B, T)
    end_logits: torch.Tensor | None = None  # (B, T)
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass(frozen=True)
class MultipleChoiceModelOutput(ModelOutput):
    """A multiple-choice model's output: `logits` (B, num_choices), `loss` when `labels` were given, and the
    encoder's `hidden_states` / `attentions` when asked for.

    >>> import torch
    >>> from distilkit import MultipleChoiceModelOutput
    >>> out = MultipleChoiceModelOutput(logits=torch.tensor([[0.2, 1.5, -0.3]]))
    >>> out[0].argmax(-1).tolist()   # the chosen answer per question
    [1]
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, num_choices)
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None
