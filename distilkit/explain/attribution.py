"""Token attributions by integrated gradients (Sundararajan et al., 2017) at the embedding layer.

The usual recipe for BERT-family models: the embeddings block's output is interpolated from the baseline text
`[CLS] [PAD] ... [SEP]` (special tokens kept, every other token replaced by padding) to the real text; the target
logit's gradients along that path, integrated with Gauss-Legendre or Riemann points (the same as Captum's) or with
the adaptive rule (Gauss-Legendre panels placed where a forward-only scan of the path shows the logit moving),
times the difference of the two embeddings, summed over the width, give one score per token. The scores add up to
F(text) - F(baseline) up to the convergence `delta`, which is returned. Targets: a class (sequence
classification), an entity's tokens (token classification), the answer's start/end (question answering), the
masked position's word (fill-mask).
The path is evaluated in chunks of `internal_batch_size` points, which bounds memory whatever `n_steps` is.
Shape letters: B path points in a chunk, T tokens, D model width, C classes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, InputError
from ..modeling.distilbert import (
    DistilBertForMaskedLM,
    DistilBertForMultipleChoice,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
)
from .encoding import Encoded, encode, unpack

METHODS = ("gausslegendre", "riemann_right", "riemann_left", "riemann_middle", "riemann_trapezoid", "adaptive")
# what attributions(), pipeline(..., explain=True) and `distilkit explain` use unless told
DEFAULT_METHOD = "adaptive"
# method="adaptive": F is scanned (forward passes only) at SCAN_PER_STEP * n_steps evenly spaced intervals of the
# path; the gradient nodes go in panels of about PANEL_NODES Gauss-Legendre points whose widths follow a density
# that is (1 - VARIATION_SHARE) uniform and VARIATION_SHARE proportional to |dF| between scan points
SCAN_PER_STEP = 2
PANEL_NODES = 5
VARIATION_SHARE = 0.5
TASKS = ("text-classification", "token-classification", "question-answering", "fill-mask")
# 50 path points per forward/backward pass: the usual n_steps in one pass, while 300 steps run in 6 passes of
# the same size instead of one pass six times as large
DEFAULT_INTERNAL_BATCH_SIZE = 50
HEAD_TASKS = {
    DistilBertForSequenceClassification: "text-classification",
    DistilBertForTokenClassification: "token-classification",
    DistilBertForQuestionAnswering: "question-answering",
    DistilBertForMaskedLM: "fill-mask",
}


@dataclass(frozen=True)
class Target:
    """What is attributed: `select` maps a model output to the target value per row, (B,) ."""

    label: str
    select: Callable[[Any], torch.Tensor] = field(repr=False)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Attributions:
    """One score per token (`scores`, float32 (T,)) for one target.

    `value` is F(text), `baseline_value` F(baseline); `delta` = sum(scores) - (value - baseline_value), the
    integration error. `as_list()` gives `[{"token", "start", "end", "score"}, ...]`, special tokens included.
    """

    text: str
    tokens: list[str]
    offsets: list[tuple[int, int]]
    scores: np.ndarray = field(repr=False)
    target: str
    value: float
    baseline_value: float
    delta: float
    n_steps: int
    method: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_list(self) -> list[dict[str, Any]]:
        return [{"token": token, "start": start, "end": end, "score": float(score)}
                for token, (start, end), score in zip(self.tokens, self.offsets, self.scores, strict=True)]


def check_steps(n_steps: Any, method: Any) -> None:
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise InputError(f"n_steps must be an int >= 1, got {n_steps!r}")
    if method not in METHODS:
        raise InputError(f"method={method!r} is not one of {', '.join(METHODS)}")
    if method == "riemann_trapezoid" and n_steps < 2:
        raise InputError("method='riemann_trapezoid' needs n_steps >= 2 (both ends of the path)")


def integration_points(n_steps: int, method: str, profile: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Path positions alpha in [0, 1] and their quadrature weights, (n_steps,) each, float64.

    method="adaptive" places its nodes by `profile`: the target's values F at evenly spaced path positions
    0, 1/m, ..., 1, shape (m + 1,) or (targets, m + 1) (see `adaptive_points`); the other methods ignore it.
    """
    check_steps(n_steps, method)
    if method == "adaptive":
        if profile is None:
            raise InputError("method='adaptive' places its nodes by the target's values along the path: pass "
                             "profile=F at evenly spaced positions 0..1 (attributions() scans them itself)")
        return adaptive_points(n_steps, profile)
    if method == "gausslegendre":
        return gauss_legendre(n_steps, 0.0, 1.0)
    if method == "riemann_trapezoid":
        weights = np.full(n_steps, 1 / (n_steps - 1))
        weights[[0, -1]] /= 2
        return np.linspace(0, 1, n_steps), weights
    first = {"riemann_left": 0.0, "riemann_right": 1 / n_steps, "riemann_middle": 0.5 / n_steps}[method]
    return first + np.arange(n_steps) / n_steps, np.full(n_steps, 1 / n_steps)


def gauss_legendre(count: int, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """`count` Gauss-Legendre nodes and weights on [low, high]."""
    nodes, weights = np.polynomial.legendre.leggauss(count)  # on [-1, 1]
    half = 0.5 * (high - low)
    return low + half * (nodes + 1), half * weights


def adaptive_points(n_steps: int, profile: Any) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre nodes placed where F moves, from a scan of F along the path.

    `profile`: F at m + 1 evenly spaced positions 0, 1/m, ..., 1 (shape (m + 1,), or (targets, m + 1) for several
    targets sharing the nodes). [0, 1] is cut into n_steps // PANEL_NODES panels (n_steps nodes shared out as
    evenly as possible), each integrated by Gauss-Legendre; the panel edges are equal quantiles of a density that
    is (1 - VARIATION_SHARE) uniform and VARIATION_SHARE proportional to |F(a_{j+1}) - F(a_j)| on each scan
    interval (each target's share normalised by its own total variation, then averaged). Where F swings — a
    detour, a ReLU switching — the panels narrow; where it is flat they widen. The weights sum to 1 and every
    panel is exact for polynomials of degree < 2 * (its nodes).
    """
    values = np.asarray(profile, dtype=np.float64)
    values = values[None] if values.ndim == 1 else values
    if values.ndim != 2 or values.shape[1] < 2:
        raise InputError(f"profile must hold F at >= 2 evenly spaced path positions, shape (m + 1,) or "
                         f"(targets, m + 1); got shape {np.shape(profile)}")
    if not np.isfinite(values).all():
        raise InputError("the target's values along the path are not all finite (the model returned nan or inf "
                         "for a point between the baseline and the text); the attributions cannot be integrated")
    intervals = values.shape[1] - 1
    variation = np.abs(np.diff(values, axis=1))  # (targets, m)
    totals = variation.sum(1)  # (targets,)
    moving = totals > 0
    share = (variation[moving] / totals[moving, None]).mean(0) if moving.any() else np.full(intervals, 1 / intervals)
    density = (1 - VARIATION_SHARE) / intervals + VARIATION_SHARE * share  # (m,) sums to 1
    cumulative = np.concatenate([[0.0], np.cumsum(density)])  # (m + 1,)
    cumulative /= cumulative[-1]
    panels = max(1, n_steps // PANEL_NODES)
    counts = np.full(panels, n_steps // panels)
    counts[:n_steps % panels] += 1
    edges = np.interp(np.concatenate([[0], np.cumsum(counts)]) / n_steps, cumulative,
                      np.linspace(0, 1, intervals + 1))
    edges[0], edges[-1] = 0.0, 1.0
    pieces = [gauss_legendre(int(count), low, high)
              for count, low, high in zip(counts, edges[:-1], edges[1:], strict=True)]
    return np.concatenate([nodes for nodes, _ in pieces]), np.concatenate([weights for _, weights in pieces])


def output_field(output: Any, name: str) -> torch.Tensor:
    value = output.get(name) if isinstance(output, Mapping) else getattr(output, name, None)
    if value is None and isinstance(output, (tuple, list)) and name in ("logits", "start_logits"):
        value = output[0]
    elif value is None and isinstance(output, (tuple, list)) and name == "end_logits":
        value = output[1]
    if not isinstance(value, torch.Tensor):
        raise InputError(f"the model's output ({type(output).__name__}) has no tensor {name!r} to attribute")
    return value


def infer_task(model: nn.Module, output: Any, encoded: Encoded, tokenizer: Any) -> str:
    """Which head `model` is: by class for distilkit's heads, else by the fields of its output."""
    for cls, task in HEAD_TASKS.items():
        if isinstance(model, cls):
            return task
    if isinstance(model, (DistilBertModel, DistilBertForMultipleChoice)):
        raise InputError(f"{type(model).__name__} has no attribution target: token attributions explain a "
                         "class, an entity, an answer span or a masked word; use a model with one of those heads "
                         "(attention maps work for every model)")
    fields = output if isinstance(output, Mapping) else vars(output) if hasattr(output, "__dict__") else {}
    if "start_logits" in fields:
        return "question-answering"
    logits = output_field(output, "logits")
    if logits.dim() == 2:
        return "text-classification"
    mask_id = getattr(tokenizer, "mask_token_id", None)
    if mask_id is not None and bool((encoded.inputs["input_ids"] == mask_id).any()):
        return "fill-mask"
    return "token-classification"


def label_index(model: nn.Module, target: Any, count: int) -> int:
    """A class index from an int or a label name."""
    config = getattr(model, "config", None)
    if isinstance(target, str):
        label2id = dict(getattr(config, "label2id", None) or {})
        label2id.update({label: int(index) for index, label in (getattr(config, "id2label", None) or {}).items()})
        if target not in label2id:
            raise InputError(f"target {target!r} is not a label of this model; labels: {sorted(label2id)}")
        return int(label2id[target])
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= target < count:
        raise InputError(f"target must be a label name or a class index in [0, {count}), got {target!r}")
    return int(target)


def label_name(model: nn.Module, index: int) -> str:
    id2label = getattr(getattr(model, "config", None), "id2label", None) or {}
    return str(id2label.get(index, id2label.get(str(index), f"LABEL_{index}")))


def span_positions(encoded: Encoded, start: Any, end: Any, segment: int | None = None) -> list[int]:
    """The non-special tokens whose characters overlap [start, end)."""
    if isinstance(start, bool) or isinstance(end, bool) or not isinstance(start, int) or not isinstance(end, int) \
            or not 0 <= start < end:
        raise InputError(f"a target span needs int characters 0 <= start < end, got start={start!r}, end={end!r}")
    positions = [index for index, ((first, last), special, part) in
                 enumerate(zip(encoded.offsets, encoded.special, encoded.segments, strict=True))
                 if not special and first < end and last > start and (segment is None or part == segment)]
    if not positions:
        raise InputError(f"no token covers characters {start}..{end} of the text; the span is outside the "
                         "(possibly truncated) text")
    return positions


def check_position(position: Any, length: int) -> int:
    if isinstance(position, bool) or not isinstance(position, (int, np.integer)) or not 0 <= position < length:
        raise InputError(f"token position {position!r} is out of range: the text has {length} tokens "
                         f"(valid: 0..{length - 1})")
    return int(position)


def classification_target(model: nn.Module, logits: torch.Tensor, target: Any) -> Target:
    index = int(logits[0].argmax()) if target is None else label_index(model, target, logits.size(-1))
    name = label_name(model, index)
    return Target(name, lambda output: output_field(output, "logits")[:, index], {"label": name, "index": index})


def token_target(model: nn.Module, logits: torch.Tensor, encoded: Encoded, target: Any) -> Target:
    """An entity: its token positions (an int, a list of ints, or a `{start, end}` character span such as a
    ner pipeline result), each attributed through its predicted label's logit (summed)."""
    length = len(encoded.tokens)
    if target is None:
        raise InputError("token classification needs target=: the entity to explain, as a ner result "
                         "{'start': ..., 'end': ...} (characters), a token position, or a list of positions")
    if isinstance(target, Mapping):
        if "index" in target and "start" not in target:
            positions = [check_position(target["index"], length)]
        else:
            positions = span_positions(encoded, target.get("start"), target.get("end"))
    elif isinstance(target, Sequence) and not isinstance(target, str) and target:
        positions = [check_position(position, length) for position in target]
    else:
        positions = [check_position(target, length)]
    labels = [int(logits[0, position].argmax()) for position in positions]
    names = [label_name(model, label) for label in labels]
    word = " ".join(encoded.tokens[position] for position in positions)
    rows, columns = torch.tensor(positions), torch.tensor(labels)

    def select(output: Any) -> torch.Tensor:
        return output_field(output, "logits")[:, rows, columns].sum(-1)

    return Target(f"{word} ({', '.join(dict.fromkeys(names))})", select,
                  {"positions": positions, "labels": names})


def answer_target(output: Any, encoded: Encoded, target: Any) -> Target:
    """"start" / "end" (the best position among the context's tokens), ("start" | "end", position), or an
    answer `{start, end}` in characters of the context (start logit + end logit of its first and last token)."""
    length = len(encoded.tokens)
    context = [index for index, (special, part) in enumerate(zip(encoded.special, encoded.segments, strict=True))
               if not special and part == (1 if any(encoded.segments) else 0)]
    if isinstance(target, Mapping):
        positions = span_positions(encoded, target.get("start"), target.get("end"),
                                   segment=1 if any(encoded.segments) else None)
        first, last = positions[0], positions[-1]

        def span(out: Any) -> torch.Tensor:
            return output_field(out, "start_logits")[:, first] + output_field(out, "end_logits")[:, last]

        return Target(" ".join(encoded.tokens[first:last + 1]), span, {"start": first, "end": last})
    side, position = target, None
    if isinstance(target, (tuple, list)) and len(target) == 2:
        side, position = target
    if side not in ("start", "end"):
        raise InputError(f"question answering needs target='start', 'end', ('start'|'end', token position) or an "
                         f"answer {{'start': ..., 'end': ...}} in characters of the context; got {target!r}")
    name = f"{side}_logits"
    if position is None:
        logits = output_field(output, name)[0]
        position = max(context or range(length), key=lambda index: float(logits[index]))
    position = check_position(position, length)
    return Target(f"{side}: {encoded.tokens[position]}", lambda out: output_field(out, name)[:, position],
                  {side: position})


def mask_target(tokenizer: Any, logits: torch.Tensor, encoded: Encoded, target: Any) -> Target:
    """The masked position's word: the predicted one by default, else a token id, a word, or a fill-mask
    candidate `{"token": id}` (with `"position"`, the mask's token position, when the text has several)."""
    position = None
    if isinstance(target, Mapping):
        target, position = target.get("token"), target.get("position")
    if position is not None:
        position = check_position(position, len(encoded.tokens))
    else:
        masks = (encoded.inputs["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten().tolist()
        if not masks:
            raise InputError(f"the text has no mask token {tokenizer.mask_token!r} whose word could be explained; "
                             f"put it where a word should be predicted")
        position = masks[0]
    vocab_size = logits.size(-1)
    if target is None:
        token = int(logits[0, position].argmax())
    elif isinstance(target, str):
        token = tokenizer.convert_tokens_to_ids(target)
        if token is None or token == tokenizer.unk_token_id and target != tokenizer.unk_token:
            raise InputError(f"target word {target!r} is not in the vocabulary; pass a vocabulary word or id")
    elif isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= target < vocab_size:
        raise InputError(f"target must be a word or a token id in [0, {vocab_size}), got {target!r}")
    else:
        token = int(target)
    word = tokenizer.convert_ids_to_tokens(token)
    return Target(word, lambda out: output_field(out, "logits")[:, position, token],
                  {"position": position, "token": token})


def resolve_target(model: nn.Module, tokenizer: Any, encoded: Encoded, output: Any, task: str, target: Any) -> Target:
    if task == "text-classification":
        return classification_target(model, output_field(output, "logits"), target)
    if task == "token-classification":
        return token_target(model, output_field(output, "logits"), encoded, target)
    if task == "question-answering":
        return answer_target(output, encoded, target)
    if task == "fill-mask":
        return mask_target(tokenizer, output_field(output, "logits"), encoded, target)
    raise InputError(f"task {task!r} has no attribution target; attributions explain one of: {', '.join(TASKS)}")


def embedding_layer(model: nn.Module) -> nn.Module:
    """The embeddings block of a distilkit model (the encoder's `embeddings`)."""
    base = getattr(model, getattr(model, "base_model_prefix", ""), None) or model
    layer = getattr(base, "embeddings", None)
    if not isinstance(layer, nn.Module):
        raise ConfigError(f"{type(model).__name__} has no `embeddings` module to attribute at; pass layer=... "
                          "(the module whose output the attributions are taken at)")
    return layer


def baseline_ids(input_ids: torch.Tensor, special: list[bool], baseline_token_id: int) -> torch.Tensor:
    """[CLS] [PAD] ... [SEP]: special tokens kept, every other token replaced."""
    keep = torch.tensor(special, device=input_ids.device)[None]  # (1, T)
    return torch.where(keep, input_ids, torch.full_like(input_ids, baseline_token_id))  # (1, T)


def check_batch_size(internal_batch_size: Any) -> int:
    if isinstance(internal_batch_size, bool) or not isinstance(internal_batch_size, int) or internal_batch_size < 1:
        raise InputError(f"internal_batch_size must be an int >= 1, got {internal_batch_size!r}")
    return internal_batch_size


def integrate(model: nn.Module, layer: nn.Module, encoded: Encoded, baseline: torch.Tensor,
              targets: list[Target], n_steps: int, method: str, internal_batch_size: int,
              ) -> tuple[list[np.ndarray], list[float], list[float], list[float]]:
    """Integrated gradients of every target at once (the path's forward passes are shared).

    method="adaptive" first scans F along the path (forward passes only, no gradients) to place its nodes.
    Returns per target: scores (T,), F(text), F(baseline), delta.
    """
    internal_batch_size = check_batch_size(internal_batch_size)
    inputs = encoded.inputs
    captured: list[torch.Tensor] = []
    replacement: list[torch.Tensor] = []

    def hook(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor | None:
        if replacement:
            return replacement[0]
        captured.append(output.detach())
        return None

    def path_chunks(positions: np.ndarray, grad: bool):
        """(alpha (B, 1, 1), the interpolated embeddings (B, T, D), the model's output) per chunk of points."""
        for first in range(0, len(positions), internal_batch_size):
            alpha = torch.tensor(positions[first:first + internal_batch_size], dtype=end.dtype,
                                 device=end.device)[:, None, None]  # (B, 1, 1)
            scaled = (start + alpha * difference).requires_grad_(grad)  # (B, T, D)
            replacement[:] = [scaled]
            batch = {key: value.expand(alpha.size(0), -1) for key, value in inputs.items()}  # (B, T) each
            yield first, scaled, model(**batch)

    handle = layer.register_forward_hook(hook)
    try:
        with torch.no_grad():
            end_output = model(**inputs)
            start_output = model(**{**inputs, "input_ids": baseline})
        end, start = captured  # (1, T, D) each: the layer's output on the text and on the baseline
        difference = end - start  # (1, T, D)
        profile = None
        if method == "adaptive":
            intervals = SCAN_PER_STEP * n_steps

            def selected(output: Any) -> torch.Tensor:  # (targets, B)
                return torch.stack([target.select(output) for target in targets])

            with torch.no_grad():
                scanned = [selected(output)
                           for _, _, output in path_chunks(np.arange(1, intervals) / intervals, grad=False)]
            profile = torch.cat([selected(start_output), *scanned, selected(end_output)],
                                dim=1).double().cpu().numpy()  # (targets, intervals + 1)
        alphas, weights = integration_points(n_steps, method, profile)
        totals = [torch.zeros_like(end[0]) for _ in targets]  # (T, D) each
        for first, scaled, output in path_chunks(alphas, grad=True):
            weight = torch.tensor(weights[first:first + internal_batch_size], dtype=end.dtype,
                                  device=end.device)[:, None, None]  # (B, 1, 1)
            for index, target in enumerate(targets):
                value = target.select(output)  # (B,)
                (gradient,) = torch.autograd.grad(value.sum(), scaled, retain_graph=index < len(targets) - 1)
                totals[index] += (gradient * weight).sum(0)  # (T, D)
    finally:
        handle.remove()
    results: tuple[list, list, list, list] = ([], [], [], [])
    for total, target in zip(totals, targets, strict=True):
        scores = (total * difference[0]).sum(-1)  # (T,)
        value, base = float(target.select(end_output)[0]), float(target.select(start_output)[0])
        results[0].append(scores.float().cpu().numpy())
        results[1].append(value)
        results[2].append(base)
        results[3].append(float(scores.sum()) - (value - base))
    return results


def explain_encoded(model: nn.Module, tokenizer: Any, encoded: Encoded, text: str, targets: list[Any] | None = None,
                    *, task: str | None = None, n_steps: int = 50,
                    method: str = DEFAULT_METHOD, internal_batch_size: int = DEFAULT_INTERNAL_BATCH_SIZE,
                    baseline_token_id: int | None = None, layer: nn.Module | None = None) -> list[Attributions]:
    """Attributions of several targets of one encoded input in one integration (what pipelines call)."""
    check_steps(n_steps, method)  # bad options fail before any forward pass
    check_batch_size(internal_batch_size)
    if task is not None and task not in TASKS:
        raise InputError(f"task {task!r} has no attribution target; attributions explain one of: {', '.join(TASKS)}")
    if baseline_token_id is None:
        baseline_token_id = getattr(tokenizer, "pad_token_id", None)
        if baseline_token_id is None:
            raise ConfigError("the tokenizer has no pad token for the [CLS] [PAD] ... [SEP] baseline; pass "
                              "baseline_token_id=...")
    quantization = getattr(getattr(model, "config", None), "quantization_config", None)
    if quantization:
        method = quantization.get("quant_method", quantization) if isinstance(quantization, Mapping) else quantization
        raise InputError(f"integrated gradients need gradients, which a quantized model ({method}) does not have; "
                         "explain the float model (loaded without dtype='int8'); attention maps work on both")
    layer = layer if layer is not None else embedding_layer(model)
    was_training = model.training
    model.eval()  # dropout would make every path point random
    # only the path's embeddings need gradients: autograd then neither records nor keeps what the weights'
    # gradients would need (restored afterwards, so training code sees its model unchanged)
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    for parameter in trainable:
        parameter.requires_grad_(False)
    try:
        with torch.inference_mode(False), torch.enable_grad():
            with torch.no_grad():
                output = model(**encoded.inputs)
            task = task or infer_task(model, output, encoded, tokenizer)
            prepared = [resolve_target(model, tokenizer, encoded, output, task, target)
                        for target in (targets or [None])]
            baseline = baseline_ids(encoded.inputs["input_ids"], encoded.special, baseline_token_id)
            scores, values, bases, deltas = integrate(model, layer, encoded, baseline, prepared, n_steps, method,
                                                      internal_batch_size)
    finally:
        model.train(was_training)
        for parameter in trainable:
            parameter.requires_grad_(True)
    return [Attributions(text=text, tokens=encoded.tokens, offsets=encoded.offsets, scores=score,
                         target=target.label, value=value, baseline_value=base, delta=delta, n_steps=n_steps,
                         method=method, details=target.details)
            for target, score, value, base, delta in zip(prepared, scores, values, bases, deltas, strict=True)]


def attributions(model: Any, tokenizer: Any = None, text: Any = None, text_pair: str | None = None, *,
                 target: Any = None, task: str | None = None, n_steps: int = 50, method: str = DEFAULT_METHOD,
                 internal_batch_size: int = DEFAULT_INTERNAL_BATCH_SIZE, baseline_token_id: int | None = None,
                 layer: nn.Module | None = None, truncation: bool = True) -> Attributions:
    """Integrated-gradients attributions of one target of `model` on `text` (and `text_pair`).

    `target` by head: sequence classification — a label name or index (default: the predicted label's logit);
    token classification — an entity as characters `{"start", "end"}` (e.g. a ner pipeline result), a token
    position or positions; question answering (`text` the question, `text_pair` the context) — "start", "end",
    ("start" | "end", position) or an answer `{"start", "end"}`; fill-mask — a word, token id or fill-mask
    candidate (default: the predicted word at the first mask). `task` overrides the head inferred from the model.

    `method`: "adaptive" spends the same `n_steps` gradient evaluations where the logit moves. It first runs
    forward passes only (no gradients) at 2 * n_steps - 1 evenly spaced path points, then cuts [0, 1] into
    n_steps // 5 panels of about 5 Gauss-Legendre nodes each, the panels narrow where |F(a') - F(a)| between scan
    points is large (half the nodes follow that variation, half are spread evenly). A forward costs about a third
    of a forward + backward, so the scan adds about two thirds of the gradient work (see docs/explain.md for
    measured cost). "gausslegendre" and "riemann_left|right|middle|trapezoid" are the fixed rules, equal to
    Captum's LayerIntegratedGradients at the same n_steps. Whatever the rule, `delta` is the true completeness
    residual sum(scores) - (F(text) - F(baseline)).

    >>> result = attributions(classifier, "A gorgeous, witty film.")     # doctest: +SKIP
    >>> result.target, result.as_list()[2], result.delta                  # doctest: +SKIP
    ('POSITIVE', {'token': 'gorgeous', 'start': 2, 'end': 10, 'score': 1.73}, 0.0004)
    """
    model, tokenizer, text, _ = unpack(model, tokenizer, text)  # one unpadded row: packing changes nothing
    encoded = encode(model, tokenizer, text, text_pair, truncation)
    return explain_encoded(model, tokenizer, encoded, text, [target], task=task, n_steps=n_steps, method=method,
                           internal_batch_size=internal_batch_size, baseline_token_id=baseline_token_id,
                           layer=layer)[0]
