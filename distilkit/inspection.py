"""Look inside a model without loading its weights: the module tree, parameter counts per component, the config.

The model is built on PyTorch's "meta" device from its config, so inspecting even a large checkpoint allocates no
weight memory and reads only config.json.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from .auto import AutoConfig, AutoModel, registered_model_classes
from .modeling.pretrained import weightless


def model_class_for(config) -> type:
    """The class named by `config.architectures`, looked up among the registered classes only (never imported)."""
    registered = registered_model_classes()
    for name in config.architectures or []:
        if name in registered:
            return registered[name]
    return AutoModel.model_class_for(type(config))


def components(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """Embeddings, each transformer block, then each head module; top-level children for other architectures."""
    prefix = getattr(model, "base_model_prefix", "")
    base = getattr(model, prefix, model) if prefix else model
    stem = f"{prefix}." if base is not model else ""
    if not (hasattr(base, "embeddings") and hasattr(base, "transformer")):
        return list(model.named_children())
    parts = [(f"{stem}embeddings", base.embeddings)]
    parts += [(f"{stem}transformer.layer.{index}", block) for index, block in enumerate(base.transformer.layer)]
    parts += [(name, child) for name, child in model.named_children() if child is not base]
    return parts


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """Parameters per component (a tied weight counted where it first appears) and the total."""
    counts: dict[str, int] = {}
    seen: set[int] = set()
    for name, module in components(model):
        fresh = [parameter for parameter in module.parameters() if id(parameter) not in seen]
        seen.update(id(parameter) for parameter in fresh)
        if fresh:
            counts[name] = sum(parameter.numel() for parameter in fresh)
    counts["total"] = sum({id(parameter): parameter.numel() for parameter in model.parameters()}.values())
    return counts


def describe_model(name_or_path: str | os.PathLike) -> dict[str, Any]:
    config = AutoConfig.from_pretrained(name_or_path)
    model_class = model_class_for(config)
    with weightless():
        model = model_class(config)
    return {
        "class": model_class.__name__,
        "tree": str(model),
        "parameters": parameter_counts(model),
        "config": config.to_diff_dict(),
    }
