"""Resource limits: how big a config, file or input may be before distilkit refuses it, each one a setting.

A hostile or mistyped file must fail with a clear error, not take the machine's memory. Every limit has a default
that fits a normal machine (16 GB of memory) with room for real models, and an environment variable to raise or
lower it, read at each check (so it can be changed while a process runs):

| setting                          | default       | bounds                                                     |
|----------------------------------|---------------|------------------------------------------------------------|
| `DISTILKIT_MAX_PARAMETERS`       | 2,000,000,000 | every tensor a config describes, heads included (8 GB f32) |
| `DISTILKIT_MAX_LABELS`           | 1,000,000     | `num_labels` / `id2label` entries                          |
| `DISTILKIT_MAX_VOCAB_SIZE`       | 1,000,000     | tokenizer vocabulary entries and the largest token id      |
| `DISTILKIT_MAX_JSON_BYTES`       | 100,000,000   | a config.json / tokenizer.json / tokenizer_config.json     |
| `DISTILKIT_MAX_JSON_DEPTH`       | 64            | nesting of those JSON files (real ones nest 2-6 deep)      |
| `DISTILKIT_MAX_IMAGE_PIXELS`     | 89,478,485    | an image processor's target size (Pillow's own bomb limit) |
| `DISTILKIT_MAX_AUDIO_SAMPLES`    | 57,600,000    | a feature extractor's max_length (one hour at 16 kHz)      |
"""

from __future__ import annotations

import os
from typing import Any

from .errors import ConfigError

DEFAULTS = {
    "DISTILKIT_MAX_PARAMETERS": 2_000_000_000,
    "DISTILKIT_MAX_LABELS": 1_000_000,
    "DISTILKIT_MAX_VOCAB_SIZE": 1_000_000,
    "DISTILKIT_MAX_JSON_BYTES": 100_000_000,
    "DISTILKIT_MAX_JSON_DEPTH": 64,
    "DISTILKIT_MAX_IMAGE_PIXELS": 89_478_485,
    "DISTILKIT_MAX_AUDIO_SAMPLES": 57_600_000,
}


def limit(name: str) -> int:
    """The current value of the setting `name` (one of `DEFAULTS`): its environment variable, else the default.

    >>> limit("DISTILKIT_MAX_JSON_DEPTH")   # doctest: +SKIP
    64
    """
    default = DEFAULTS[name]
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip().replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"the environment variable {name}={raw!r} must be a positive whole number "
                          f"(default {default:,}); fix or unset it")
    return value


def max_parameters() -> int:
    return limit("DISTILKIT_MAX_PARAMETERS")


def max_labels() -> int:
    return limit("DISTILKIT_MAX_LABELS")


def max_vocab_size() -> int:
    return limit("DISTILKIT_MAX_VOCAB_SIZE")


def max_json_bytes() -> int:
    return limit("DISTILKIT_MAX_JSON_BYTES")


def max_image_pixels() -> int:
    return limit("DISTILKIT_MAX_IMAGE_PIXELS")


def max_audio_samples() -> int:
    return limit("DISTILKIT_MAX_AUDIO_SAMPLES")


def json_depth(value: Any) -> int:
    """How deeply `value` nests lists and dicts (a scalar is 0, `{"a": [1]}` is 2), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def check_json_depth(value: Any, source: str, error: type[Exception] = ConfigError) -> None:
    """Refuse JSON nested deeper than `DISTILKIT_MAX_JSON_DEPTH`: code walking it later would hit Python's
    recursion limit (a raw `RecursionError`) or copy it at great cost."""
    allowed = limit("DISTILKIT_MAX_JSON_DEPTH")
    depth = json_depth(value)
    if depth > allowed:
        raise error(f"{source} nests {depth} levels deep, over the limit of {allowed} "
                    "(DISTILKIT_MAX_JSON_DEPTH); it is damaged or hostile, not a real file")
