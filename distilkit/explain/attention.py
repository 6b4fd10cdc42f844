"""Attention maps: every layer's and head's attention probabilities for one text, with its tokens, and attention
rollout (Abnar & Zuidema, 2020) as a cheap whole-model view.

The model is asked for `output_attentions=True`, which distilkit's model honours on every execution path (SDPA,
eager, and the engine's paths), so the maps are the real softmax probabilities whatever computes the forward.
Shape letters: L layers, H heads, T tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import DistilkitError, InputError
from .encoding import encode, unpack


def check_index(value: Any, count: int, what: str) -> int:
    """`value` as an index in [0, count), or an `InputError` naming the value and the valid range."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{what} index must be an int, got {type(value).__name__}: {value!r}")
    if not 0 <= value < count:
        raise InputError(f"{what} index {value} is out of range: the model has {count} {what}s "
                         f"(valid: 0..{count - 1})")
    return int(value)


@dataclass(frozen=True)
class AttentionMaps:
    """Attention probabilities `weights` (L, H, T, T) — row i is what token i attends to — and the tokens.

    >>> maps = attention(model, tokenizer, "A gorgeous, witty film.")   # doctest: +SKIP
    >>> maps.head(5, 3).shape, maps.tokens[:3]                            # doctest: +SKIP
    ((9, 9), ['[CLS]', 'a', 'gorgeous'])
    """

    text: str
    tokens: list[str]
    offsets: list[tuple[int, int]]
    weights: np.ndarray = field(repr=False)

    @property
    def num_layers(self) -> int:
        return self.weights.shape[0]

    @property
    def num_heads(self) -> int:
        return self.weights.shape[1]

    def layer(self, layer: int) -> np.ndarray:
        """One layer's heads: (H, T, T)."""
        return self.weights[check_index(layer, self.num_layers, "layer")]

    def head(self, layer: int, head: int) -> np.ndarray:
        """One head of one layer: (T, T)."""
        return self.layer(layer)[check_index(head, self.num_heads, "head")]

    def rollout(self, residual: bool = True) -> np.ndarray:
        """Attention rollout (T, T): the heads' mean per layer, plus the identity for the residual path when
        `residual` (each row renormalised), multiplied from the first layer up. Row 0 says how much each
        input token flows into [CLS]."""
        return attention_rollout(self.weights, residual)


def attention_rollout(weights: np.ndarray, residual: bool = True) -> np.ndarray:
    """(L, H, T, T) attention probabilities -> (T, T) rollout; see `AttentionMaps.rollout`."""
    mixed = weights.astype(np.float64).mean(axis=1)  # (L, T, T)
    if residual:
        mixed = 0.5 * mixed + 0.5 * np.eye(mixed.shape[-1])  # (L, T, T)
        mixed = mixed / mixed.sum(axis=-1, keepdims=True)
    flow = np.eye(mixed.shape[-1])  # (T, T)
    for layer in mixed:
        flow = layer @ flow  # (T, T): what each position holds of each input token after this layer
    return flow.astype(np.float32)


def attention(model: Any, tokenizer: Any = None, text: Any = None, text_pair: str | None = None, *,
              truncation: bool = True) -> AttentionMaps:
    """The attention maps of `model` on one `text` (and optional `text_pair`), as float32 numpy arrays.

    `model` is any distilkit model (the bare encoder or a head) or a pipeline (then `tokenizer` may be
    omitted, and the forward runs as the pipeline's does: packed, int8, ...). Texts longer than the model's maximum are cut to it unless `truncation=False`.
    """
    model, tokenizer, text, options = unpack(model, tokenizer, text)
    encoded = encode(model, tokenizer, text, text_pair, truncation)
    was_training = model.training
    model.eval()  # dropout on attention probabilities would make the maps random
    try:
        with torch.inference_mode():
            output = model(**encoded.inputs, **options, output_attentions=True)
    finally:
        model.train(was_training)
    attentions = output.get("attentions") if isinstance(output, Mapping) else getattr(output, "attentions", None)
    if not attentions or any(layer is None for layer in attentions):
        raise DistilkitError(f"{type(model).__name__} returned no attention probabilities for "
                             "output_attentions=True; attention maps need a model that returns `attentions`")
    weights = torch.stack([layer[0] for layer in attentions]).float().cpu().numpy()  # (L, H, T, T)
    return AttentionMaps(text=text, tokens=encoded.tokens, offsets=encoded.offsets, weights=weights)
