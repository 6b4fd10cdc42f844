"""zero-shot-classification by embedding similarity, for when no NLI model is at hand (the embedded default).

A different method from the reference's NLI pipeline, with the same call and output format: the text and each
hypothesis (`hypothesis_template.format(label)`) are embedded with a sentence-embedding model (mean pooling over
real tokens, L2-normalised) and compared by cosine similarity. With `multi_label=False` the scores are
`softmax(20 · cosine)` across labels — 20 is the similarity scale all-MiniLM-L6-v2 was trained with
(sentence-transformers' MultipleNegativesRankingLoss), so the scores are that model's own contrastive
probabilities. With `multi_label=True` each label scores independently: its cosine similarity, clipped to
[0, 1]. Output `{"sequence", "labels", "scores"}`, best first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch.nn.functional as F

from ..errors import InputError
from .base import Params, Pipeline, check_text, model_output, reject_unknown, rows, tokenizer_features
from .text_classification import softmax
from .zero_shot import DEFAULT_TEMPLATE, parse_labels

SIMILARITY_SCALE = 20.0


class EmbeddingZeroShotPipeline(Pipeline):
    """Rank labels by how close their hypothesis sentence is to the text in embedding space.

    >>> classifier("I lost my phone", candidate_labels=["urgent", "sports"])     # doctest: +SKIP
    {'sequence': 'I lost my phone', 'labels': ['urgent', 'sports'], 'scores': [0.71, 0.29]}
    """

    task = "zero-shot-classification"

    def __call__(self, sequences: Any, *args: Any, **kwargs: Any) -> Any:
        if len(args) > 1 or (args and "candidate_labels" in kwargs):
            raise InputError("zero-shot-classification takes the texts and, optionally, the candidate labels as "
                             "positional arguments; pass everything else by name")
        if args:
            kwargs["candidate_labels"] = args[0]
        return self.run(sequences, self.is_single(sequences), **kwargs)

    def _sanitize_parameters(self, candidate_labels: Any = None, hypothesis_template: Any = DEFAULT_TEMPLATE,
                             multi_label: Any = False, **unknown: Any) -> Params:
        reject_unknown(self.task, unknown, ("candidate_labels", "hypothesis_template", "multi_label", "batch_size"))
        if not isinstance(hypothesis_template, str) or "{}" not in hypothesis_template:
            raise InputError(f"hypothesis_template must be a str with a {{}} for the label, e.g. "
                             f"{DEFAULT_TEMPLATE!r}; got {hypothesis_template!r}")
        if not isinstance(multi_label, bool):
            raise InputError(f"multi_label must be True or False, got {multi_label!r}")
        labels = None if candidate_labels is None else parse_labels(candidate_labels)
        return {"labels": labels, "template": hypothesis_template}, {}, {"multi_label": multi_label}

    def preprocess(self, items: list[Any], names: list[str], labels: list[str] | None = None,
                   template: str = DEFAULT_TEMPLATE) -> list[list[dict]]:
        if labels is None:
            raise InputError("zero-shot-classification needs candidate_labels, e.g. "
                             "classifier(text, candidate_labels=['sports', 'politics'])")
        texts = [check_text(item, name) for item, name in zip(items, names, strict=True)]
        hypotheses = [template.format(label) for label in labels]
        options = self.truncation_options(True)
        tokenizer = self.require_tokenizer()
        text_features = tokenizer_features(tokenizer(texts, **options))
        hypothesis_features = tokenizer_features(tokenizer(hypotheses, **options))
        # each text is embedded with its own copy of the hypotheses, so a result never depends on the batch
        return [[{**text_feature, "sequence": text}]
                + [{**feature, "label": label} for feature, label in zip(hypothesis_features, labels, strict=True)]
                for text_feature, text in zip(text_features, texts, strict=True)]

    def _forward(self, model_inputs: dict, **params: Any) -> list[dict]:
        hidden = model_output(self.call_model(model_inputs), "last_hidden_state", 0, self.task)  # (B, T, D)
        mask = model_inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        pooled = F.normalize(((hidden * mask).sum(1) / mask.sum(1)).float(), dim=-1)  # (B, D)
        return [{"embedding": row} for row in rows(pooled)]

    def postprocess(self, features: list[dict], outputs: list[dict], multi_label: bool = False) -> dict:
        text = outputs[0]["embedding"]  # (D,)
        labels = np.stack([output["embedding"] for output in outputs[1:]])  # (labels, D)
        cosine = labels @ text  # (labels,)
        scores = np.clip(cosine, 0.0, 1.0) if multi_label else softmax(SIMILARITY_SCALE * cosine)
        order = np.argsort(-scores, kind="stable")
        return {"sequence": features[0]["sequence"],
                "labels": [features[1 + index]["label"] for index in order],
                "scores": [float(scores[index]) for index in order]}
