"""text-classification (alias sentiment-analysis): one label distribution per text or text pair.

Follows the reference (spec section 6.1): softmax, sigmoid or no function chosen from `problem_type` and
`num_labels`; `top_k` absent gives the top label, `top_k=None` all labels best first, `top_k=k` the k best;
pairs come as `{"text", "text_pair"}` dicts. One deliberate difference: inputs are truncated to the model's
maximum length by default (`truncation=True`), so a 10,000-word text is classified from its first 512 tokens
instead of failing; `truncation=False` restores the reference's behaviour (an over-long input then raises
`InputError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputError
from .base import (
    MODEL_INPUTS,
    Params,
    Pipeline,
    check_text,
    check_top_k,
    model_output,
    reject_unknown,
    rows,
    tokenizer_features,
)

FUNCTIONS = ("softmax", "sigmoid", "none")
_UNSET: Any = object()  # top_k not passed at all: the reference's "legacy" output shape


def softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def default_function(config: Any) -> str:
    """The reference's rule: regression -> none; multi-label or one output -> sigmoid; otherwise softmax."""
    problem_type = getattr(config, "problem_type", None)
    num_labels = len(getattr(config, "id2label", None) or {}) or getattr(config, "num_labels", 2)
    if problem_type == "regression":
        return "none"
    if problem_type == "multi_label_classification" or num_labels == 1:
        return "sigmoid"
    return "softmax"


def apply_function(name: str, logits: np.ndarray) -> np.ndarray:
    if name == "softmax":
        return softmax(logits)
    if name == "sigmoid":
        return sigmoid(logits)
    return logits


def check_function(function_to_apply: Any) -> str | None:
    if function_to_apply is None:
        return None
    name = str(getattr(function_to_apply, "value", function_to_apply)).lower()
    if name not in FUNCTIONS:
        raise InputError(f"function_to_apply={function_to_apply!r} is not one of {', '.join(FUNCTIONS)}")
    return name


class TextClassificationPipeline(Pipeline):
    """Classify texts (or text pairs) with a sequence-classification model.

    >>> classifier("I loved it")                                        # doctest: +SKIP
    [{'label': 'POSITIVE', 'score': 0.9998}]
    >>> classifier({"text": "A man eats.", "text_pair": "Someone eats."}, top_k=None)  # doctest: +SKIP
    [{'label': 'entailment', 'score': 0.93}, {'label': 'neutral', 'score': 0.05}, ...]
    """

    task = "text-classification"

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        result = self.run(inputs, self.is_single(inputs), **kwargs)
        # the reference wraps a lone string's top label in a list (but not a pair dict's)
        legacy = "top_k" not in kwargs and "top_k" not in self._defaults
        return [result] if isinstance(inputs, str) and legacy else result

    def _sanitize_parameters(
        self,
        top_k: Any = _UNSET,
        function_to_apply: Any = None,
        truncation: Any = True,
        max_length: int | None = None,
        explain: Any = False,
        **unknown: Any,
    ) -> Params:
        reject_unknown(
            self.task,
            unknown,
            ("top_k", "function_to_apply", "truncation", "max_length", "batch_size", "explain"),
        )
        from ..explain.hooks import explain_options  # imports nothing above the modeling layer

        options = explain_options(explain)
        postprocess = {"function": check_function(function_to_apply), "explain": options}
        if top_k is not _UNSET:
            postprocess["top_k"] = check_top_k(top_k, allow_none=True)
        preprocess = {"truncation": truncation, "max_length": max_length, "offsets": options is not None}
        return preprocess, {}, postprocess

    def preprocess(
        self,
        items: list[Any],
        names: list[str],
        truncation: Any = True,
        max_length: int | None = None,
        offsets: bool = False,
    ) -> list[list[dict[str, Any]]]:
        texts = [self._parse(item, name) for item, name in zip(items, names, strict=True)]
        encoding = self.require_tokenizer()(
            texts, **self.truncation_options(truncation, max_length), return_offsets_mapping=offsets
        )
        keep = (*MODEL_INPUTS, "offset_mapping")  # offsets only when explain=True asked for them
        return [[feature] for feature in tokenizer_features(encoding, keep)]

    @staticmethod
    def _parse(item: Any, name: str) -> str | tuple[str, str]:
        if isinstance(item, Mapping):
            unknown = set(item) - {"text", "text_pair"}
            if "text" not in item or unknown:
                raise InputError(
                    f"{name} is a dict with keys {sorted(item)}; a text pair is "
                    "{'text': ..., 'text_pair': ...}"
                )
            text = check_text(item["text"], f"{name}['text']")
            if item.get("text_pair") is None:
                return text
            return text, check_text(item["text_pair"], f"{name}['text_pair']")
        if isinstance(item, (list, tuple)):
            raise InputError(
                f"{name} is a {type(item).__name__}; to classify a text pair pass "
                "{'text': first, 'text_pair': second}"
            )
        return check_text(item, name)

    def _forward(self, model_inputs: dict, **params: Any) -> list[dict[str, Any]]:
        logits = model_output(self.call_model(model_inputs), "logits", 0, self.task)  # (B, num_labels)
        return [{"logits": row} for row in rows(logits)]

    def postprocess(
        self,
        features: list[dict],
        outputs: list[dict],
        function: str | None = None,
        top_k: Any = _UNSET,
        explain: dict | None = None,
    ) -> Any:
        result = self._labels(outputs[0]["logits"], function, top_k)
        if explain is not None:
            from ..explain.hooks import explain_labels

            explain_labels(self, features[0], result, explain)  # adds attributions and delta
        return result

    def _labels(self, logits: Any, function: str | None, top_k: Any) -> Any:
        scores = apply_function(function or default_function(self.config), logits)
        id2label = self.id2label
        if top_k is _UNSET:
            best = int(scores.argmax())
            return {"label": id2label[best], "score": scores[best].item()}
        # a stable sort: equal scores keep the label order, as in the reference
        ranked = sorted(
            ({"label": id2label[index], "score": score.item()} for index, score in enumerate(scores)),
            key=lambda entry: entry["score"],
            reverse=True,
        )
        return ranked if top_k is None else ranked[:top_k]
