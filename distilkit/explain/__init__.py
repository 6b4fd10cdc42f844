"""Look inside a model: attention maps, integrated-gradients token attributions, pictures and HTML reports.

    from distilkit import explain, pipeline

    classifier = pipeline("sentiment-analysis")
    maps = explain.attention(classifier, "A gorgeous, witty film.")     # (layers, heads, T, T) probabilities
    scores = explain.attributions(classifier, "A gorgeous, witty film.")   # one score per token + delta
    explain.plot_attention(maps, layer=5, head=3, path="head.png")       # PNG / SVG (the `explain` extra)
    explain.save_report(explain.explain_json(classifier, "A gorgeous, witty film."), "report.html")

`pipeline(..., explain=True)` adds `attributions` and `delta` to each result. Pictures need matplotlib
(`pip install 'distilkit[explain]'`), imported only when one is drawn.
"""

from .attention import AttentionMaps, attention, attention_rollout
from .attribution import METHODS, Attributions, attributions, integration_points
from .render import plot_attention, plot_attributions
from .report import explain_json, render_html, save_report

__all__ = [
    "METHODS",
    "AttentionMaps",
    "Attributions",
    "attention",
    "attention_rollout",
    "attributions",
    "explain_json",
    "integration_points",
    "plot_attention",
    "plot_attributions",
    "render_html",
    "save_report",
]
