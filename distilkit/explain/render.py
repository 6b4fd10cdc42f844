"""Pictures (PNG or SVG, by the file's suffix) of attention maps and token attributions, drawn with matplotlib.

matplotlib is the `explain` extra, imported only here and only when a picture is drawn. Figures are made
without pyplot, so drawing never touches the caller's matplotlib state or needs a display.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .._extras import require
from ..errors import InputError
from .attention import AttentionMaps, check_index
from .attribution import Attributions

FORMATS = {".png": "png", ".svg": "svg"}
DPI = 110


def figure_class() -> Any:
    require("matplotlib", "explain", "attention and attribution pictures")
    from matplotlib.figure import Figure

    return Figure


def picture_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"cannot draw a picture into {str(path)!r}: the file name must end in .png or .svg")
    return FORMATS[suffix]


def save(figure: Any, path: str | Path | None) -> Any:
    if path is not None:
        import matplotlib

        # SVG text stays text (selectable, searchable, smaller) instead of glyph outlines
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            figure.savefig(path, format=picture_format(path), dpi=DPI, bbox_inches="tight", facecolor="white")
    return figure


def token_labels(tokens: list[str]) -> list[str]:
    return [token if len(token) <= 16 else token[:15] + "…" for token in tokens]


def plot_attention(maps: AttentionMaps, layer: int | None = None, head: int | None = None,
                   path: str | Path | None = None) -> Any:
    """A heat map figure, saved to `path` (.png or .svg) when given.

    layer and head: that head, large, tokens on both axes. Only layer: that layer's heads in a grid, tokens on
    the axes. Neither: every layer (rows) and head (columns) as small maps.
    """
    if path is not None:
        picture_format(path)  # a bad suffix fails before any drawing
    if head is not None and layer is None:
        raise InputError(f"head={head} needs layer=... too (the heads of which layer?)")
    if layer is not None and head is not None:
        return save(one_head(maps, layer, head), path)
    if layer is not None:
        check_index(layer, maps.num_layers, "layer")
        return save(head_grid(maps, [layer], f"layer {layer}: every head", with_tokens=True), path)
    return save(head_grid(maps, list(range(maps.num_layers)), "every layer and head", with_tokens=False), path)


def one_head(maps: AttentionMaps, layer: int, head: int) -> Any:
    weights = maps.head(layer, head)  # (T, T)
    labels = token_labels(maps.tokens)
    size = min(14.0, 3.0 + 0.28 * len(labels))
    figure = figure_class()(figsize=(size + 1.2, size), dpi=DPI)
    axes = figure.add_subplot()
    image = axes.imshow(weights, cmap="viridis", vmin=0.0, vmax=float(weights.max()) or 1.0)
    font = max(5, min(10, 260 // max(len(labels), 1)))
    axes.set_xticks(range(len(labels)), labels, rotation=90, fontsize=font)
    axes.set_yticks(range(len(labels)), labels, fontsize=font)
    axes.set_xlabel("attended-to token (key)")
    axes.set_ylabel("attending token (query)")
    axes.set_title(f"attention, layer {layer}, head {head}")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="probability")
    return figure


def head_grid(maps: AttentionMaps, layers: list[int], title: str, with_tokens: bool) -> Any:
    heads = maps.num_heads
    columns = heads if len(layers) > 1 else min(heads, 4)
    rows = len(layers) if len(layers) > 1 else math.ceil(heads / columns)
    cell = 2.6 if with_tokens else 1.3
    figure = figure_class()(figsize=(cell * columns + 0.8, cell * rows + 0.9), dpi=DPI, layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False)
    labels = token_labels(maps.tokens)
    font = max(3, min(7, 120 // max(len(labels), 1)))
    for index, axes in enumerate(grid.flat):
        row, column = divmod(index, columns)
        if len(layers) > 1:
            layer, head = layers[row], column
        else:
            layer, head = layers[0], index
        if head >= heads:
            axes.axis("off")
            continue
        axes.imshow(maps.weights[layer, head], cmap="viridis", vmin=0.0)
        axes.set_title(f"L{layer} H{head}", fontsize=8)
        if with_tokens:
            axes.set_xticks(range(len(labels)), labels, rotation=90, fontsize=font)
            axes.set_yticks(range(len(labels)), labels, fontsize=font)
        else:
            axes.set_xticks([])
            axes.set_yticks([])
    figure.suptitle(f"attention: {title} — rows attend to columns; tokens: "
                    f"{' '.join(maps.tokens[:12])}{' …' if len(maps.tokens) > 12 else ''}", fontsize=9)
    return figure


def score_colour(score: float, scale: float) -> tuple[float, float, float, float]:
    """Green for positive, red for negative evidence, stronger for larger |score|."""
    strength = min(1.0, abs(score) / scale) if scale > 0 else 0.0
    base = (0.1, 0.6, 0.2) if score >= 0 else (0.85, 0.15, 0.15)
    return (*base, 0.08 + 0.72 * strength)


def plot_attributions(attributions: Attributions, path: str | Path | None = None, width: float = 9.0) -> Any:
    """The tokens as coloured text (green supports the target, red speaks against it), with the target, the
    scores' sum and the convergence delta; saved to `path` (.png or .svg) when given."""
    if path is not None:
        picture_format(path)
    Figure = figure_class()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    scores = np.asarray(attributions.scores, dtype=np.float64)
    scale = float(np.abs(scores).max()) if scores.size else 0.0
    font = 12
    # measure every token once, then lay them out in lines of the figure's width
    probe = Figure(figsize=(width, 1), dpi=DPI)
    renderer = FigureCanvasAgg(probe).get_renderer()
    from matplotlib.font_manager import FontProperties

    properties = FontProperties(size=font)
    gap, padding = 8.0, 6.0
    usable = width * DPI - 2 * padding
    lines: list[list[tuple[str, float, float]]] = [[]]
    used = 0.0
    for token, score in zip(attributions.tokens, scores, strict=True):
        token_width = renderer.get_text_width_height_descent(token, properties, ismath=False)[0] + gap
        if used + token_width > usable and lines[-1]:
            lines.append([])
            used = 0.0
        lines[-1].append((token, float(score), used))
        used += token_width
    line_height = font * 2.4
    header = 3 * line_height
    height = (header + line_height * len(lines) + padding * 2) / DPI
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    total = float(scores.sum())
    figure.text(padding / (width * DPI), 1 - (padding + font) / (height * DPI),
                f"integrated gradients for target {attributions.target!r}", fontsize=font + 1, weight="bold",
                va="top")
    figure.text(padding / (width * DPI), 1 - (padding + font + line_height) / (height * DPI),
                f"F(text) = {attributions.value:.4f}, F(baseline) = {attributions.baseline_value:.4f}, "
                f"sum of scores = {total:.4f}, delta = {attributions.delta:.2e}   "
                f"({attributions.n_steps} steps, {attributions.method}); green supports, red opposes",
                fontsize=font - 3, va="top", color="#333333")
    for number, line in enumerate(lines):
        top = header + padding + number * line_height
        for token, score, left in line:
            figure.text((padding + left) / (width * DPI), 1 - top / (height * DPI), token, fontsize=font, va="top",
                        bbox={"boxstyle": "round,pad=0.25", "facecolor": score_colour(score, scale),
                              "edgecolor": "none"})
    return save(figure, path)
