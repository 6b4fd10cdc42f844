"""The four pipelines a remote chat model (`distilkit.remote.OpenAICompatible`) can serve, with the local pipelines' call shapes and output formats.

Each task class subclasses `RemotePipeline` and the local pipeline of its task, so it takes the same inputs
(one, a list, a stream; pairs and question/context dicts) and is an instance of it; what runs differs:
per input, one chat request asks for a JSON answer with a schema built from the options (labels as an `enum`),
the answer is validated locally — re-asked at most `MAX_REASKS` times with the problem found, then a
`RemoteAnswerError` — and entity or answer offsets are found in the input by us. Inputs are sent
`max_concurrency` at a time; `pipeline.usage` counts every request. Scores come from the server's token
log-probabilities, or are None.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, RemoteAnswerError
from ..remote.answers import (
    InvalidAnswer,
    Reply,
    TokenScores,
    locate_answer,
    locate_mentions,
    read_reply,
    shown,
    value_spans,
)
from ..remote.backend import SETTINGS, OpenAICompatible, Usage
from .base import (
    Params,
    Pipeline,
    call_progress_bar,
    check_batch_size,
    check_progress,
    check_text,
    check_top_k,
    reject_unknown,
)
from .question_answering import QuestionAnsweringPipeline
from .text_classification import TextClassificationPipeline
from .token_classification import STRATEGIES, TokenClassificationPipeline, split_tag
from .zero_shot import DEFAULT_TEMPLATE, ZeroShotClassificationPipeline

MAX_REASKS = 2  # requests per input: 1 + at most 2 re-asks (transport retries are counted apart)
TOP_ALTERNATIVES = 20  # top_logprobs asked for when other labels are scored (the OpenAI API's maximum)
_UNSET: Any = object()


@dataclass(frozen=True)
class Prompt:
    """What one input asks: the instructions, the input, the reply's JSON schema, and how many alternative
    tokens to score other labels with."""

    system: str
    user: str
    schema: dict
    top_logprobs: int = 0


def enum_schema(labels: list[str]) -> dict:
    return {"type": "string", "enum": list(labels)}


def object_schema(properties: dict[str, dict]) -> dict:
    # strict structured outputs need every key required and no others allowed
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def instructions(task: str, schema: dict) -> str:
    return (
        f"{task}\nReply with only a JSON object, no prose and no markdown, that follows this JSON schema:\n"
        f"{json.dumps(schema, ensure_ascii=False)}"
    )


def label_names(labels: Any, option: str = "labels") -> list[str]:
    """Label names from a list, an id -> label mapping, or a config with `id2label`."""
    if hasattr(labels, "id2label"):
        labels = labels.id2label
    if isinstance(labels, Mapping):
        if not all(isinstance(key, int) or str(key).isdigit() for key in labels):
            raise InputError(f"an id2label dict maps label ids (ints) to names, got keys {sorted(map(str, labels))}")
        labels = [labels[key] for key in sorted(labels, key=int)]
    if isinstance(labels, str) or not isinstance(labels, (list, tuple)) or not labels:
        raise InputError(
            f"{option} must be a non-empty list of label names, an id -> label dict or a config with id2label, "
            f"got {labels!r:.100}"
        )
    names = [check_text(label, f"every name of {option}") for label in labels]
    if len(set(names)) != len(names):
        raise InputError(f"{option} holds a label twice: {names}")
    return names


class RemotePipeline(Pipeline):
    """The engine of every remote task: sanitize options, ask each input concurrently (with re-asks),
    return results in the caller's order. Subclasses implement `_sanitize_parameters`, `prompt` and
    `answer`."""

    def __init__(self, model: OpenAICompatible, tokenizer: Any = None, *, task: str, batch_size: int = 1,
                 **kwargs: Any) -> None:
        if not isinstance(model, OpenAICompatible):
            raise InputError(f"model must be a distilkit.remote.OpenAICompatible, got {type(model).__name__}")
        self.model = model
        self.tokenizer = None
        self.task = task
        self.device = None
        self.batch_size = check_batch_size(batch_size)  # accepted for the local pipelines' sake; unused
        self.usage = Usage()
        self.progress = check_progress(kwargs.pop("progress", False))  # a bar per call, as the local pipelines
        self._defaults = dict(kwargs)
        self._sanitize_parameters(**self._defaults)  # a bad option fails now, not at the first call

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task={self.task!r}, model={self.model!r})"

    # -- what subclasses implement -------------------------------------------------------------------------

    def prompt(self, item: Any, name: str, **options: Any) -> Prompt:
        raise NotImplementedError

    def answer(self, item: Any, reply: Reply, **options: Any) -> Any:
        """The result for one input from its validated reply; `InvalidAnswer` if it does not fit the input."""
        raise NotImplementedError

    @staticmethod
    def add_timeout(kwargs: dict[str, Any], timeout: Any) -> None:
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
                raise InputError(f"timeout must be a number of seconds > 0, got {timeout!r}")
            kwargs["timeout"] = float(timeout)

    # -- the engine ------------------------------------------------------------------------------------------

    def _run(self, items: list[Any], params: Params, batch_size: int, names: list[str]) -> list[Any]:
        options, _, postprocess = params
        if not items:
            return []
        prompts = [self.prompt(item, name, **options) for item, name in zip(items, names, strict=True)]
        timeout = postprocess.get("timeout", self.model.timeout)
        workers = min(self.model.max_concurrency, len(items))
        bar = call_progress_bar()  # the call's progress bar (None without progress=True), advanced per answered input
        if workers == 1:
            results = []
            for item, name, prompt in zip(items, names, prompts, strict=True):
                results.append(self._ask(item, name, prompt, timeout, postprocess))
                if bar is not None:
                    bar.update(1)
            return results
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="distilkit-remote")
        try:
            futures = [
                executor.submit(self._ask, item, name, prompt, timeout, postprocess)
                for item, name, prompt in zip(items, names, prompts, strict=True)
            ]
            for future in as_completed(futures):  # in this thread, as answers arrive
                if future.exception() is not None:
                    break  # the first failure in input order is raised below
                if bar is not None:
                    bar.update(1)
            return [future.result() for future in futures]
        finally:  # on the first error, inputs not yet sent are dropped; those in flight end by their deadline
            executor.shutdown(wait=True, cancel_futures=True)

    def _ask(self, item: Any, name: str, prompt: Prompt, timeout: float, options: dict[str, Any]) -> Any:
        deadline = time.monotonic() + timeout
        messages = [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}]
        options = {key: value for key, value in options.items() if key != "timeout"}
        for attempt in range(1 + MAX_REASKS):
            if attempt:
                self.usage.add(reasks=1)
            completion = self.model.complete(
                messages, prompt.schema, deadline=deadline, name=name, usage=self.usage,
                top_logprobs=prompt.top_logprobs,
            )
            try:
                reply = read_reply(completion, prompt.schema)
                if not reply.exact and completion.format != "text":
                    self.model.note_ignored(completion.format)  # fences or prose around the JSON
                return self.answer(item, reply, **options)
            except InvalidAnswer as problem:
                if problem.off_format:
                    self.model.note_ignored(completion.format)
                last, said = problem, completion.content or completion.refusal
                messages += [
                    {"role": "assistant", "content": said or ""},
                    {"role": "user", "content": f"That answer is not valid: {problem}. Answer again, with only "
                     "the JSON object."},
                ]
        raise RemoteAnswerError(
            f"{name} ({shown(self.describe(item))}): {self.model.where} gave no valid answer in "
            f"{1 + MAX_REASKS} tries; the last problem: {last}; its reply: {shown(said)}"
        )

    def describe(self, item: Any) -> str:
        return item if isinstance(item, str) else json.dumps(item, ensure_ascii=False, default=str)


class RemoteTextClassificationPipeline(RemotePipeline, TextClassificationPipeline):
    """text-classification by a chat model choosing one label of `labels` per text (or text pair)."""

    def _sanitize_parameters(
        self,
        labels: Any = None,
        top_k: Any = _UNSET,
        function_to_apply: Any = None,
        truncation: Any = True,
        max_length: Any = None,
        timeout: Any = None,
        **unknown: Any,
    ) -> Params:
        reject_unknown(self.task, unknown, ("labels", "top_k", "function_to_apply", "truncation", "max_length",
                                            "timeout", "batch_size"))
        if labels is None:
            raise InputError(
                "a remote text-classification model needs its label set: pipeline(..., labels=['POSITIVE', "
                "'NEGATIVE']) (a list, an id2label dict, or the config of the local model it replaces)"
            )
        if function_to_apply not in (None, "softmax"):
            raise InputError(
                f"function_to_apply={function_to_apply!r} does not apply to a remote model: its scores are the "
                "probabilities the server reports for the label it wrote"
            )
        names = label_names(labels)
        answer: dict[str, Any] = {"labels": names}
        if top_k is not _UNSET:
            answer["top_k"] = check_top_k(top_k, allow_none=True)
        self.add_timeout(answer, timeout)
        return {"labels": names}, {}, answer

    def prompt(self, item: Any, name: str, labels: list[str]) -> Prompt:
        parsed = self._parse(item, name)
        schema = object_schema({"label": enum_schema(labels)})
        if isinstance(parsed, tuple):
            task = f"Classify the pair of texts: choose the one label that fits the pair best, from: {', '.join(labels)}."
            user = f"First text: {parsed[0]}\nSecond text: {parsed[1]}"
        else:
            task = f"Classify the text: choose the one label that fits it best, from: {', '.join(labels)}."
            user = f"Text: {parsed}"
        return Prompt(instructions(task, schema), user, schema, min(TOP_ALTERNATIVES, len(labels) + 2))

    def answer(self, item: Any, reply: Reply, labels: list[str], top_k: Any = _UNSET) -> Any:
        chosen = reply.data["label"]
        scores = choice_scores(reply, "label", labels)
        if top_k is _UNSET:
            return {"label": chosen, "score": scores[chosen]}
        ranked = [{"label": label, "score": score} for label, score in rank(labels, scores, chosen)]
        return ranked if top_k is None else ranked[:top_k]


class RemoteZeroShotClassificationPipeline(RemotePipeline, ZeroShotClassificationPipeline):
    """zero-shot-classification by a chat model: the best of `candidate_labels`, or with `multi_label=True`
    a yes/no per label; each label is described to the model by `hypothesis_template`."""

    def _sanitize_parameters(
        self,
        candidate_labels: Any = None,
        hypothesis_template: Any = DEFAULT_TEMPLATE,
        multi_label: Any = False,
        timeout: Any = None,
        **unknown: Any,
    ) -> Params:
        reject_unknown(self.task, unknown, ("candidate_labels", "hypothesis_template", "multi_label", "timeout",
                                            "batch_size"))
        options, _, answer = ZeroShotClassificationPipeline._sanitize_parameters(
            self, candidate_labels, hypothesis_template, multi_label
        )
        options["multi_label"] = multi_label
        if options["labels"] is not None and len(set(options["labels"])) != len(options["labels"]):
            raise InputError(f"candidate_labels holds a label twice: {options['labels']}")
        answer["labels"] = options["labels"]
        self.add_timeout(answer, timeout)
        return options, {}, answer

    def prompt(self, item: Any, name: str, labels: list[str] | None = None, template: str = DEFAULT_TEMPLATE,
               multi_label: bool = False) -> Prompt:
        if labels is None:
            raise InputError(
                "zero-shot-classification needs candidate_labels, e.g. "
                "classifier(text, candidate_labels=['sports', 'politics'])"
            )
        text = check_text(item, name)
        statements = "\n".join(f"- {label}: {template.format(label)}" for label in labels)
        if multi_label or len(labels) == 1:
            schema = object_schema({"labels": object_schema({label: {"type": "boolean"} for label in labels})})
            task = ("For each candidate label, decide on its own whether its statement is true of the text "
                    f"(true or false):\n{statements}")
            return Prompt(instructions(task, schema), f"Text: {text}", schema, 0)
        schema = object_schema({"label": enum_schema(labels)})
        task = f"Choose the candidate label whose statement is most true of the text:\n{statements}"
        return Prompt(instructions(task, schema), f"Text: {text}", schema, min(TOP_ALTERNATIVES, len(labels) + 2))

    def answer(self, item: Any, reply: Reply, labels: list[str], multi_label: bool = False) -> dict:
        if multi_label or len(labels) == 1:
            verdicts = reply.data["labels"]
            spans = {key: (start, end) for key, start, end in value_spans(reply)}
            tokens = TokenScores(reply)
            scores: dict[str, float | None] = {}
            for label in labels:
                probability = tokens.probability(*spans[label]) if label in spans else None
                # the probability of what was written; a "false" with probability p leaves 1 - p for "true"
                scores[label] = None if probability is None else probability if verdicts[label] else 1 - probability
            ordered = sorted(labels, key=lambda label: (scores[label] is None, -(scores[label] or 0.0),
                                                         not verdicts[label]))
            ranked = [(label, scores[label]) for label in ordered]
        else:
            ranked = rank(labels, choice_scores(reply, "label", labels), reply.data["label"])
        return {"sequence": item, "labels": [label for label, _ in ranked], "scores": [score for _, score in ranked]}


class RemoteTokenClassificationPipeline(RemotePipeline, TokenClassificationPipeline):
    """token-classification by a chat model listing the mentions of `labels` (entity types, or the BIO
    labels of a config) in each text; their offsets are found in the text by us."""

    def _sanitize_parameters(
        self,
        labels: Any = None,
        aggregation_strategy: Any = "simple",
        ignore_labels: Any = None,
        stride: Any = None,
        timeout: Any = None,
        **unknown: Any,
    ) -> Params:
        reject_unknown(self.task, unknown, ("labels", "aggregation_strategy", "ignore_labels", "stride", "timeout",
                                            "batch_size"))
        if labels is None:
            raise InputError(
                "a remote token-classification model needs its entity types: pipeline(..., labels=['PER', "
                "'LOC']) (a list, or the id2label / config of the local model it replaces)"
            )
        strategy = str(getattr(aggregation_strategy, "value", aggregation_strategy)).lower()
        if strategy not in STRATEGIES:
            raise InputError(f"aggregation_strategy={aggregation_strategy!r} is not one of {', '.join(STRATEGIES)}")
        if strategy == "none":
            raise InputError(
                "a remote model finds whole entities, not per-token tags: use aggregation_strategy='simple' "
                "(or 'first', 'average', 'max', which give the same entities here)"
            )
        if ignore_labels is None:
            ignore_labels = ["O"]
        elif isinstance(ignore_labels, str) or not all(isinstance(label, str) for label in ignore_labels):
            raise InputError(f"ignore_labels must be a list of label names, got {ignore_labels!r}")
        types = list(dict.fromkeys(split_tag(label)[1] for label in label_names(labels) if label != "O"))
        types = [kind for kind in types if kind not in ignore_labels]
        if not types:
            raise InputError(f"labels={labels!r:.100} leaves no entity type to look for")
        answer: dict[str, Any] = {}
        self.add_timeout(answer, timeout)
        return {"types": types}, {}, answer

    def prompt(self, item: Any, name: str, types: list[str]) -> Prompt:
        text = check_text(item, name)
        entity = object_schema({"text": {"type": "string"}, "type": enum_schema(types)})
        schema = object_schema({"entities": {"type": "array", "items": entity}})
        task = (
            f"Find every mention of these entity types in the text: {', '.join(types)}. List the mentions in the "
            "order they appear, once per occurrence (a name written twice is listed twice), each with its text "
            "copied exactly as written in the text and its type. An empty list if there are none."
        )
        return Prompt(instructions(task, schema), f"Text: {text}", schema, 0)

    def answer(self, item: Any, reply: Reply) -> list[dict]:
        mentions = reply.data["entities"]
        spans = locate_mentions(item, [mention["text"] for mention in mentions])
        type_spans = [(start, end) for key, start, end in value_spans(reply) if key == "type"]
        tokens = TokenScores(reply)
        entities = []
        for number, (mention, (start, end)) in enumerate(zip(mentions, spans, strict=True)):
            score = tokens.probability(*type_spans[number]) if len(type_spans) == len(mentions) else None
            entities.append(
                {"entity_group": mention["type"], "score": score, "word": item[start:end], "start": start, "end": end}
            )
        return sorted(entities, key=lambda entity: entity["start"])


class RemoteQuestionAnsweringPipeline(RemotePipeline, QuestionAnsweringPipeline):
    """question-answering by a chat model copying the answer from the context; its offsets are found in
    the context by us, so `context[start:end] == answer` always."""

    def _sanitize_parameters(
        self,
        top_k: Any = 1,
        handle_impossible_answer: Any = False,
        doc_stride: Any = None,
        max_answer_len: Any = None,
        max_seq_len: Any = None,
        max_question_len: Any = None,
        align_to_words: Any = True,
        timeout: Any = None,
        **unknown: Any,
    ) -> Params:
        reject_unknown(self.task, unknown, ("top_k", "handle_impossible_answer", "doc_stride", "max_answer_len",
                                            "max_seq_len", "max_question_len", "align_to_words", "timeout",
                                            "batch_size"))
        if check_top_k(top_k) != 1:
            raise InputError(f"top_k={top_k} is not available from a remote model, which gives one answer; use top_k=1")
        if not isinstance(handle_impossible_answer, bool):
            raise InputError(f"handle_impossible_answer must be True or False, got {handle_impossible_answer!r}")
        answer: dict[str, Any] = {"impossible": handle_impossible_answer}
        self.add_timeout(answer, timeout)
        return {"impossible": handle_impossible_answer}, {}, answer

    def prompt(self, item: Any, name: str, impossible: bool = False) -> Prompt:
        question, context = self._parse(item, name)
        schema = object_schema({"answer": {"type": "string"}})
        task = (
            "Answer the question from the context with the shortest span that answers it, copied exactly, "
            "character for character, from the context."
            + (" If the context does not hold the answer, answer with an empty string." if impossible else "")
        )
        return Prompt(instructions(task, schema), f"Context: {context}\nQuestion: {question}", schema, 0)

    def answer(self, item: Any, reply: Reply, impossible: bool = False) -> dict:
        text = reply.data["answer"]
        spans = [(start, end) for key, start, end in value_spans(reply) if key == "answer"]
        score = TokenScores(reply).probability(*spans[0]) if spans else None
        if not text.strip():
            if impossible:
                return {"score": score, "start": 0, "end": 0, "answer": ""}
            raise InvalidAnswer("the answer is empty; copy the span of the context that answers the question")
        start, end = locate_answer(item["context"], text)
        return {"score": score, "start": start, "end": end, "answer": item["context"][start:end]}


def rank(labels: list[str], scores: dict[str, float | None], first: str | None) -> list[tuple[str, float | None]]:
    """Labels best first: the chosen one, then by score (labels without a score last), ties in label order."""
    ordered = sorted(labels, key=lambda label: (label != first, scores[label] is None, -(scores[label] or 0.0)))
    return [(label, scores[label]) for label in ordered]


def choice_scores(reply: Reply, key: str, labels: list[str]) -> dict[str, float | None]:
    """Each label's probability at the reply's `key` value (None without log-probabilities)."""
    for name, start, end in value_spans(reply):
        if name == key:
            return TokenScores(reply).choice_probabilities(start, end, labels)
    return dict.fromkeys(labels)


TASKS: dict[str, type[RemotePipeline]] = {
    "text-classification": RemoteTextClassificationPipeline,
    "zero-shot-classification": RemoteZeroShotClassificationPipeline,
    "token-classification": RemoteTokenClassificationPipeline,
    "question-answering": RemoteQuestionAnsweringPipeline,
}
PREFIX = "openai:"


def is_remote(model: Any) -> bool:
    """Whether `model` names a remote chat model: `"openai:NAME"` or an `OpenAICompatible` backend."""
    return isinstance(model, OpenAICompatible) or (isinstance(model, str) and model.startswith(PREFIX))


def remote_pipeline(task: str, model: Any, tokenizer: Any = None, device: Any = None, dtype: Any = None,
                    model_kwargs: dict[str, Any] | None = None, batch_size: int = 1, **kwargs: Any) -> RemotePipeline:
    """The pipeline of `task` around a remote model: an `OpenAICompatible` backend, or `"openai:NAME"` (a
    backend built from `model_kwargs` and the environment: OPENAI_API_KEY, OPENAI_BASE_URL)."""
    if task not in TASKS:
        raise InputError(
            f"task {task!r} cannot run on a remote chat model; remote models serve {', '.join(TASKS)}"
        )
    for option, value in (("tokenizer", tokenizer), ("device", device), ("dtype", dtype)):
        if value is not None:
            raise InputError(f"{option}= does not apply to a remote model (it runs on its server); leave it out")
    if isinstance(model, str):
        settings = dict(model_kwargs or {})
        unknown = sorted(set(settings) - set(SETTINGS) - {"api_key"} | ({"model"} & set(settings)))
        if unknown:
            raise InputError(
                f"model_kwargs {unknown} are not settings of OpenAICompatible; it takes "
                f"{', '.join(name for name in SETTINGS if name != 'model')}, api_key"
            )
        model = OpenAICompatible(model.removeprefix(PREFIX), **settings)
    elif model_kwargs:
        raise InputError("model_kwargs build the backend of model='openai:NAME'; an OpenAICompatible is already built")
    return TASKS[task](model, task=task, batch_size=batch_size, **kwargs)
