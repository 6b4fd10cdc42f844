"""Typed outputs of the Keras models, named and shaped as the reference's last TensorFlow classes returned them.

They behave like `distilkit.modeling.outputs.ModelOutput` (attribute and key access, None fields absent, `[0]`,
`to_tuple()`), hold backend tensors (`tf.Tensor` on the TensorFlow backend), and print as the quick tour shows:
`TFSequenceClassifierOutput(loss=None, logits=<tf.Tensor: shape=(2, 2), ...>, hidden_states=None, ...)`.
Losses are per example, as the TensorFlow classes computed them: `(B,)` for sequence classification, question
answering and multiple choice, `(1,)` (the mean over non-ignored tokens) for token classification and masked LM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..modeling.outputs import ModelOutput

Tensors = tuple[Any, ...]


@dataclass(frozen=True)
class TFBaseModelOutput(ModelOutput):
    last_hidden_state: Any = None  # (B, T, D)
    hidden_states: Tensors | None = None  # n_layers + 1 of (B, T, D)
    attentions: Tensors | None = None  # n_layers of (B, H, T, T)


@dataclass(frozen=True)
class TFMaskedLMOutput(ModelOutput):
    loss: Any = None  # (1,)
    logits: Any = None  # (B, T, V)
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass(frozen=True)
class TFSequenceClassifierOutput(ModelOutput):
    loss: Any = None  # (B,)
    logits: Any = None  # (B, num_labels)
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass(frozen=True)
class TFTokenClassifierOutput(ModelOutput):
    loss: Any = None  # (1,)
    logits: Any = None  # (B, T, num_labels)
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass(frozen=True)
class TFQuestionAnsweringModelOutput(ModelOutput):
    loss: Any = None  # (B,)
    start_logits: Any = None  # (B, T)
    end_logits: Any = None  # (B, T)
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass(frozen=True)
class TFMultipleChoiceModelOutput(ModelOutput):
    loss: Any = None  # (B,)
    logits: Any = None  # (B, C)
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None
