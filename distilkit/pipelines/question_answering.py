"""question-answering: extract the answer span of a question from a context, however long the context.

Follows the reference's last version that had this pipeline (5.2; spec section 6.2): the context is split into
windows of `max_seq_len` tokens overlapping by `doc_stride`; per window, start and end logits outside the
context are masked, softmaxed separately, and spans scored `p_start[i] * p_end[j]` for `i <= j < i +
max_answer_len`; the best `2 * top_k + 10` spans per window are mapped back to characters (whole words with
`align_to_words`), answers with the same text (case-insensitive) add their scores, and
`handle_impossible_answer` adds the empty answer with the lowest `p_start[CLS] * p_end[CLS]` over the windows.
Differences, all where the reference fails or returns junk: the question is cut to `max_question_len` tokens
(the reference does so only with its slow tokenizer, and fails on a long question otherwise); the default
`doc_stride` shrinks to fit when a long question leaves little room; spans that end before they start or touch
[CLS] are never returned (the reference can pad its list with zero-score ones); and `top_k > 1` always gives a
list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputError
from .base import Params, Pipeline, check_text, check_top_k, model_output, reject_unknown, rows

MASKED = -10000.0  # the logit given to tokens that cannot be part of an answer, as in the reference


def best_spans(
    start: np.ndarray, end: np.ndarray, allowed: np.ndarray, count: int, max_answer_len: int
) -> list[tuple[int, int, float]]:
    """The `count` best (start, end, score) token spans of one window, best first; ties go to the earlier
    span.

    `start`/`end` are probabilities over the window's tokens; a span needs both ends in `allowed` and
    `start <= end < start + max_answer_len`.
    """
    scores = np.triu(np.tril(np.outer(start, end), max_answer_len - 1))  # (T, T), zero outside the band
    valid = np.outer(allowed, allowed) & np.triu(
        np.tril(np.ones_like(scores, dtype=bool), max_answer_len - 1)
    )
    flat = np.where(valid, scores, -1.0).ravel()
    candidates = np.flatnonzero(flat >= 0)
    if len(candidates) > count:
        threshold = -np.partition(-flat[candidates], count - 1)[count - 1]
        candidates = candidates[flat[candidates] >= threshold]  # every tie at the threshold, then sorted
    order = np.lexsort((candidates, -flat[candidates]))[:count]
    starts, ends = np.unravel_index(candidates[order], scores.shape)
    return [(int(i), int(j), float(scores[i, j])) for i, j in zip(starts, ends, strict=True)]


def window_probabilities(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    masked = np.where(allowed, logits, np.float32(MASKED))
    shifted = np.exp(masked - masked.max())
    return shifted / shifted.sum()


class QuestionAnsweringPipeline(Pipeline):
    """Answer questions from a context.

    >>> qa(question="Where do I live?", context="My name is Wolfgang and I live in Berlin")  # doctest: +SKIP
    {'score': 0.92, 'start': 34, 'end': 40, 'answer': 'Berlin'}
    """

    task = "question-answering"
    too_long_hint = "lower max_seq_len (each window of the context holds at most max_seq_len tokens)"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """`qa(question=..., context=...)` with strings or equal-length lists, `qa(question, context)`, or
        dicts `{"question", "context"}` (one, a list, or an iterator)."""
        question, context = kwargs.pop("question", None), kwargs.pop("context", None)
        if args and (question is not None or context is not None):
            raise InputError(
                "pass the question and context either positionally or as question=/context=, not both"
            )
        if len(args) == 2:
            question, context = args
        elif len(args) == 1:
            inputs = args[0]
            return self.run(inputs, self.is_single(inputs), **kwargs)
        elif args:
            raise InputError(f"question-answering takes at most 2 positional arguments, got {len(args)}")
        if question is None or context is None:
            raise InputError("question-answering needs both question= and context=")
        if isinstance(question, str) and isinstance(context, str):
            return self.run({"question": question, "context": context}, True, **kwargs)
        if isinstance(question, (list, tuple)) and isinstance(context, str):
            context = [context] * len(question)
        if not (isinstance(question, (list, tuple)) and isinstance(context, (list, tuple))):
            raise InputError(
                f"question and context must be strings or lists of strings, got "
                f"{type(question).__name__} and {type(context).__name__}"
            )
        if len(question) != len(context):
            raise InputError(
                f"got {len(question)} questions but {len(context)} contexts; pass one context per "
                "question, or a single context string for all"
            )
        pairs = [{"question": one, "context": other} for one, other in zip(question, context, strict=True)]
        return self.run(pairs, False, **kwargs)

    def _sanitize_parameters(
        self,
        top_k: Any = 1,
        doc_stride: Any = None,
        max_answer_len: Any = 15,
        max_seq_len: Any = None,
        max_question_len: Any = 64,
        handle_impossible_answer: Any = False,
        align_to_words: Any = True,
        **unknown: Any,
    ) -> Params:
        reject_unknown(
            self.task,
            unknown,
            (
                "top_k",
                "doc_stride",
                "max_answer_len",
                "max_seq_len",
                "max_question_len",
                "handle_impossible_answer",
                "align_to_words",
                "batch_size",
            ),
        )
        for name, value, minimum in (
            ("max_answer_len", max_answer_len, 1),
            ("max_question_len", max_question_len, 1),
            ("max_seq_len", max_seq_len, 4),
            ("doc_stride", doc_stride, 0),
        ):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < minimum
            ):
                raise InputError(f"{name} must be an int >= {minimum}, got {value!r}")
        for name, value in (
            ("handle_impossible_answer", handle_impossible_answer),
            ("align_to_words", align_to_words),
        ):
            if not isinstance(value, bool):
                raise InputError(f"{name} must be True or False, got {value!r}")
        top_k = check_top_k(top_k)
        max_seq_len = max_seq_len or min(self.max_length or 384, 384)
        if self.max_length is not None and max_seq_len > self.max_length:
            raise InputError(
                f"max_seq_len={max_seq_len} is more than the model accepts ({self.max_length} tokens)"
            )
        if doc_stride is not None and doc_stride > max_seq_len:
            raise InputError(
                f"doc_stride={doc_stride} is larger than max_seq_len={max_seq_len}; the windows "
                "overlap by doc_stride tokens, so it must be smaller"
            )
        return (
            {"max_seq_len": max_seq_len, "doc_stride": doc_stride, "max_question_len": max_question_len},
            {},
            {
                "top_k": top_k,
                "max_answer_len": max_answer_len,
                "impossible": handle_impossible_answer,
                "align_to_words": align_to_words,
            },
        )

    @staticmethod
    def _parse(item: Any, name: str) -> tuple[str, str]:
        if not isinstance(item, Mapping) or not {"question", "context"} <= set(item):
            raise InputError(f"{name} must be a dict with 'question' and 'context', got {item!r:.80}")
        return check_text(item["question"], f"{name}['question']"), check_text(
            item["context"], f"{name}['context']"
        )

    def preprocess(
        self,
        items: list[Any],
        names: list[str],
        max_seq_len: int = 384,
        doc_stride: int | None = None,
        max_question_len: int = 64,
    ) -> list[list[dict]]:
        tokenizer = self.require_tokenizer()
        pairs = [self._parse(item, name) for item, name in zip(items, names, strict=True)]
        questions, lengths = self._cut_questions([question for question, _ in pairs], max_question_len)
        special = tokenizer.num_special_tokens_to_add(pair=True)
        strides = []
        for name, length in zip(names, lengths, strict=True):
            room = max_seq_len - special - length  # context tokens per window
            if room < 1:
                raise InputError(
                    f"{name}: a question of {length} tokens leaves no room for the context in windows "
                    f"of max_seq_len={max_seq_len}; raise max_seq_len or lower max_question_len"
                )
            stride = min(max_seq_len // 2, 128, room - 1) if doc_stride is None else doc_stride
            if stride >= room:
                raise InputError(
                    f"{name}: doc_stride={stride} must be smaller than the {room} context tokens each "
                    f"window holds (max_seq_len={max_seq_len} minus the question and {special} special "
                    "tokens); lower doc_stride or raise max_seq_len"
                )
            strides.append(stride)
        per_item: list[list[dict]] = [[] for _ in pairs]
        # one tokenizer call per distinct stride (almost always a single call)
        for stride in sorted(set(strides)):
            members = [index for index, value in enumerate(strides) if value == stride]
            self._windows(
                members, questions, [pairs[index][1] for index in members], max_seq_len, stride, per_item
            )
        return per_item

    def _cut_questions(self, questions: list[str], max_question_len: int) -> tuple[list[str], list[int]]:
        """The questions, those longer than `max_question_len` tokens cut after their last whole word that
        fits, and their token counts."""
        encoding = self.tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
        lengths = [len(ids) for ids in encoding["input_ids"]]
        cut = list(questions)
        for row, question in enumerate(questions):
            if lengths[row] <= max_question_len:
                continue
            words = encoding.word_ids(row)
            keep = max_question_len
            while keep > 0 and words[keep] == words[keep - 1]:  # do not split a word into pieces
                keep -= 1
            cut[row] = question[: encoding["offset_mapping"][row][(keep or max_question_len) - 1][1]]
            lengths[row] = len(self.tokenizer(cut[row], add_special_tokens=False)["input_ids"])
        return cut, lengths

    def _windows(
        self,
        members: list[int],
        questions: list[str],
        contexts: list[str],
        max_seq_len: int,
        stride: int,
        per_item: list[list[dict]],
    ) -> None:
        encoding = self.tokenizer(
            [questions[index] for index in members],
            contexts,
            truncation="only_second",
            max_length=max_seq_len,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        cls_id = self.tokenizer.cls_token_id
        for row, member in enumerate(encoding["overflow_to_sample_mapping"]):
            item = members[member]
            ids = encoding["input_ids"][row]
            sequence_ids = encoding.sequence_ids(row)
            # answers may lie in the context only; [CLS] stays selectable for the "no answer" score
            allowed = np.array([sequence == 1 for sequence in sequence_ids])
            allowed |= np.array(ids) == cls_id
            per_item[item].append(
                {
                    "input_ids": ids,
                    "attention_mask": encoding["attention_mask"][row],
                    "allowed": allowed,
                    "encoding": encoding[row],
                    "context": contexts[member],
                }
            )

    def _forward(self, model_inputs: dict, **params: Any) -> list[dict]:
        output = self.call_model(model_inputs)
        start = model_output(output, "start_logits", 0, self.task)  # (B, T)
        end = model_output(output, "end_logits", 1, self.task)  # (B, T)
        lengths = self.lengths(model_inputs)
        return [
            {"start": row_start, "end": row_end}
            for row_start, row_end in zip(rows(start, lengths), rows(end, lengths), strict=True)
        ]

    def postprocess(
        self,
        features: list[dict],
        outputs: list[dict],
        top_k: int = 1,
        max_answer_len: int = 15,
        impossible: bool = False,
        align_to_words: bool = True,
    ) -> Any:
        answers: dict[str, dict] = {}  # lower-cased answer text -> answer; the same text adds up its scores
        null_score = 1e6
        for feature, output in zip(features, outputs, strict=True):
            allowed = feature["allowed"]
            start = window_probabilities(output["start"], allowed)
            end = window_probabilities(output["end"], allowed)
            if impossible:
                null_score = min(null_score, float(start[0] * end[0]))
            selectable = allowed.copy()
            selectable[0] = False  # [CLS] is the "no answer" token, never part of a span
            count = top_k * 2 + 10 if align_to_words else top_k
            for first, last, score in best_spans(start, end, selectable, count, max_answer_len):
                begin, finish = self._characters(feature["encoding"], first, last, align_to_words)
                text = feature["context"][begin:finish]
                known = answers.get(text.lower())
                if known is not None:
                    known["score"] += score
                else:
                    answers[text.lower()] = {"score": score, "start": begin, "end": finish, "answer": text}
        ranked = list(answers.values())
        if impossible:
            ranked.append({"score": null_score, "start": 0, "end": 0, "answer": ""})
        ranked = sorted(ranked, key=lambda answer: answer["score"], reverse=True)[:top_k]
        return ranked[0] if top_k == 1 and ranked else ranked

    @staticmethod
    def _characters(encoding: Any, first: int, last: int, align_to_words: bool) -> tuple[int, int]:
        """Token span -> character span of the context: whole words when aligning, else token offsets."""
        if align_to_words:
            words = encoding.token_to_word(first), encoding.token_to_word(last)
            if None not in words:
                begin = encoding.word_to_chars(words[0], 1)
                finish = encoding.word_to_chars(words[1], 1)
                if begin is not None and finish is not None:
                    return begin[0], finish[1]
        return encoding.offsets[first][0], encoding.offsets[last][1]
