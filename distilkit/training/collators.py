"""Data collators: a list of examples -> one padded batch of tensors, for every DistilBERT head.

They follow the reference's collators (`DataCollatorWithPadding`, `DataCollatorForLanguageModeling`,
`DataCollatorForTokenClassification`, ...) and add what users otherwise write by hand: token-classification and
multiple-choice collators also take raw words / choices, and the question-answering collator turns SQuAD-style
examples (question, context, character-level answers) into `doc_stride` windows with start/end token labels.
Any tokenizer with the reference's call/`pad` API works. Randomness (MLM masking) draws from torch's global RNG,
which the Trainer seeds and checkpoints, so a resumed run masks exactly as the uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import InputError

LABEL_ALIASES = ("label", "label_ids")


def _as_dicts(features: Sequence[Any]) -> list[dict[str, Any]]:
    """Copies of the features with `label` / `label_ids` renamed to `labels`, as the models expect."""
    if not isinstance(features, Sequence) or isinstance(features, (str, bytes)) or not features:
        raise InputError(f"a collator needs a non-empty list of examples, got {type(features).__name__}"
                         f"{' (empty)' if isinstance(features, Sequence) and not features else ''}")
    result = []
    for index, feature in enumerate(features):
        if not isinstance(feature, Mapping):
            raise InputError(f"example {index} is a {type(feature).__name__}; collators take dicts of features")
        feature = dict(feature)
        for alias in LABEL_ALIASES:
            if alias in feature and "labels" not in feature:
                feature["labels"] = feature.pop(alias)
        result.append(feature)
    return result


def to_python(value: Any) -> Any:
    """Tensors and arrays as Python numbers / lists, so labels of any origin are handled alike."""
    return value.tolist() if hasattr(value, "tolist") else value


def _has_float(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_has_float(item) for item in value)
    return isinstance(value, float)


def label_tensor(values: Sequence[Any]) -> torch.Tensor:
    """Labels as a tensor whose dtype follows the values: integers -> int64 (classes), floats -> float32
    (regression, multi-label targets)."""
    values = [to_python(value) for value in values]
    try:
        if _has_float(values):
            return torch.tensor(values, dtype=torch.float32)
        return torch.tensor(values, dtype=torch.long)
    except (TypeError, ValueError, RuntimeError) as error:
        raise InputError(f"labels {values[:4]}... cannot form one tensor ({error}); labels must be numbers or "
                         "equal-length lists of numbers") from None


def default_data_collator(features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack already-equal-length features into tensors; strings and other non-numeric values are left out."""
    features = _as_dicts(features)
    batch: dict[str, torch.Tensor] = {}
    for key, first in features[0].items():
        values = [feature[key] for feature in features]
        if key == "labels":
            batch[key] = label_tensor(values)
        elif isinstance(first, torch.Tensor):
            batch[key] = torch.stack(values)
        elif isinstance(first, (np.ndarray, np.generic, int, float, list, tuple)) and not isinstance(first, bool):
            try:
                batch[key] = torch.tensor(np.asarray([to_python(value) for value in values]))
            except (ValueError, TypeError):
                raise InputError(f"the feature '{key}' has different lengths across examples; pad them with "
                                 "DataCollatorWithPadding(tokenizer)") from None
    return batch


def _pad(tokenizer: Any, features: list[dict[str, Any]], padding: Any, max_length: int | None,
         pad_to_multiple_of: int | None) -> dict[str, torch.Tensor]:
    # max_length only matters when padding to it; passing it otherwise makes tokenizers warn
    length = max_length if padding == "max_length" else None
    batch = tokenizer.pad(features, padding=padding, max_length=length, pad_to_multiple_of=pad_to_multiple_of,
                          return_tensors="pt")
    return dict(batch)


def _pad_rows(rows: list[list[int]], length: int, value: int, side: str) -> torch.Tensor:
    padded = [(row + [value] * (length - len(row))) if side == "right" else ([value] * (length - len(row)) + row)
              for row in rows]
    return torch.tensor(padded, dtype=torch.long)


@dataclass
class DataCollatorWithPadding:
    """Pad tokenized examples to the longest in the batch (dynamic padding); labels become a tensor alongside."""

    tokenizer: Any
    padding: bool | str = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        features = _as_dicts(features)
        labels = [feature.pop("labels") for feature in features] if "labels" in features[0] else None
        batch = _pad(self.tokenizer, features, self.padding, self.max_length, self.pad_to_multiple_of)
        if labels is not None:
            batch["labels"] = label_tensor(labels)
        return batch


@dataclass
class DataCollatorForLanguageModeling:
    """Masked-LM batches: `mlm_probability` of the non-special tokens are chosen as targets; of those,
    `mask_replace_prob` become [MASK], `random_replace_prob` a random token, the rest stay. Other positions get
    label -100. With `mlm=False`, labels are the inputs (padding -100), for causal language modelling."""

    tokenizer: Any
    mlm: bool = True
    mlm_probability: float = 0.15
    mask_replace_prob: float = 0.8
    random_replace_prob: float = 0.1
    pad_to_multiple_of: int | None = None

    def __post_init__(self) -> None:
        if self.mlm and getattr(self.tokenizer, "mask_token_id", None) is None:
            raise InputError("masked-LM needs a tokenizer with a mask token; pass mlm=False for causal LM")
        for name in ("mlm_probability", "mask_replace_prob", "random_replace_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise InputError(f"{name}={getattr(self, name)} must be in [0, 1]")
        if self.mask_replace_prob + self.random_replace_prob > 1:
            raise InputError(f"mask_replace_prob + random_replace_prob = "
                             f"{self.mask_replace_prob + self.random_replace_prob} must be <= 1")

    def __call__(self, features: Sequence[Any]) -> dict[str, torch.Tensor]:
        if features and not isinstance(features[0], Mapping):  # plain lists of ids
            features = [{"input_ids": to_python(ids)} for ids in features]
        features = _as_dicts(features)
        for feature in features:
            feature.pop("labels", None)  # targets are made here
        batch = _pad(self.tokenizer, features, True, None, self.pad_to_multiple_of)
        special = batch.pop("special_tokens_mask", None)
        if self.mlm:
            batch["input_ids"], batch["labels"] = self.mask_tokens(batch["input_ids"], special)
        else:
            labels = batch["input_ids"].clone()
            if "attention_mask" in batch:
                labels[batch["attention_mask"] == 0] = -100
            batch["labels"] = labels
        return batch

    def mask_tokens(self, inputs: torch.Tensor, special_tokens_mask: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(masked inputs, labels) for a (B, T) id tensor; special tokens (padding included) are never chosen."""
        inputs = inputs.clone()
        labels = inputs.clone()  # (B, T)
        if special_tokens_mask is None:
            special_tokens_mask = torch.tensor(
                [self.tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True)
                 for row in inputs.tolist()], dtype=torch.bool)
        probability = torch.full(labels.shape, self.mlm_probability)
        probability.masked_fill_(special_tokens_mask.bool(), 0.0)
        chosen = torch.bernoulli(probability).bool()  # (B, T)
        labels[~chosen] = -100
        replaced = torch.bernoulli(torch.full(labels.shape, self.mask_replace_prob)).bool() & chosen
        inputs[replaced] = self.tokenizer.mask_token_id
        # of the chosen tokens not replaced by [MASK], this share gets a random token
        remaining = 1.0 - self.mask_replace_prob
        share = self.random_replace_prob / remaining if remaining > 0 else 0.0
        randomized = torch.bernoulli(torch.full(labels.shape, share)).bool() & chosen & ~replaced
        random_ids = torch.randint(len(self.tokenizer), labels.shape, dtype=torch.long)
        inputs[randomized] = random_ids[randomized]
        return inputs, labels


def align_labels_with_tokens(word_ids: Sequence[int | None], word_labels: Sequence[int],
                             label_all_tokens: bool = False, ignore_index: int = -100) -> list[int]:
    """Word-level labels spread over sub-tokens: the first sub-token of each word gets the word's label, the others
    -100 (or the same label with `label_all_tokens=True`); special tokens get -100.

    >>> align_labels_with_tokens([None, 0, 1, 1, None], [3, 7])
    [-100, 3, 7, -100, -100]
    """
    labels, previous = [], None
    for word in word_ids:
        if word is None:
            labels.append(ignore_index)
        elif word >= len(word_labels):
            raise InputError(f"a token belongs to word {word} but only {len(word_labels)} word labels were given; "
                             "give one label per word")
        elif word != previous or label_all_tokens:
            labels.append(int(word_labels[word]))
        else:
            labels.append(ignore_index)
        previous = word
    return labels


@dataclass
class DataCollatorForTokenClassification:
    """Pad token-level labels with `label_pad_token_id` (-100). Examples may also be raw: a list of words under
    `words_column` with one label per word under `labels` (ints, or strings mapped through `label2id`); they are
    tokenized here and the labels aligned (see `align_labels_with_tokens`)."""

    tokenizer: Any
    padding: bool | str = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    label_pad_token_id: int = -100
    label_all_tokens: bool = False
    words_column: str = "tokens"
    label2id: Mapping[str, int] | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """Raw columns this collator reads, which the Trainer must not drop as unused."""
        return (self.words_column,)

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        features = _as_dicts(features)
        if "input_ids" not in features[0]:
            features = self._tokenize_words(features)
        labels = [to_python(feature.pop("labels")) for feature in features] if "labels" in features[0] else None
        batch = _pad(self.tokenizer, features, self.padding, self.max_length, self.pad_to_multiple_of)
        if labels is not None:
            length = batch["input_ids"].shape[1]
            if any(len(row) > length for row in labels):
                raise InputError("an example has more labels than tokens; give one label per token "
                                 "(or raw words under words_column to have them aligned)")
            side = getattr(self.tokenizer, "padding_side", "right")
            batch["labels"] = _pad_rows([list(row) for row in labels], length, self.label_pad_token_id, side)
        return batch

    def _tokenize_words(self, features: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.words_column not in features[0]:
            raise InputError(f"token-classification examples need 'input_ids' or raw words under "
                             f"'{self.words_column}'; got keys {sorted(features[0])}")
        words = [list(to_python(feature[self.words_column])) for feature in features]
        truncate = self.max_length is not None
        encoding = self.tokenizer(words, is_split_into_words=True, truncation=truncate, max_length=self.max_length)
        result = []
        for index, feature in enumerate(features):
            item = {key: encoding[key][index] for key in encoding.keys()}
            if "labels" in feature:
                word_labels = [self._label_id(label) for label in to_python(feature["labels"])]
                if len(word_labels) != len(words[index]):
                    raise InputError(f"example {index} has {len(words[index])} words but {len(word_labels)} "
                                     "labels; give one label per word")
                item["labels"] = align_labels_with_tokens(encoding.word_ids(index), word_labels,
                                                          self.label_all_tokens, self.label_pad_token_id)
            result.append(item)
        return result

    def _label_id(self, label: Any) -> int:
        if isinstance(label, str):
            if self.label2id is None or label not in self.label2id:
                raise InputError(f"label {label!r} is a string; pass label2id={{...}} that maps it to a class id")
            return self.label2id[label]
        return label


@dataclass
class DataCollatorForMultipleChoice:
    """Flatten (example, choice) pairs into one batch, pad, and reshape every tensor to (B, C, T). Examples hold
    per-choice tokenized lists (`input_ids` = C lists), or raw text: a `context_column` string and a list of
    `choices_column` strings, tokenized here as (context, choice) pairs."""

    tokenizer: Any
    padding: bool | str = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    context_column: str = "context"
    choices_column: str = "choices"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.context_column, self.choices_column)

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        features = _as_dicts(features)
        labels = [feature.pop("labels") for feature in features] if "labels" in features[0] else None
        if "input_ids" in features[0]:
            choices = len(features[0]["input_ids"])
            flat = []
            for index, feature in enumerate(features):
                if any(len(feature[key]) != choices for key in feature):
                    raise InputError(f"example {index} does not have {choices} choices in every feature; every "
                                     "example needs the same number of choices")
                flat += [{key: to_python(feature[key][choice]) for key in feature} for choice in range(choices)]
        else:
            missing = [key for key in (self.context_column, self.choices_column) if key not in features[0]]
            if missing:
                raise InputError(f"multiple-choice examples need 'input_ids' or raw text under {missing}")
            choices = len(features[0][self.choices_column])
            if any(len(feature[self.choices_column]) != choices for feature in features) or choices == 0:
                raise InputError("every multiple-choice example needs the same, non-zero number of choices")
            firsts = [feature[self.context_column] for feature in features for _ in range(choices)]
            seconds = [choice for feature in features for choice in feature[self.choices_column]]
            encoding = self.tokenizer(firsts, seconds, truncation=self.max_length is not None,
                                      max_length=self.max_length)
            flat = [{key: encoding[key][row] for key in encoding.keys()} for row in range(len(firsts))]
        batch = _pad(self.tokenizer, flat, self.padding, self.max_length, self.pad_to_multiple_of)
        batch = {key: value.view(len(features), choices, -1) for key, value in batch.items()}
        if labels is not None:
            batch["labels"] = label_tensor(labels)
        return batch


# -- extractive question answering ------------------------------------------------------------------------------

def _answer_span(answers: Any, context: str, index: int) -> tuple[int, int] | None:
    """(start char, end char) of the first answer; None for an unanswerable example (SQuAD v2 style)."""
    if answers is None:
        return None
    if not isinstance(answers, Mapping) or "text" not in answers or "answer_start" not in answers:
        raise InputError(f"example {index}: answers must be {{'text': [...], 'answer_start': [...]}} (SQuAD format)")
    texts, starts = to_python(answers["text"]), to_python(answers["answer_start"])
    texts = [texts] if isinstance(texts, str) else list(texts)
    starts = [starts] if isinstance(starts, int) else list(starts)
    if not texts:
        return None
    text, start = texts[0], starts[0] if starts else None
    if not isinstance(start, int) or not 0 <= start <= len(context) - len(text) \
            or context[start:start + len(text)] != text:
        raise InputError(f"example {index}: the answer {text!r} is not at character {start} of the context; "
                         "answer_start must index the answer's first character in the context")
    return start, start + len(text)


def prepare_question_answering_features(examples: Sequence[Mapping[str, Any]], tokenizer: Any, *,
                                        max_length: int = 384, doc_stride: int = 128,
                                        question_column: str = "question", context_column: str = "context",
                                        answers_column: str = "answers") -> list[dict[str, Any]]:
    """Tokenize (question, context) pairs into windows of `max_length` tokens that overlap by `doc_stride`, and
    label each window with the token span of the answer — or [CLS] (both positions) when the window does not hold
    the whole answer. Each feature also records `example_index` and the `offset_mapping` of its context tokens
    (None elsewhere), which `postprocess_question_answering` uses to turn logits back into text.
    """
    examples = _as_dicts(examples)
    for index, example in enumerate(examples):
        for column in (question_column, context_column):
            if not isinstance(example.get(column), str):
                raise InputError(f"example {index} needs a string under '{column}'")
    # leading spaces in questions only waste window room
    questions = [example[question_column].lstrip() for example in examples]
    contexts = [example[context_column] for example in examples]
    encoding = tokenizer(questions, contexts, truncation="only_second", max_length=max_length, stride=doc_stride,
                         return_overflowing_tokens=True, return_offsets_mapping=True)
    features = []
    for window in range(len(encoding["input_ids"])):
        example_index = encoding["overflow_to_sample_mapping"][window]
        ids = encoding["input_ids"][window]
        sequence_ids = encoding.sequence_ids(window)
        offsets = [tuple(offset) if sequence == 1 else None
                   for offset, sequence in zip(encoding["offset_mapping"][window], sequence_ids, strict=True)]
        feature = {key: encoding[key][window] for key in encoding.keys()
                   if key not in ("offset_mapping", "overflow_to_sample_mapping")}
        cls_index = ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in ids else 0
        start_position = end_position = cls_index
        example = examples[example_index]
        span = _answer_span(example.get(answers_column), contexts[example_index], example_index) \
            if answers_column in example else None
        context_tokens = [token for token, offset in enumerate(offsets) if offset is not None]
        if span is not None and context_tokens:
            start_char, end_char = span
            if offsets[context_tokens[0]][0] <= start_char and offsets[context_tokens[-1]][1] >= end_char:
                start_position = next(t for t in context_tokens if offsets[t][1] > start_char)
                end_position = max(t for t in context_tokens if offsets[t][0] < end_char)
        if answers_column in example:
            feature["start_positions"], feature["end_positions"] = start_position, end_position
        feature["example_index"] = example_index
        feature["offset_mapping"] = offsets
        features.append(feature)
    return features


@dataclass
class DataCollatorForQuestionAnswering:
    """SQuAD-style examples -> padded windows with `start_positions` / `end_positions` (see
    `prepare_question_answering_features`). One example can give several windows, so a batch may hold more rows
    than examples. Already-prepared features (with `input_ids`) are just padded."""

    tokenizer: Any
    max_length: int = 384
    doc_stride: int = 128
    pad_to_multiple_of: int | None = None
    question_column: str = "question"
    context_column: str = "context"
    answers_column: str = "answers"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.question_column, self.context_column, self.answers_column)

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        features = _as_dicts(features)
        if "input_ids" not in features[0]:
            features = prepare_question_answering_features(
                features, self.tokenizer, max_length=self.max_length, doc_stride=self.doc_stride,
                question_column=self.question_column, context_column=self.context_column,
                answers_column=self.answers_column)
        keep = ("input_ids", "attention_mask", "start_positions", "end_positions")
        features = [{key: to_python(value) for key, value in feature.items() if key in keep} for feature in features]
        positions = {key: [feature.pop(key) for feature in features]
                     for key in ("start_positions", "end_positions") if key in features[0]}
        batch = _pad(self.tokenizer, features, True, None, self.pad_to_multiple_of)
        batch.update({key: torch.tensor(values, dtype=torch.long) for key, values in positions.items()})
        return batch


def postprocess_question_answering(examples: Sequence[Mapping[str, Any]], features: Sequence[Mapping[str, Any]],
                                   start_logits: np.ndarray, end_logits: np.ndarray, *, n_best_size: int = 20,
                                   max_answer_length: int = 30, context_column: str = "context") -> list[str]:
    """The best answer text of each example: over all its windows, the context span (start <= end, at most
    `max_answer_length` tokens) with the highest start + end logit; "" when no window has a valid span."""
    if len(features) != len(start_logits) or len(features) != len(end_logits):
        raise InputError(f"{len(features)} features but {len(start_logits)} start / {len(end_logits)} end logit "
                         "rows; pass the logits predicted for exactly these features")
    best: dict[int, tuple[float, str]] = {}
    for feature, starts, ends in zip(features, start_logits, end_logits, strict=True):
        offsets = feature["offset_mapping"]
        context = examples[feature["example_index"]][context_column]
        top_starts = np.argsort(starts[:len(offsets)])[::-1][:n_best_size]
        top_ends = np.argsort(ends[:len(offsets)])[::-1][:n_best_size]
        for start in top_starts:
            for end in top_ends:
                if offsets[start] is None or offsets[end] is None or end < start or end - start + 1 > max_answer_length:
                    continue
                score = float(starts[start] + ends[end])
                if feature["example_index"] not in best or score > best[feature["example_index"]][0]:
                    best[feature["example_index"]] = (score, context[offsets[start][0]:offsets[end][1]])
    return [best[index][1] if index in best else "" for index in range(len(examples))]
