"""`pipeline(..., explain=True)`: the few calls the task pipelines make to add `attributions` and `delta` to
their results.

Each result is explained through its own logit — the label's (text classification), the entity's tokens'
predicted labels' (token classification), the candidate word's at its mask (fill-mask) — all targets of one
input sharing one integration. This module imports nothing above the modeling layer, so pipelines may call it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InputError
from .attribution import DEFAULT_METHOD, METHODS, explain_encoded
from .encoding import from_ids

OPTIONS = ("n_steps", "method", "internal_batch_size")


def explain_options(explain: Any) -> dict[str, Any] | None:
    """explain=False/None -> None (off); True -> default options; a dict of n_steps / method /
    internal_batch_size -> those options."""
    if explain is None or explain is False:
        return None
    if explain is True:
        return {}
    if isinstance(explain, Mapping):
        unknown = sorted(set(explain) - set(OPTIONS))
        if unknown:
            raise InputError(f"explain got unknown option(s) {unknown}; it accepts {', '.join(OPTIONS)}")
        method = explain.get("method", DEFAULT_METHOD)
        if method not in METHODS:
            raise InputError(f"explain method={method!r} is not one of {', '.join(METHODS)}")
        return dict(explain)
    raise InputError(f"explain must be True, False or a dict of {', '.join(OPTIONS)}; got {explain!r}")


def annotate(pipeline: Any, feature: Mapping[str, Any], entries: list[dict], targets: list[Any], task: str,
             options: dict[str, Any]) -> None:
    """Add `attributions` and `delta` to each of `entries`, explaining the matching `targets` of one feature."""
    if not entries:
        return
    offsets = feature.get("offset_mapping", feature.get("offsets"))
    if offsets is None:
        raise InputError(f"the {task} pipeline's features carry no offsets, which explain=True needs")
    encoded = from_ids(pipeline.model, pipeline.tokenizer, feature["input_ids"], offsets, feature.get("special"))
    explained = explain_encoded(pipeline.model, pipeline.tokenizer, encoded, feature.get("text", ""), targets,
                                task=task, **options)
    for entry, result in zip(entries, explained, strict=True):
        entry["attributions"] = result.as_list()
        entry["delta"] = result.delta


def explain_labels(pipeline: Any, feature: Mapping[str, Any], result: Any, options: dict[str, Any]) -> None:
    """Text classification: each returned label, through its logit."""
    entries = result if isinstance(result, list) else [result]
    annotate(pipeline, feature, entries, [entry["label"] for entry in entries], "text-classification", options)


def explain_entities(pipeline: Any, features: list[Mapping[str, Any]], entities: list[dict],
                     options: dict[str, Any]) -> None:
    """Token classification: each entity (or tagged token) through its tokens' predicted labels, in the first
    window that holds it."""
    by_window: dict[int, list[dict]] = {}
    for entity in entities:
        window = next((index for index, feature in enumerate(features)
                       if any(not special and start < entity["end"] and end > entity["start"]
                              for (start, end), special in zip(feature["offsets"], feature["special"], strict=True))),
                      0)
        by_window.setdefault(window, []).append(entity)
    for window, members in by_window.items():
        targets = [{"start": entity["start"], "end": entity["end"]} for entity in members]
        annotate(pipeline, features[window], members, targets, "token-classification", options)


def explain_masks(pipeline: Any, feature: Mapping[str, Any], positions: list[int], results: list[list[dict]],
                  options: dict[str, Any]) -> None:
    """Fill-mask: each candidate word through its logit at its mask."""
    entries = [candidate for candidates in results for candidate in candidates]
    targets = [{"token": candidate["token"], "position": int(position)}
               for position, candidates in zip(positions, results, strict=True) for candidate in candidates]
    annotate(pipeline, feature, entries, targets, "fill-mask", options)
