"""token-classification (alias ner): a label per token, or entities grouped from them, with character offsets.

Follows the reference (spec section 6.1): per-token softmax; `aggregation_strategy` none / simple / first /
average / max with the same B-/I- grouping and subword test (a token is a subword when its piece and its text
span differ in length); `ignore_labels` defaults to ["O"]; `stride` splits long texts into overlapping windows
whose overlapping entities keep the longer span (the higher score on a tie). Differences: scores are Python
floats (the reference gives numpy float32 of the same value); first/average/max also work with the pure-Python
tokenizer, which has offsets too; and a text cut at the model's maximum length without `stride` raises a
warning instead of silently losing its tail.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..errors import InputError
from .base import Params, Pipeline, check_text, model_output, reject_unknown, rows
from .text_classification import softmax

STRATEGIES = ("none", "simple", "first", "average", "max")


def check_strategy(strategy: Any) -> str:
    name = str(getattr(strategy, "value", strategy)).lower()
    if name not in STRATEGIES:
        raise InputError(f"aggregation_strategy={strategy!r} is not one of {', '.join(STRATEGIES)}")
    return name


def split_tag(label: str) -> tuple[str, str]:
    """ "B-PER" -> ("B", "PER"); "I-PER" -> ("I", "PER"); a label without a prefix continues like I-."""
    if label.startswith(("B-", "I-")):
        return label[0], label[2:]
    return "I", label


def merge_overlapping(entities: list[dict]) -> list[dict]:
    """Entities found in overlapping windows: of two that overlap keep the longer one, or the higher score
    on a tie."""
    if not entities:
        return entities
    entities = sorted(entities, key=lambda entity: entity["start"])
    kept, previous = [], entities[0]
    for entity in entities:
        if previous["start"] <= entity["start"] < previous["end"]:
            length, previous_length = entity["end"] - entity["start"], previous["end"] - previous["start"]
            if length > previous_length or (
                length == previous_length and entity["score"] > previous["score"]
            ):
                previous = entity
        else:
            kept.append(previous)
            previous = entity
    kept.append(previous)
    return kept


class TokenClassificationPipeline(Pipeline):
    """Tag tokens, or group them into entities.

    >>> ner("My name is Wolfgang and I live in Berlin", aggregation_strategy="simple")   # doctest: +SKIP
    [{'entity_group': 'PER', 'score': 0.99, 'word': 'Wolfgang', 'start': 11, 'end': 19}, ...]
    """

    task = "token-classification"

    def _sanitize_parameters(
        self,
        aggregation_strategy: Any = "none",
        ignore_labels: Any = None,
        stride: Any = None,
        explain: Any = False,
        **unknown: Any,
    ) -> Params:
        reject_unknown(
            self.task, unknown, ("aggregation_strategy", "ignore_labels", "stride", "batch_size", "explain")
        )
        from ..explain.hooks import explain_options  # imports nothing above the modeling layer

        strategy = check_strategy(aggregation_strategy)
        if stride is not None:
            if isinstance(stride, bool) or not isinstance(stride, int) or stride < 0:
                raise InputError(f"stride must be an int >= 0, got {stride!r}")
            if strategy == "none":
                raise InputError(
                    "stride splits long texts into windows, whose entities are merged; that needs "
                    "aggregation_strategy='simple', 'first', 'average' or 'max', not 'none'"
                )
        if ignore_labels is None:
            ignore_labels = ["O"]
        elif isinstance(ignore_labels, str) or not all(isinstance(label, str) for label in ignore_labels):
            raise InputError(f"ignore_labels must be a list of label names, got {ignore_labels!r}")
        postprocess = {"strategy": strategy, "ignore_labels": set(ignore_labels), "explain": explain_options(explain)}
        return {"stride": stride}, {}, postprocess

    def preprocess(self, items: list[Any], names: list[str], stride: int | None = None) -> list[list[dict]]:
        texts = [check_text(item, name) for item, name in zip(items, names, strict=True)]
        tokenizer = self.require_tokenizer()
        max_length = self.max_length
        encoding = tokenizer(
            texts,
            truncation=max_length is not None,
            max_length=max_length,
            stride=stride or 0,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        per_item: list[list[dict]] = [[] for _ in texts]
        for row, item in enumerate(encoding["overflow_to_sample_mapping"]):
            if stride is None and per_item[item]:
                continue  # without stride only the first window is used, as in the reference (warned below)
            per_item[item].append(
                {
                    "input_ids": encoding["input_ids"][row],
                    "attention_mask": encoding["attention_mask"][row],
                    "offsets": encoding["offset_mapping"][row],
                    "special": encoding["special_tokens_mask"][row],
                    "text": texts[item],
                }
            )
        windows = np.bincount(encoding["overflow_to_sample_mapping"], minlength=len(texts))
        cut = [names[item] for item in range(len(texts)) if windows[item] > 1 and stride is None]
        if cut:
            warnings.warn(
                f"{', '.join(cut[:3])}{' ...' if len(cut) > 3 else ''} is longer than {max_length} tokens "
                "and was cut: entities past that point are not found. Pass stride=... (with an "
                "aggregation_strategy) to cover the whole text in overlapping windows.",
                stacklevel=4,
            )
        return per_item

    def _forward(self, model_inputs: dict, **params: Any) -> list[dict[str, Any]]:
        logits = model_output(self.call_model(model_inputs), "logits", 0, self.task)  # (B, T, num_labels)
        return [{"logits": row} for row in rows(logits, self.lengths(model_inputs))]

    def postprocess(
        self,
        features: list[dict],
        outputs: list[dict],
        strategy: str = "none",
        ignore_labels: set[str] | frozenset[str] = frozenset({"O"}),
        explain: dict | None = None,
    ) -> list[dict]:
        entities = self._entities(features, outputs, strategy, ignore_labels)
        if explain is not None:
            from ..explain.hooks import explain_entities

            explain_entities(self, features, entities, explain)  # adds attributions and delta
        return entities

    def _entities(
        self, features: list[dict], outputs: list[dict], strategy: str, ignore_labels: Any
    ) -> list[dict]:
        entities: list[dict] = []
        for feature, output in zip(features, outputs, strict=True):
            tokens = self._tokens(feature, softmax(output["logits"]))
            if strategy in ("none", "simple"):
                found = [self._token_entity(token) for token in tokens]
            else:
                found = [self._word_entity(word, strategy) for word in self._words(tokens)]
            if strategy != "none":
                found = self._group(found)
            entities += [
                entity
                for entity in found
                if entity.get("entity", entity.get("entity_group")) not in ignore_labels
            ]
        return merge_overlapping(entities) if len(features) > 1 else entities

    def _tokens(self, feature: dict, scores: np.ndarray) -> list[dict]:
        """Non-special tokens with their piece, text span, scores and whether they continue a word."""
        tokenizer, text = self.tokenizer, feature["text"]
        ids = feature["input_ids"]
        pieces = tokenizer.convert_ids_to_tokens(ids)
        unk_id = tokenizer.unk_token_id
        tokens = []
        for index, (token_id, piece, (start, end), special) in enumerate(
            zip(ids, pieces, feature["offsets"], feature["special"], strict=True)
        ):
            if special:
                continue
            original = text[start:end]
            is_subword = len(piece) != len(original)
            if token_id == unk_id:  # report the text the unknown token stands for
                piece, is_subword = original, False
            tokens.append(
                {
                    "word": piece,
                    "scores": scores[index],
                    "start": start,
                    "end": end,
                    "index": index,
                    "is_subword": is_subword,
                }
            )
        return tokens

    def _token_entity(self, token: dict) -> dict:
        best = int(token["scores"].argmax())
        return {
            "entity": self.id2label[best],
            "score": float(token["scores"][best]),
            "index": token["index"],
            "word": token["word"],
            "start": token["start"],
            "end": token["end"],
        }

    @staticmethod
    def _words(tokens: list[dict]) -> list[list[dict]]:
        words: list[list[dict]] = []
        for token in tokens:
            if words and token["is_subword"]:
                words[-1].append(token)
            else:
                words.append([token])
        return words

    def _word_entity(self, pieces: list[dict], strategy: str) -> dict:
        """One label per word: from its first piece, the piece with the highest score, or the mean of all."""
        if strategy == "first":
            scores = pieces[0]["scores"]
        elif strategy == "max":
            scores = max(pieces, key=lambda piece: piece["scores"].max())["scores"]
        else:
            scores = np.nanmean(np.stack([piece["scores"] for piece in pieces]), axis=0)
        best = int(scores.argmax())
        return {
            "entity": self.id2label[best],
            "score": float(scores[best]),
            "word": self.tokenizer.convert_tokens_to_string([piece["word"] for piece in pieces]),
            "start": pieces[0]["start"],
            "end": pieces[-1]["end"],
        }

    def _group(self, entities: list[dict]) -> list[dict]:
        """Merge neighbours with the same tag; a B- tag always starts a new group."""
        groups: list[list[dict]] = []
        for entity in entities:
            prefix, tag = split_tag(entity["entity"])
            if groups and prefix != "B" and tag == split_tag(groups[-1][-1]["entity"])[1]:
                groups[-1].append(entity)
            else:
                groups.append([entity])
        return [
            {
                "entity_group": group[0]["entity"].split("-", 1)[-1],
                "score": float(np.nanmean(np.array([entity["score"] for entity in group], dtype=np.float32))),
                "word": self.tokenizer.convert_tokens_to_string([entity["word"] for entity in group]),
                "start": group[0]["start"],
                "end": group[-1]["end"],
            }
            for group in groups
        ]
