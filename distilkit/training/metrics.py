"""Evaluation metrics, small and dependency-free (numpy only): classification, BIO entities, SQuAD, regression.

Semantics follow the libraries people compare against: precision/recall/F1 as scikit-learn computes them (macro
over the labels seen in references or predictions, 0 where undefined); entity-level scores as seqeval's default
(CoNLL `conlleval` chunking: an `I-` after `O` or after another type starts an entity); SQuAD exact match / F1 with
the official answer normalisation, in percent; Pearson and Spearman (average ranks for ties) as scipy.
`classification_metrics` and `regression_metrics` plug straight into `Trainer(compute_metrics=...)`.
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError


def _pair(predictions: Any, references: Any) -> tuple[np.ndarray, np.ndarray]:
    predictions, references = np.asarray(predictions), np.asarray(references)
    if predictions.shape != references.shape:
        raise InputError(f"predictions have shape {predictions.shape} but references {references.shape}; "
                         "give one prediction per reference")
    if predictions.size == 0:
        raise InputError("no predictions to score (empty input)")
    return predictions.ravel(), references.ravel()


def accuracy(predictions: Any, references: Any) -> float:
    """Share of predictions equal to their reference."""
    predictions, references = _pair(predictions, references)
    return float(np.mean(predictions == references))


def _ratio(numerator: float, denominator: float, zero_division: float) -> float:
    return numerator / denominator if denominator else zero_division


def precision_recall_f1(predictions: Any, references: Any, *, average: str | None = "macro",
                        labels: Sequence[Hashable] | None = None, zero_division: float = 0.0) -> dict[str, Any]:
    """Precision, recall and F1 of single-label classification.

    `average`: "macro" (mean over labels), "weighted" (mean weighted by each label's support), "micro" (from
    pooled counts) or None (a dict per label with precision, recall, f1 and support). Labels default to those
    that occur in references or predictions; a ratio with a zero denominator is `zero_division`.
    """
    if average not in ("macro", "micro", "weighted", None):
        raise InputError(f"average={average!r} is not one of 'macro', 'micro', 'weighted', None")
    predictions, references = _pair(predictions, references)
    chosen = sorted(set(references.tolist()) | set(predictions.tolist())) if labels is None else list(labels)
    counts = {}
    for label in chosen:
        true_positive = int(np.sum((predictions == label) & (references == label)))
        counts[label] = (true_positive, int(np.sum(predictions == label)) - true_positive,
                         int(np.sum(references == label)) - true_positive)
    if average == "micro":
        tp, fp, fn = (sum(count[i] for count in counts.values()) for i in range(3))
        return {"precision": _ratio(tp, tp + fp, zero_division), "recall": _ratio(tp, tp + fn, zero_division),
                "f1": _ratio(2 * tp, 2 * tp + fp + fn, zero_division)}
    per_label = {label: {"precision": _ratio(tp, tp + fp, zero_division), "recall": _ratio(tp, tp + fn, zero_division),
                         "f1": _ratio(2 * tp, 2 * tp + fp + fn, zero_division), "support": tp + fn}
                 for label, (tp, fp, fn) in counts.items()}
    if average is None:
        return per_label
    weights = np.array([scores["support"] if average == "weighted" else 1.0 for scores in per_label.values()])
    if not weights.sum():
        return {"precision": zero_division, "recall": zero_division, "f1": zero_division}
    return {name: float(np.average([scores[name] for scores in per_label.values()], weights=weights))
            for name in ("precision", "recall", "f1")}


def classification_metrics(eval_prediction: Any) -> dict[str, float]:
    """`compute_metrics` for single-label classification: accuracy and macro precision / recall / F1 of the
    argmax of the logits, or of class ids already reduced by `preprocess_logits_for_metrics` (positions labelled
    -100, e.g. in token classification, are skipped)."""
    logits, labels = eval_prediction[0], np.asarray(eval_prediction[1])
    logits = np.asarray(logits[0] if isinstance(logits, tuple) else logits)
    predictions = logits if logits.ndim == labels.ndim else logits.argmax(-1)
    keep = labels != -100
    predictions, labels = predictions[keep], labels[keep]
    scores = precision_recall_f1(predictions, labels, average="macro")
    return {"accuracy": accuracy(predictions, labels), **scores}


# -- entity-level scores for BIO tagging ------------------------------------------------------------------------

def _split_tag(tag: str) -> tuple[str, str]:
    if not isinstance(tag, str):
        raise InputError(f"tags must be strings like 'B-PER', 'I-PER' or 'O', got {tag!r}")
    if tag == "O":
        return "O", ""
    prefix, _, kind = tag.partition("-")
    if prefix not in ("B", "I", "E", "S"):
        raise InputError(f"tag {tag!r} does not start with B-, I-, E- or S- (and is not 'O')")
    return prefix, kind


def get_entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, first token, last token) of each entity in one tag sequence, chunked as CoNLL's conlleval does.

    >>> get_entities(["B-PER", "I-PER", "O", "I-LOC", "B-LOC"])
    [('PER', 0, 1), ('LOC', 3, 3), ('LOC', 4, 4)]
    """
    entities, start = [], None
    previous, previous_kind = "O", ""
    for position, tag in enumerate([*tags, "O"]):
        prefix, kind = _split_tag(tag)
        ends = (previous in ("E", "S") or (previous in ("B", "I") and prefix in ("B", "S", "O"))
                or (previous != "O" and previous_kind != kind))
        if start is not None and ends:
            entities.append((previous_kind, start, position - 1))
            start = None
        begins = (prefix in ("B", "S") or (previous in ("E", "S", "O") and prefix in ("I", "E"))
                  or (prefix != "O" and previous_kind != kind))
        if begins:
            start = position
        previous, previous_kind = prefix, kind
    return entities


def entity_scores(references: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Entity-level precision / recall / F1 (micro over entities; an entity counts when type and span both
    match), token accuracy, and the same scores per entity type under "per_type"."""
    if len(references) != len(predictions):
        raise InputError(f"{len(references)} reference sequences but {len(predictions)} predicted ones")
    true, predicted = set(), set()
    correct_tokens = total_tokens = 0
    for sentence, (reference, prediction) in enumerate(zip(references, predictions, strict=True)):
        if len(reference) != len(prediction):
            raise InputError(f"sequence {sentence} has {len(reference)} reference tags but {len(prediction)} "
                             "predicted ones")
        true |= {(sentence, *entity) for entity in get_entities(reference)}
        predicted |= {(sentence, *entity) for entity in get_entities(prediction)}
        correct_tokens += sum(a == b for a, b in zip(reference, prediction, strict=True))
        total_tokens += len(reference)

    def scores(true_set: set, predicted_set: set) -> dict[str, float]:
        hits = len(true_set & predicted_set)
        precision = _ratio(hits, len(predicted_set), 0.0)
        recall = _ratio(hits, len(true_set), 0.0)
        return {"precision": precision, "recall": recall,
                "f1": _ratio(2 * precision * recall, precision + recall, 0.0), "support": len(true_set)}

    kinds = sorted({entity[1] for entity in true | predicted})
    per_type = {kind: scores({e for e in true if e[1] == kind}, {e for e in predicted if e[1] == kind})
                for kind in kinds}
    overall = scores(true, predicted)
    overall.pop("support")
    return {**overall, "accuracy": _ratio(correct_tokens, total_tokens, 0.0), "per_type": per_type}


# -- SQuAD ------------------------------------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation and the articles a/an/the, collapse whitespace (the official SQuAD rules)."""
    text = "".join(character for character in text.lower() if character not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def squad_exact_match(prediction: str, ground_truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def squad_f1(prediction: str, ground_truth: str) -> float:
    """Bag-of-tokens F1 between two normalised answers (1.0 when both are empty)."""
    predicted, true = normalize_answer(prediction).split(), normalize_answer(ground_truth).split()
    if not predicted or not true:
        return float(predicted == true)
    common = sum((collections.Counter(predicted) & collections.Counter(true)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(true)
    return 2 * precision * recall / (precision + recall)


def squad_metrics(predictions: Sequence[str] | Mapping[Any, str],
                  references: Sequence[Sequence[str]] | Mapping[Any, Sequence[str]]) -> dict[str, float]:
    """Exact match and F1 in percent; each prediction scores its best match among its reference answers.
    Pass lists in the same order, or dicts keyed by example id."""
    if isinstance(predictions, Mapping) != isinstance(references, Mapping):
        raise InputError("pass predictions and references both as lists or both as dicts keyed by example id")
    if isinstance(predictions, Mapping):
        missing = [key for key in references if key not in predictions]
        if missing:
            raise InputError(f"no prediction for example ids {missing[:5]}")
        keys = list(references)
        predictions, references = [predictions[key] for key in keys], [references[key] for key in keys]
    if len(predictions) != len(references) or not predictions:
        raise InputError(f"{len(predictions)} predictions for {len(references)} references; give one each "
                         "(and at least one)")
    exact = f1 = 0.0
    for prediction, answers in zip(predictions, references, strict=True):
        answers = [answers] if isinstance(answers, str) else list(answers) or [""]
        exact += max(squad_exact_match(prediction, answer) for answer in answers)
        f1 += max(squad_f1(prediction, answer) for answer in answers)
    return {"exact_match": 100.0 * exact / len(predictions), "f1": 100.0 * f1 / len(predictions)}


# -- regression -------------------------------------------------------------------------------------------------

def mean_squared_error(predictions: Any, references: Any) -> float:
    predictions, references = _pair(predictions, references)
    return float(np.mean((predictions.astype(np.float64) - references.astype(np.float64)) ** 2))


def pearson(predictions: Any, references: Any) -> float:
    """Pearson's r; nan when either side is constant (the correlation is undefined)."""
    x, y = (array.astype(np.float64) for array in _pair(predictions, references))
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt(np.sum(x * x) * np.sum(y * y))
    return float(np.sum(x * y) / denominator) if denominator else float("nan")


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    start = 0
    for end in range(1, len(values) + 1):
        if end == len(values) or sorted_values[end] != sorted_values[start]:
            ranks[order[start:end]] = (start + end - 1) / 2 + 1  # ties share the mean of their ranks
            start = end
    return ranks


def spearman(predictions: Any, references: Any) -> float:
    """Spearman's rho: Pearson's r of the ranks (ties get their average rank)."""
    predictions, references = _pair(predictions, references)
    return pearson(_average_ranks(predictions.astype(np.float64)), _average_ranks(references.astype(np.float64)))


def regression_metrics(eval_prediction: Any) -> dict[str, float]:
    """`compute_metrics` for regression heads (num_labels=1): MSE, Pearson and Spearman."""
    predictions = np.asarray(eval_prediction[0]).reshape(-1)
    references = np.asarray(eval_prediction[1]).reshape(-1)
    return {"mse": mean_squared_error(predictions, references), "pearson": pearson(predictions, references),
            "spearman": spearman(predictions, references)}
