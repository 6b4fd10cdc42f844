"""One explanation of one text as JSON (what the server's playground shows) and as a self-contained HTML page.

`explain_json(pipeline, text)` runs the pipeline with `explain=True` and the attention maps on the same text and
returns plain JSON-able data; `render_html(data)` turns that data into one page — inline CSS and JS, no CDN, no
server — with the prediction, the attribution highlights (a selector when there are several targets), and an
attention heat map with layer / head selectors (the heads' mean and attention rollout included).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .attention import attention
from .attribution import DEFAULT_INTERNAL_BATCH_SIZE, DEFAULT_METHOD, TASKS

DECIMALS = 4  # attention probabilities and scores in the JSON: enough for a picture, a quarter of the size


def rounded(array: np.ndarray) -> list:
    return np.round(array.astype(np.float64), DECIMALS).tolist()


def explain_json(pipeline: Any, text: str, *, n_steps: int = 50, method: str = DEFAULT_METHOD,
                 internal_batch_size: int = DEFAULT_INTERNAL_BATCH_SIZE, with_attention: bool = True) -> dict:
    """The explanation of `text` by a text-classification, token-classification (ner) or fill-mask pipeline.

    Returns `{"task", "text", "prediction": {"label", "score"} | None, "targets": [{"label", "score",
    "attributions": [{"token", "start", "end", "score"}], "delta"}], "tokens": [{"token", "start", "end"}],
    "attention": {"layers", "heads", "weights": [L][H][T][T], "rollout": [T][T]} | None}`. Targets are every label
    (text classification, best first), every entity (ner) or the mask's candidate words (fill-mask).
    """
    task = getattr(pipeline, "task", None)
    if task not in TASKS or task == "question-answering":
        raise InputError(f"a {task!r} pipeline has no attribution target for explain_json; use a text-classification, "
                         "token-classification (ner) or fill-mask pipeline (for question answering call "
                         "distilkit.explain.attributions(model, tokenizer, question, context, target='start'))")
    options = {"n_steps": n_steps, "method": method, "internal_batch_size": internal_batch_size}
    if task == "text-classification":
        results = pipeline(text, top_k=None, explain=options)
        targets = [{"label": entry["label"], "score": entry["score"]} | explained(entry) for entry in results]
    elif task == "token-classification":
        results = pipeline(text, aggregation_strategy="simple", explain=options)
        targets = [{"label": f"{entry['entity_group']}: {entry['word']}", "score": entry["score"]} | explained(entry)
                   for entry in results]
    else:
        mask = getattr(pipeline.tokenizer, "mask_token", None)
        if isinstance(text, str) and mask and text.count(mask) > 1:
            raise InputError(f"explain_json explains one mask at a time; the text has {text.count(mask)} {mask} "
                             "tokens (pipeline(text, explain=True) explains each of them)")
        results = pipeline(text, explain=options)
        targets = [{"label": entry["token_str"], "score": entry["score"]} | explained(entry) for entry in results]
    data: dict[str, Any] = {
        "task": task,
        "text": text,
        "prediction": {"label": targets[0]["label"], "score": targets[0]["score"]} if targets else None,
        "targets": targets,
        "settings": options,
        "tokens": None,
        "attention": None,
    }
    if with_attention:
        maps = attention(pipeline.model, pipeline.tokenizer, text)
        data["tokens"] = [{"token": token, "start": start, "end": end}
                          for token, (start, end) in zip(maps.tokens, maps.offsets, strict=True)]
        data["attention"] = {"layers": maps.num_layers, "heads": maps.num_heads, "weights": rounded(maps.weights),
                             "rollout": rounded(maps.rollout())}
    elif targets:
        data["tokens"] = [{key: item[key] for key in ("token", "start", "end")} for item in targets[0]["attributions"]]
    return data


def explained(entry: dict) -> dict:
    return {"attributions": [{**item, "score": round(item["score"], 6)} for item in entry["attributions"]],
            "delta": entry["delta"]}


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 70rem; color: #222; padding: 0 1rem; }
h1 { font-size: 1.3rem; } h2 { font-size: 1.05rem; margin-top: 1.6rem; }
.prediction { font-size: 1.1rem; padding: .4rem .7rem; background: #eef3ff; border-radius: 6px; display: inline-block; }
.tokens { line-height: 2.3; font-family: ui-monospace, monospace; }
.token { padding: .15rem .3rem; margin: 0 .1rem; border-radius: 4px; }
.note { color: #555; font-size: .85rem; }
select { margin-right: 1rem; }
#heatmap { border: 1px solid #ddd; margin-top: .6rem; }
#cell { font-family: ui-monospace, monospace; font-size: .85rem; min-height: 1.2rem; }
"""

SCRIPT = """
const data = JSON.parse(document.getElementById('explanation').textContent);
function colour(score, scale) {
  const strength = scale > 0 ? Math.min(1, Math.abs(score) / scale) : 0;
  const alpha = (0.08 + 0.72 * strength).toFixed(3);
  return score >= 0 ? `rgba(26,153,51,${alpha})` : `rgba(217,38,38,${alpha})`;
}
function showTarget(index) {
  const target = data.targets[index];
  const box = document.getElementById('highlights');
  box.textContent = '';
  const scale = Math.max(0, ...target.attributions.map(item => Math.abs(item.score)));
  for (const item of target.attributions) {
    const span = document.createElement('span');
    span.className = 'token';
    span.textContent = item.token;
    span.title = `score ${item.score.toFixed(4)}`;
    span.style.background = colour(item.score, scale);
    box.appendChild(span);
    box.appendChild(document.createTextNode(' '));
  }
  const sum = target.attributions.reduce((total, item) => total + item.score, 0);
  document.getElementById('target-note').textContent =
    `sum of scores ${sum.toFixed(4)}, convergence delta ${target.delta.toExponential(2)}`;
}
function matrix(layer, head) {
  const weights = data.attention.weights;
  if (layer === 'rollout') return data.attention.rollout;
  const heads = head === 'mean' ? weights[layer] : [weights[layer][head]];
  return heads[0].map((row, i) => row.map((_, j) => heads.reduce((total, h) => total + h[i][j], 0) / heads.length));
}
function drawHeatmap() {
  const layerValue = document.getElementById('layer').value;
  const layer = layerValue === 'rollout' ? 'rollout' : Number(layerValue);
  const headValue = document.getElementById('head').value;
  const head = headValue === 'mean' ? 'mean' : Number(headValue);
  document.getElementById('head').disabled = layer === 'rollout';
  const values = matrix(layer, head);
  const tokens = data.tokens.map(item => item.token);
  const canvas = document.getElementById('heatmap');
  const context = canvas.getContext('2d');
  const size = tokens.length, cell = Math.max(6, Math.min(28, Math.floor(560 / size))), margin = 90;
  canvas.width = margin + size * cell + 10; canvas.height = margin + size * cell + 10;
  context.fillStyle = '#fff'; context.fillRect(0, 0, canvas.width, canvas.height);
  const peak = Math.max(...values.flat()) || 1;
  for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) {
    const level = Math.round(255 * (1 - values[i][j] / peak));
    context.fillStyle = `rgb(${level},${level},255)`;
    context.fillRect(margin + j * cell, margin + i * cell, cell, cell);
  }
  context.fillStyle = '#222'; context.font = `${Math.min(12, cell)}px monospace`;
  context.textAlign = 'right'; context.textBaseline = 'middle';
  tokens.forEach((token, i) => context.fillText(token.slice(0, 12), margin - 4, margin + i * cell + cell / 2));
  tokens.forEach((token, j) => {
    context.save(); context.translate(margin + j * cell + cell / 2, margin - 4); context.rotate(-Math.PI / 2);
    context.textAlign = 'left'; context.fillText(token.slice(0, 12), 0, 0); context.restore();
  });
  canvas.onmousemove = event => {
    const box = canvas.getBoundingClientRect();
    const j = Math.floor((event.clientX - box.left - margin) / cell), i = Math.floor((event.clientY - box.top - margin) / cell);
    document.getElementById('cell').textContent = (i >= 0 && j >= 0 && i < size && j < size)
      ? `${tokens[i]} → ${tokens[j]}: ${values[i][j].toFixed(4)}` : '';
  };
}
if (data.targets.length) {
  const picker = document.getElementById('target');
  picker.addEventListener('change', () => showTarget(Number(picker.value)));
  showTarget(0);
}
if (data.attention) {
  document.getElementById('layer').addEventListener('change', drawHeatmap);
  document.getElementById('head').addEventListener('change', drawHeatmap);
  drawHeatmap();
}
"""


def options_html(values: list[tuple[str, str]]) -> str:
    return "".join(f'<option value="{html.escape(value)}">{html.escape(label)}</option>' for value, label in values)


def render_html(data: dict) -> str:
    """A self-contained page (inline CSS and JS, no external resource) of `explain_json`'s data."""
    escape = html.escape
    prediction = data.get("prediction")
    predicted = (f'<p class="prediction" id="prediction">prediction: <b>{escape(str(prediction["label"]))}</b> '
                 f'(score {prediction["score"]:.4f})</p>' if prediction else
                 '<p class="prediction" id="prediction">nothing to explain: the model found no target</p>')
    targets = data.get("targets") or []
    first = targets[0] if targets else None
    # the first target's highlights are written into the page, so it reads even before (or without) the script
    static = "".join(f'<span class="token" title="score {item["score"]:.4f}">{escape(item["token"])}</span> '
                     for item in (first["attributions"] if first else []))
    settings = data.get("settings", {})
    attention_part = ""
    if data.get("attention"):
        layers, heads = data["attention"]["layers"], data["attention"]["heads"]
        layer_options = [(str(layer), f"layer {layer}") for layer in range(layers)] + [("rollout", "rollout")]
        head_options = [("mean", "mean of heads")] + [(str(head), f"head {head}") for head in range(heads)]
        attention_part = f"""
<h2>Attention</h2>
<label>Layer <select id="layer">{options_html(layer_options)}</select></label>
<label>Head <select id="head">{options_html(head_options)}</select></label>
<p class="note">Row = the attending token, column = the token attended to; darker = more attention.</p>
<canvas id="heatmap" width="400" height="400"></canvas>
<div id="cell"></div>"""
    payload = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace(
        "&", "\\u0026")
    target_options = options_html([(str(index), f"{target['label']} ({target['score']:.4f})")
                                   for index, target in enumerate(targets)])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>distilkit explanation: {escape(data.get("text", "")[:60])}</title>
<style>{STYLE}</style></head>
<body>
<h1>Why the model said what it said</h1>
<p>Task: <b>{escape(str(data.get("task")))}</b>. Text: <q id="text">{escape(data.get("text", ""))}</q></p>
{predicted}
<h2>Token attributions</h2>
<label>Target <select id="target">{target_options}</select></label>
<p class="note">Integrated gradients at the embedding layer from the [CLS] [PAD] … [SEP] baseline
({escape(str(settings.get("n_steps", "")))} steps, {escape(str(settings.get("method", "")))}); green tokens support the
target's logit, red ones speak against it. Hover a token for its score.</p>
<div class="tokens" id="highlights">{static}</div>
<p class="note" id="target-note"></p>
{attention_part}
<script id="explanation" type="application/json">{payload}</script>
<script>{SCRIPT}</script>
</body></html>
"""


def save_report(data: dict, path: str | Path) -> Path:
    """Write `render_html(data)` to `path` (UTF-8) and return the path."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"an HTML report needs a file name ending in .html, got {str(path)!r}")
    path.write_text(render_html(data), encoding="utf-8")
    return path
