"""The playground page served at `/`: one self-contained HTML document (inline CSS and JavaScript, nothing
fetched from elsewhere, so it works offline) that calls the server's own routes.

Pick a model and task, type a text, press Run: labels and scores as bars, entities highlighted in the text,
answers highlighted in their context, fill-mask candidates, zero-shot scores, embedding summaries. For text
classification, token classification and fill-mask, an Explain button shows token attributions (one target at a
time) and attention maps (rollout, a layer's mean, or one head) from `/v1/explain`.
Every model output is inserted as text (never as HTML), so a crafted input cannot inject markup.
"""

from __future__ import annotations

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>distilkit playground</title>
<link rel="icon" href="data:,">
<style>
  :root { --ink: #1d2330; --muted: #667085; --line: #d0d5dd; --accent: #3559e0; --bg: #f7f8fa; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--ink); background: var(--bg); }
  main { max-width: 860px; margin: 0 auto; padding: 24px; }
  h1 { font-size: 22px; margin: 0 0 4px; }
  .muted { color: var(--muted); font-size: 13px; }
  .card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px; margin-top: 16px; }
  label { display: block; font-weight: 600; margin: 10px 0 4px; }
  select, textarea, input { width: 100%; font: inherit; padding: 8px; border: 1px solid var(--line);
                            border-radius: 6px; background: #fff; }
  textarea { min-height: 80px; resize: vertical; }
  button { margin-top: 12px; padding: 8px 18px; font: inherit; font-weight: 600; color: #fff;
           background: var(--accent); border: 0; border-radius: 6px; cursor: pointer; }
  button:disabled { opacity: .5; cursor: wait; }
  button.secondary { background: #fff; color: var(--accent); border: 1px solid var(--accent); margin-left: 8px; }
  .hidden { display: none; }
  .row { display: grid; grid-template-columns: 180px 1fr 70px; gap: 10px; align-items: center; margin: 4px 0; }
  .bar { height: 12px; background: #e4e7ec; border-radius: 6px; overflow: hidden; }
  .bar > div { height: 100%; background: var(--accent); }
  .score { text-align: right; font-variant-numeric: tabular-nums; }
  #label { font-size: 20px; font-weight: 700; }
  mark { border-radius: 4px; padding: 0 3px; background: #ffe58f; }
  mark .tag { font-size: 11px; font-weight: 700; color: #7a5b00; margin-left: 4px; }
  .token { display: inline-block; padding: 1px 3px; margin: 1px; border-radius: 3px; font-family: monospace; }
  #attention { margin-top: 8px; border: 1px solid var(--line); image-rendering: pixelated; }
  .error { color: #b42318; white-space: pre-wrap; }
  pre { white-space: pre-wrap; word-break: break-word; font-size: 13px; }
</style>
</head>
<body>
<main>
  <h1>distilkit playground</h1>
  <div class="muted" id="status">connecting…</div>
  <div class="card">
    <label for="task">Model and task</label>
    <select id="task"></select>
    <label for="text" id="text-label">Text</label>
    <textarea id="text">A gorgeous, witty, seductive movie.</textarea>
    <div id="labels-box" class="hidden">
      <label for="labels">Candidate labels (comma-separated)</label>
      <input id="labels" value="cinema, politics, sports">
    </div>
    <div id="choices-box" class="hidden">
      <label for="choices">Choices (one per line)</label>
      <textarea id="choices">sat on the mat.
flew to the moon.</textarea>
    </div>
    <div id="context-box" class="hidden">
      <label for="context">Context</label>
      <textarea id="context">Marie lives in Paris.</textarea>
    </div>
    <button id="run">Run</button><button id="explain" class="secondary hidden">Explain</button>
  </div>
  <div class="card">
    <div id="error" class="error"></div>
    <div id="label"></div>
    <div id="result"></div>
  </div>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let info = null;

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function scoreRows(pairs) {
  const box = element("div");
  for (const [name, score] of pairs) {
    const row = element("div", null, "row");
    row.appendChild(element("span", name));
    const bar = element("div", null, "bar");
    const fill = element("div");
    fill.style.width = (Math.max(0, Math.min(1, score)) * 100).toFixed(1) + "%";
    bar.appendChild(fill);
    row.appendChild(bar);
    row.appendChild(element("span", Number(score).toFixed(4), "score"));
    box.appendChild(row);
  }
  return box;
}

function highlighted(text, spans) {
  // spans: [{start, end, tag}] sorted, not overlapping; text between them stays plain text nodes
  const box = element("p");
  let at = 0;
  for (const span of spans) {
    if (span.start < at) continue;
    box.appendChild(document.createTextNode(text.slice(at, span.start)));
    const mark = element("mark", text.slice(span.start, span.end));
    if (span.tag) mark.appendChild(element("span", span.tag, "tag"));
    box.appendChild(mark);
    at = span.end;
  }
  box.appendChild(document.createTextNode(text.slice(at)));
  return box;
}

function selected() {
  const [task, model] = $("task").value.split("|");
  return { task, model };
}

function requestBody(task, model) {
  const text = $("text").value;
  const body = { inputs: text, parameters: {}, model };
  if (task === "text-classification") body.parameters.top_k = null;
  if (task === "token-classification") body.parameters.aggregation_strategy = "simple";
  if (task === "feature-extraction") Object.assign(body.parameters, { pooling: "mean", normalize: true });
  if (task === "zero-shot-classification")
    body.parameters.candidate_labels = $("labels").value.split(",").map((s) => s.trim()).filter(Boolean);
  if (task === "question-answering") body.inputs = { question: text, context: $("context").value };
  if (task === "multiple-choice") {
    body.inputs = { question: text, choices: $("choices").value.split("\\n").map((s) => s.trim()).filter(Boolean) };
    if ($("context").value.trim()) body.inputs.context = $("context").value;
  }
  return body;
}

function render(task, body, output) {
  const result = $("result");
  const setLabel = (text) => { $("label").textContent = text; };
  if (task === "text-classification") {
    setLabel(output[0].label);
    result.appendChild(scoreRows(output.map((entry) => [entry.label, entry.score])));
  } else if (task === "token-classification") {
    setLabel(output.length ? output.map((entity) => entity.entity_group).join(", ") : "no entities");
    result.appendChild(highlighted(body.inputs, output.map((entity) =>
      ({ start: entity.start, end: entity.end, tag: entity.entity_group + " " + entity.score.toFixed(2) }))));
  } else if (task === "zero-shot-classification") {
    setLabel(output.labels[0]);
    result.appendChild(scoreRows(output.labels.map((name, index) => [name, output.scores[index]])));
  } else if (task === "fill-mask") {
    setLabel(output[0].token_str);
    result.appendChild(scoreRows(output.map((entry) => [entry.token_str, entry.score])));
    result.appendChild(element("p", output[0].sequence, "muted"));
  } else if (task === "question-answering") {
    setLabel(output.answer);
    result.appendChild(highlighted(body.inputs.context, [{ start: output.start, end: output.end, tag: output.score.toFixed(3) }]));
  } else if (task === "multiple-choice") {
    setLabel(output[0].choice);
    result.appendChild(scoreRows(output.map((entry) => [entry.choice, entry.score])));
  } else if (task === "feature-extraction") {
    setLabel(output.length + "-dimensional embedding");
    result.appendChild(element("pre", "[" + output.slice(0, 8).map((v) => v.toFixed(4)).join(", ") + ", …]"));
  } else {
    result.appendChild(element("pre", JSON.stringify(output, null, 2)));
  }
}

function attributionColour(score, scale) {
  const strength = scale > 0 ? Math.min(1, Math.abs(score) / scale) : 0;
  const alpha = (0.08 + 0.72 * strength).toFixed(3);
  return score >= 0 ? `rgba(26, 153, 51, ${alpha})` : `rgba(217, 38, 38, ${alpha})`;
}

function showTarget(output, index) {
  const box = $("attributions");
  box.textContent = "";
  const target = output.targets[index];
  const scale = Math.max(0, ...target.attributions.map((item) => Math.abs(item.score)));
  for (const item of target.attributions) {
    const span = element("span", item.token, "token");
    span.title = "score " + item.score.toFixed(4);
    span.style.background = attributionColour(item.score, scale);
    box.appendChild(span);
  }
}

function attentionMatrix(attention, view) {
  if (view === "rollout") return attention.rollout;
  const [layer, head] = view.split(":").map(Number);
  const heads = attention.weights[layer];
  if (head >= 0) return heads[head];
  return heads[0].map((row, i) => row.map((_, j) => heads.reduce((sum, h) => sum + h[i][j], 0) / heads.length));
}

function drawAttention(output, view) {
  const matrix = attentionMatrix(output.attention, view);
  const canvas = $("attention");
  const size = matrix.length;
  const cell = Math.max(4, Math.min(24, Math.floor(360 / size)));
  canvas.width = canvas.height = cell * size;
  const context = canvas.getContext("2d");
  const largest = Math.max(1e-9, ...matrix.flat());
  matrix.forEach((row, i) => row.forEach((value, j) => {
    context.fillStyle = `rgba(53, 89, 224, ${(value / largest).toFixed(3)})`;
    context.fillRect(j * cell, i * cell, cell, cell);
  }));
  $("attention-note").textContent = "rows attend to columns: " + output.tokens.map((t) => t.token).join(" ");
}

function renderExplanation(output) {
  const result = $("result");
  if (output.prediction) $("label").textContent = output.prediction.label;
  result.appendChild(element("h3", "Token attributions"));
  const targets = element("select");
  targets.id = "target";
  output.targets.forEach((target, index) => {
    const option = element("option", `${target.label} (${Number(target.score).toFixed(3)})`);
    option.value = String(index);
    targets.appendChild(option);
  });
  targets.addEventListener("change", () => showTarget(output, Number(targets.value)));
  result.appendChild(targets);
  const box = element("p");
  box.id = "attributions";
  result.appendChild(box);
  if (output.targets.length) showTarget(output, 0);
  if (!output.attention) return;
  result.appendChild(element("h3", "Attention"));
  const views = element("select");
  views.id = "attention-view";
  const add = (value, text) => { const option = element("option", text); option.value = value; views.appendChild(option); };
  add("rollout", "rollout (all layers)");
  for (let layer = 0; layer < output.attention.layers; layer++) {
    add(`${layer}:-1`, `layer ${layer + 1}, mean of heads`);
    for (let head = 0; head < output.attention.heads; head++) add(`${layer}:${head}`, `layer ${layer + 1}, head ${head + 1}`);
  }
  views.addEventListener("change", () => drawAttention(output, views.value));
  result.appendChild(views);
  const canvas = element("canvas");
  canvas.id = "attention";
  result.appendChild(element("div")).appendChild(canvas);
  result.appendChild(element("p", null, "muted")).id = "attention-note";
  drawAttention(output, "rollout");
}

async function call(path, body) {
  const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                        body: JSON.stringify(body) });
  const output = await response.json();
  if (!response.ok) throw new Error(`${response.status} ${output.type}: ${output.error}`);
  return output;
}

async function run(explain) {
  const { task, model } = selected();
  const body = requestBody(task, model);
  for (const id of ["error", "label", "result"]) $(id).textContent = "";
  $("run").disabled = $("explain").disabled = true;
  try {
    if (explain) renderExplanation(await call("/v1/explain", { inputs: $("text").value, model }));
    else render(task, body, await call("/v1/" + task, body));
  } catch (error) {
    $("error").textContent = error.message;
  } finally {
    $("run").disabled = $("explain").disabled = false;
  }
}

function showFields() {
  const { task } = selected();
  $("labels-box").classList.toggle("hidden", task !== "zero-shot-classification");
  $("choices-box").classList.toggle("hidden", task !== "multiple-choice");
  $("context-box").classList.toggle("hidden", task !== "question-answering" && task !== "multiple-choice");
  $("text-label").textContent = task === "question-answering" || task === "multiple-choice" ? "Question" : "Text";
  const explainable = ["text-classification", "token-classification", "fill-mask"].includes(task);
  $("explain").classList.toggle("hidden", !(info && info.explain && explainable));
}

async function start() {
  try {
    info = await (await fetch("/info")).json();
  } catch (error) {
    $("status").textContent = "cannot reach the server: " + error.message;
    return;
  }
  for (const model of info.models) {
    const option = element("option", `${model.name} — ${model.task}`);
    option.value = model.task + "|" + model.name;
    $("task").appendChild(option);
  }
  $("status").textContent = (info.ready ? "ready" : "loading models…") + " · distilkit " + info.versions.distilkit;
  showFields();
  if (!info.ready) setTimeout(() => { $("task").textContent = ""; start(); }, 2000);
}

$("task").addEventListener("change", showFields);
$("run").addEventListener("click", () => run(false));
$("explain").addEventListener("click", () => run(true));
start();
</script>
</body>
</html>
"""


def playground_html() -> str:
    return PAGE
