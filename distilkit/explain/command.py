"""`distilkit explain "text" --model sentiment --out report.html --out map.png`: the command's work.

`--model` is a default model's name (sentiment, ner, fill-mask: built on first use), a model directory or a Hub
id; the task comes from the default model, else `--task` (text-classification unless given). Each `--out` file
is written by its suffix: .html the self-contained report, .png / .svg the attention heat map (every layer and
head, one layer with `--layer`, one head with `--layer` and `--head`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .attention import AttentionMaps, check_index
from .attribution import DEFAULT_METHOD
from .render import picture_format, plot_attention
from .report import explain_json, save_report


def resolve_model(model: str | None, task: str | None) -> tuple[Any, str]:
    """(what `pipeline(model=...)` takes, task) for a default model name, a path or a Hub id."""
    from ..models.defaults import TASK_DEFAULTS
    from ..models.recipes import RECIPES

    if model is not None and model in RECIPES and not os.path.exists(model):
        from ..models import registry

        tasks = [name for name, default in TASK_DEFAULTS.items() if default == model]
        if task is None:
            task = tasks[0] if tasks else "text-classification"
        return registry.ensure(model), task
    return model, task or "text-classification"


def check_outputs(outputs: list[Path]) -> None:
    for path in outputs:
        if path.suffix.lower() not in (".html", ".htm"):
            picture_format(path)


def run(text: str, model: str | None = None, task: str | None = None, outputs: list[Path] | None = None,
        layer: int | None = None, head: int | None = None, n_steps: int = 50, method: str = DEFAULT_METHOD,
        as_json: bool = False) -> dict:
    """Explain `text`, write every output file, print a summary (or the JSON) and return the data."""
    from ..pipelines import pipeline

    outputs = [Path(path) for path in outputs or []]
    check_outputs(outputs)  # a bad file name fails before the model loads
    if head is not None and layer is None:
        raise InputError(f"--head {head} needs --layer too (the heads of which layer?)")
    source, task = resolve_model(model, task)
    runner = pipeline(task, model=source)
    data = explain_json(runner, text, n_steps=n_steps, method=method)
    attention = data["attention"]
    weights = np.asarray(attention["weights"], dtype=np.float32)  # (L, H, T, T)
    if layer is not None:
        check_index(layer, attention["layers"], "layer")
    if head is not None:
        check_index(head, attention["heads"], "head")
    maps = AttentionMaps(text=text, tokens=[item["token"] for item in data["tokens"]],
                         offsets=[(item["start"], item["end"]) for item in data["tokens"]], weights=weights)
    for path in outputs:
        if path.suffix.lower() in (".html", ".htm"):
            save_report(data, path)
        else:
            plot_attention(maps, layer=layer, head=head, path=path)
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        print_summary(data, outputs)
    return data


def print_summary(data: dict, outputs: list[Path]) -> None:
    print(data["text"])
    prediction = data["prediction"]
    print(f"  prediction: {prediction['label']} ({prediction['score']:.4f})" if prediction
          else "  nothing to explain: the model found no target")
    if data["targets"]:
        target = data["targets"][0]
        width = max(len(item["token"]) for item in target["attributions"])
        print(f"  attributions to {target['label']!r} ({data['settings']['n_steps']} steps, "
              f"{data['settings']['method']}):")
        for item in target["attributions"]:
            print(f"    {item['token']:<{width}}  {item['score']:+.4f}")
        total = sum(item["score"] for item in target["attributions"])
        print(f"  sum of scores {total:+.4f}, convergence delta {target['delta']:.2e}")
    for path in outputs:
        print(f"  wrote {path}")
