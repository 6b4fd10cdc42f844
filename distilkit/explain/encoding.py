"""Encoding one text (or text pair) for an explanation: the model inputs plus the tokens and character offsets
every picture and attribution list is labelled with.

Shared by `attention` and `attributions`, so both describe the very same tokens. A pipeline instance may stand
in for the model/tokenizer pair (anything with `.model` and `.tokenizer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..constants import is_unlimited
from ..errors import ConfigError, InputError


@dataclass(frozen=True)
class Encoded:
    """One encoded input: `inputs` are (1, T) tensors on the model's device; `tokens`, `offsets` (character
    spans in their own text, (0, 0) for special tokens), `special` and `segments` (0 text, 1 text pair) have T
    entries."""

    inputs: dict[str, torch.Tensor]
    tokens: list[str]
    offsets: list[tuple[int, int]]
    special: list[bool]
    segments: list[int]


def unpack(model: Any, tokenizer: Any, text: Any) -> tuple[nn.Module, Any, Any, dict[str, Any]]:
    """(model, tokenizer, text, forward options); a pipeline passed as `model` gives its own pair and the options
    its forward runs with (e.g. packed execution), so `f(pipeline, "text")` works too."""
    options: dict[str, Any] = {}
    if isinstance(tokenizer, str) and text is None:
        tokenizer, text = None, tokenizer
    if tokenizer is None and hasattr(model, "model") and hasattr(model, "tokenizer"):
        options = dict(getattr(model, "model_options", None) or {})
        model, tokenizer = model.model, model.tokenizer
    if not isinstance(model, nn.Module):
        raise InputError(f"model must be a torch.nn.Module or a pipeline, got {type(model).__name__}")
    if tokenizer is None or not callable(tokenizer):
        raise ConfigError("explanations need the model's tokenizer; pass tokenizer=... (or a pipeline as model)")
    return model, tokenizer, text, options


def check_text(text: Any, name: str = "text") -> str:
    if not isinstance(text, str):
        raise InputError(f"{name} must be a str, got {type(text).__name__}: {text!r:.80}")
    if not text.strip():
        raise InputError(f"{name} is empty (or only whitespace); there is nothing to explain — pass a sentence")
    return text


def model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def max_length(model: nn.Module, tokenizer: Any) -> int | None:
    limits = [getattr(tokenizer, "model_max_length", None),
              getattr(getattr(model, "config", None), "max_position_embeddings", None)]
    limits = [limit for limit in limits if isinstance(limit, int) and 0 < limit and not is_unlimited(limit)]
    return min(limits) if limits else None


def encode(model: nn.Module, tokenizer: Any, text: Any, text_pair: Any = None,
           truncation: bool = True) -> Encoded:
    """Tokenize `text` (and `text_pair`) as one row, cut to the model's maximum length when `truncation`."""
    text = check_text(text)
    if text_pair is not None:
        text_pair = check_text(text_pair, "text_pair")
    limit = max_length(model, tokenizer) if truncation else None
    encoding = tokenizer(text, text_pair, truncation=limit is not None, max_length=limit,
                         return_offsets_mapping=True, return_special_tokens_mask=True)
    return from_ids(model, tokenizer, list(encoding["input_ids"]), encoding["offset_mapping"],
                    encoding["special_tokens_mask"])


def from_ids(model: nn.Module, tokenizer: Any, ids: list[int], offsets: Any, special: Any = None) -> Encoded:
    """An `Encoded` row from token ids and their offsets (a pipeline's feature). `special` marks the tokens the
    tokenizer's template added; by default the [CLS] and [SEP] ids (a [MASK] in the text is not one of them)."""
    ids = [int(token) for token in ids]
    if special is None:
        template = {getattr(tokenizer, "cls_token_id", None), getattr(tokenizer, "sep_token_id", None)} - {None}
        special = [token in template for token in ids]
    special = [bool(flag) for flag in special]
    device = model_device(model)
    inputs = {"input_ids": torch.tensor([ids], device=device),  # (1, T)
              "attention_mask": torch.ones(1, len(ids), dtype=torch.long, device=device)}  # (1, T)
    segments, segment = [], 0
    for index, flag in enumerate(special):
        segments.append(segment)
        # a separator closes its segment: the text's [SEP] still belongs to the text
        if flag and index and ids[index] == getattr(tokenizer, "sep_token_id", None):
            segment = 1
    return Encoded(inputs=inputs, tokens=list(tokenizer.convert_ids_to_tokens(ids)),
                   offsets=[(int(start), int(end)) for start, end in offsets], special=special, segments=segments)
