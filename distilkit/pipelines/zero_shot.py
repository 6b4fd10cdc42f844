"""zero-shot-classification: score any labels against a text with an NLI (entailment) model.

Follows the reference (spec section 6.1): each candidate label becomes a (text,
hypothesis_template.format(label)) pair and its own model row, the text being truncated (`only_first`) so the
hypothesis is never cut; the entailment id is the first `label2id` key starting with "entail"
(case-insensitive). With several labels and `multi_label=False` the entailment logits are softmaxed across
labels; otherwise each label gets a softmax over (contradiction, entailment) of its own. Output `{"sequence",
"labels", "scores"}`, best first; equal scores keep the caller's label order (the reference reverses an
unstable sort). Pairs from all texts of a call are length-sorted and batched together.
"""

from __future__ import annotations

import logging
import string
from typing import Any

import numpy as np

from ..errors import InputError
from .base import Params, Pipeline, check_text, model_output, reject_unknown, rows, tokenizer_features
from .text_classification import softmax

logger = logging.getLogger(__name__)
DEFAULT_TEMPLATE = "This example is {}."


def parse_labels(candidate_labels: Any) -> list[str]:
    """A list of labels, or one string of comma-separated labels."""
    if isinstance(candidate_labels, str):
        candidate_labels = [label.strip() for label in candidate_labels.split(",") if label.strip()]
    if not isinstance(candidate_labels, (list, tuple)) or not candidate_labels:
        raise InputError(
            f"candidate_labels must be a non-empty list of labels (or a comma-separated string), got "
            f"{candidate_labels!r}"
        )
    for label in candidate_labels:
        check_text(label, "every candidate label")
    return list(candidate_labels)


def template_has_one_label_slot(template: str) -> bool:
    """Whether `template.format(label)` works and uses the label: one `{}` (or `{0}`, repeatable), no other field.

    >>> template_has_one_label_slot("This example is {}."), template_has_one_label_slot("{} {}")
    (True, False)
    """
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError:  # a lone "{" or "}"
        return False
    return fields == [""] or (bool(fields) and all(name == "0" for name in fields))


class ZeroShotClassificationPipeline(Pipeline):
    """Rank labels the model was never trained on.

    >>> classifier("I lost my phone", candidate_labels=["urgent", "sports"])     # doctest: +SKIP
    {'sequence': 'I lost my phone', 'labels': ['urgent', 'sports'], 'scores': [0.94, 0.06]}
    """

    task = "zero-shot-classification"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.entailment_id == -1:
            logger.warning(
                "no label of the model's label2id starts with 'entail'; the last label is taken as "
                "entailment. Give the config a label2id such as {'contradiction': 0, 'neutral': 1, "
                "'entailment': 2}"
            )

    @property
    def entailment_id(self) -> int:
        for label, index in (getattr(self.config, "label2id", None) or {}).items():
            if label.lower().startswith("entail"):
                return index
        return -1

    def __call__(self, sequences: Any, *args: Any, **kwargs: Any) -> Any:
        if len(args) > 1 or (args and "candidate_labels" in kwargs):
            raise InputError(
                "zero-shot-classification takes the texts and, optionally, the candidate labels as "
                "positional arguments; pass everything else by name"
            )
        if args:
            kwargs["candidate_labels"] = args[0]
        return self.run(sequences, self.is_single(sequences), **kwargs)

    def _sanitize_parameters(
        self,
        candidate_labels: Any = None,
        hypothesis_template: Any = DEFAULT_TEMPLATE,
        multi_label: Any = False,
        **unknown: Any,
    ) -> Params:
        reject_unknown(
            self.task, unknown, ("candidate_labels", "hypothesis_template", "multi_label", "batch_size")
        )
        if not isinstance(hypothesis_template, str):
            raise InputError(
                f"hypothesis_template must be a str with a {{}} for the label, got {hypothesis_template!r}"
            )
        if not isinstance(multi_label, bool):
            raise InputError(f"multi_label must be True or False, got {multi_label!r}")
        labels = None if candidate_labels is None else parse_labels(candidate_labels)
        if not template_has_one_label_slot(hypothesis_template):
            raise InputError(
                f"hypothesis_template={hypothesis_template!r} needs exactly one {{}} where the label goes (write "
                f"other braces as {{{{ and }}}}), e.g. {DEFAULT_TEMPLATE!r}"
            )
        return {"labels": labels, "template": hypothesis_template}, {}, {"multi_label": multi_label}

    def preprocess(
        self,
        items: list[Any],
        names: list[str],
        labels: list[str] | None = None,
        template: str = DEFAULT_TEMPLATE,
    ) -> list[list[dict]]:
        if labels is None:
            raise InputError(
                "zero-shot-classification needs candidate_labels, e.g. "
                "classifier(text, candidate_labels=['sports', 'politics'])"
            )
        texts = [check_text(item, name) for item, name in zip(items, names, strict=True)]
        hypotheses = [template.format(label) for label in labels]
        tokenizer = self.require_tokenizer()
        max_length = self.max_length
        if max_length is not None:
            # only the text may be cut: a hypothesis that alone does not fit leaves no room for any text
            longest = max(len(ids) for ids in tokenizer(hypotheses, add_special_tokens=False)["input_ids"])
            if longest + tokenizer.num_special_tokens_to_add(pair=True) >= max_length:
                raise InputError(
                    f"a hypothesis of {longest} tokens leaves no room for the text within "
                    f"{max_length} tokens; use shorter labels or hypothesis_template"
                )
        pairs = [(text, hypothesis) for text in texts for hypothesis in hypotheses]
        options = {"truncation": "only_first", "max_length": max_length} if max_length else {}
        features = tokenizer_features(tokenizer(pairs, **options))
        per_item = []
        for item, text in enumerate(texts):
            chunk = features[item * len(labels) : (item + 1) * len(labels)]
            per_item.append(
                [
                    {**feature, "label": label, "sequence": text}
                    for feature, label in zip(chunk, labels, strict=True)
                ]
            )
        return per_item

    def _forward(self, model_inputs: dict, **params: Any) -> list[dict]:
        logits = model_output(self.call_model(model_inputs), "logits", 0, self.task)  # (B, num_labels)
        return [{"logits": row} for row in rows(logits)]

    def postprocess(self, features: list[dict], outputs: list[dict], multi_label: bool = False) -> dict:
        logits = np.stack([output["logits"] for output in outputs])  # (labels, num_model_labels)
        entailment = self.entailment_id
        if multi_label or len(features) == 1:
            contradiction = -1 if entailment == 0 else 0
            scores = softmax(logits[:, [contradiction, entailment]])[:, 1]
        else:
            scores = softmax(logits[:, entailment])
        order = np.argsort(-scores, kind="stable")
        return {
            "sequence": features[0]["sequence"],
            "labels": [features[index]["label"] for index in order],
            "scores": scores[order].tolist(),
        }
