"""multiple-choice: score each choice of a question (and optional context) with a multiple-choice model.

The reference has a MultipleChoice head but no pipeline; this one encodes the inputs as its fine-tuning
scripts do (SWAG / RACE): `(question, choice)` pairs, or `(context, question + " " + choice)` when a context
is given. Each choice is its own model row of shape (1, 1, tokens), which gives DistilBERT's head exactly the
logits of the full (1, choices, tokens) call, because the head scores every choice independently; so choices
of all inputs are length-sorted and batched together. Scores are a softmax over one input's choices
(`function_to_apply="none"` gives the raw logits); the result lists `{"choice", "index", "score"}` best first,
`top_k` of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputError
from .base import (
    Params,
    Pipeline,
    check_text,
    check_top_k,
    model_output,
    reject_unknown,
    rows,
    tokenizer_features,
)
from .text_classification import softmax


class MultipleChoicePipeline(Pipeline):
    """Pick the best choice.

    >>> chooser("The cat sat on the", choices=["mat", "idea"])           # doctest: +SKIP
    [{'choice': 'mat', 'index': 0, 'score': 0.97}, {'choice': 'idea', 'index': 1, 'score': 0.03}]
    """

    task = "multiple-choice"

    def __call__(self, inputs: Any, choices: Any = None, context: Any = None, **kwargs: Any) -> Any:
        """`chooser(question, choices=[...], context=None)`; lists of questions with a list of choice lists
        (and contexts); or dicts `{"question", "choices", "context"?}` (one, a list, or an iterator)."""
        if choices is None:
            if context is not None:
                raise InputError("context= goes with choices=; with dict inputs put 'context' in each dict")
            return self.run(inputs, self.is_single(inputs), **kwargs)
        if isinstance(inputs, str):
            return self.run({"question": inputs, "choices": choices, "context": context}, True, **kwargs)
        if not isinstance(inputs, (list, tuple)):
            raise InputError(
                f"with choices=, the question is a str or a list of str, got {type(inputs).__name__}"
            )
        contexts = context if isinstance(context, (list, tuple)) else [context] * len(inputs)
        if (
            not isinstance(choices, (list, tuple))
            or len(choices) != len(inputs)
            or len(contexts) != len(inputs)
        ):
            raise InputError(
                f"{len(inputs)} questions need {len(inputs)} lists of choices (and one context each, "
                "or a single context string)"
            )
        items = [
            {"question": question, "choices": options, "context": text}
            for question, options, text in zip(inputs, choices, contexts, strict=True)
        ]
        return self.run(items, False, **kwargs)

    def _sanitize_parameters(
        self, top_k: Any = None, function_to_apply: Any = "softmax", **unknown: Any
    ) -> Params:
        reject_unknown(self.task, unknown, ("top_k", "function_to_apply", "batch_size"))
        if function_to_apply not in ("softmax", "none"):
            raise InputError(f"function_to_apply={function_to_apply!r} is not 'softmax' or 'none'")
        return {}, {}, {"top_k": check_top_k(top_k, allow_none=True), "function": function_to_apply}

    @staticmethod
    def _parse(item: Any, name: str) -> tuple[str, list[str], str | None]:
        if not isinstance(item, Mapping) or not {"question", "choices"} <= set(item):
            raise InputError(
                f"{name} must be a dict with 'question' and 'choices' (and optionally 'context'), "
                f"got {item!r:.80}"
            )
        question = check_text(item["question"], f"{name}['question']")
        choices = item["choices"]
        if isinstance(choices, str) or not isinstance(choices, (list, tuple)) or not choices:
            raise InputError(f"{name}['choices'] must be a non-empty list of str, got {choices!r:.80}")
        choices = [check_text(choice, f"{name}['choices'][{index}]") for index, choice in enumerate(choices)]
        context = item.get("context")
        return question, choices, None if context is None else check_text(context, f"{name}['context']")

    def preprocess(self, items: list[Any], names: list[str]) -> list[list[dict]]:
        parsed = [self._parse(item, name) for item, name in zip(items, names, strict=True)]
        pairs = [
            (question, choice) if context is None else (context, f"{question} {choice}")
            for question, choices, context in parsed
            for choice in choices
        ]
        options = self.truncation_options("only_first" if any(context for _, _, context in parsed) else True)
        features = iter(tokenizer_features(self.require_tokenizer()(pairs, **options)))
        return [
            [{**next(features), "choice": choice, "index": index} for index, choice in enumerate(choices)]
            for _, choices, _ in parsed
        ]

    def call_model(self, model_inputs: dict) -> Any:
        inputs = {key: value.unsqueeze(1) for key, value in model_inputs.items()}  # (B, 1, T)
        return self.model(**inputs, **self.model_options)

    def _forward(self, model_inputs: dict, **params: Any) -> list[dict]:
        logits = model_output(self.call_model(model_inputs), "logits", 0, self.task)  # (B, 1)
        return [{"logit": row.reshape(-1)[0]} for row in rows(logits)]

    def postprocess(
        self, features: list[dict], outputs: list[dict], top_k: int | None = None, function: str = "softmax"
    ) -> list[dict]:
        logits = np.array([output["logit"] for output in outputs], dtype=np.float32)
        scores = softmax(logits) if function == "softmax" else logits
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [
            {"choice": features[index]["choice"], "index": int(index), "score": scores[index].item()}
            for index in order
        ]
