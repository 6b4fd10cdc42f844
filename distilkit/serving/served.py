"""The models a server runs: `NAME_OR_PATH[:TASK]` specs resolved to pipelines, and each model's request
preparation (limits checked and real tokens counted off the event loop).

A spec is a model directory, a Hub id in the local cache, or an embedded default's name; the task comes from
`:TASK` or from the checkpoint's `architectures`. With no spec the embedded defaults are served: sentiment,
NER, embeddings, and zero-shot classification by embedding similarity on the same embeddings model.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..configuration import load_config_dict
from ..errors import ConfigError, DistilkitError
from ..pipelines import EmbeddingZeroShotPipeline, Pipeline, pipeline, supported_tasks
from ..pipelines.zero_shot import DEFAULT_TEMPLATE, parse_labels
from .errors import ServeError
from .settings import ServerSettings
from .tasks import SHAPES, TaskShape, all_texts, text_fields, with_texts

logger = logging.getLogger("distilkit.serving")

# the embedded default models, and the task each serves first
DEFAULT_NAMES = {"sentiment": "text-classification", "ner": "token-classification",
                 "embeddings": "feature-extraction", "fill-mask": "fill-mask"}
DEFAULT_SPECS = ("sentiment", "ner", "embeddings", "embeddings:zero-shot-classification")
UNLIMITED_TOKENS = 1 << 62  # a model with no maximum length: costs are never capped
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
HEADS = {"ForSequenceClassification": "text-classification", "ForTokenClassification": "token-classification",
         "ForQuestionAnswering": "question-answering", "ForMaskedLM": "fill-mask",
         "ForMultipleChoice": "multiple-choice"}


@dataclass(frozen=True)
class ModelSpec:
    name: str  # how requests select it (`"model": name`) and how /info and /metrics show it
    source: str  # a directory, a Hub id, or an embedded default's name
    task: str

    @property
    def is_default(self) -> bool:
        return self.source in DEFAULT_NAMES and not Path(self.source).exists()


def parse_spec(spec: str) -> ModelSpec:
    """`path`, `path:task`, `sentiment`, `embeddings:zero-shot-classification`, `org/model:fill-mask` (a Hub id
    in the local cache) -> a spec with its task."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"--model {spec!r} is empty; give NAME_OR_PATH[:TASK]")
    source, task = spec, None
    head, _, tail = spec.rpartition(":")
    if head and not Path(spec).expanduser().exists():
        if tail not in supported_tasks() or supported_tasks()[tail] not in SHAPES:
            raise ConfigError(f"--model {spec!r}: {tail!r} is not a task; choose from {', '.join(SHAPES)}")
        source, task = head, supported_tasks()[tail]
    path = Path(source).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ConfigError(f"--model {spec!r}: {str(path)!r} has no config.json; is it a saved model folder?")
        return ModelSpec(path.resolve().name, str(path), task or task_of(path))
    if source in DEFAULT_NAMES:
        return ModelSpec(source, source, task or DEFAULT_NAMES[source])
    if not HUB_ID.fullmatch(source):
        raise ConfigError(f"--model {spec!r}: no such directory {str(path)!r}")
    if task is None:
        raise ConfigError(f"--model {spec!r}: say which task the Hub model serves, e.g. {spec}:fill-mask")
    return ModelSpec(source.rsplit("/", 1)[-1], source, task)


def task_of(path: Path) -> str:
    """The task of a saved model, from the head named in its config's `architectures` (none: a bare encoder,
    served for feature extraction)."""
    if not (path / "config.json").is_file():
        return "feature-extraction"
    architectures = load_config_dict(path / "config.json").get("architectures") or []
    for architecture in architectures:
        for suffix, task in HEADS.items():
            if str(architecture).endswith(suffix):
                return task
    return "feature-extraction"


def resolve_specs(settings: ServerSettings) -> list[ModelSpec]:
    """Every spec of the settings (or the defaults), checked, with unique names: a second model of the same
    name is called `name-<task>`."""
    specs, seen = [], set()
    for raw in settings.model or DEFAULT_SPECS:
        spec = parse_spec(raw)
        if spec.name in seen:
            spec = ModelSpec(f"{spec.name}-{spec.task}", spec.source, spec.task)
        if spec.name in seen:
            raise ConfigError(f"--model {raw!r} is given twice")
        seen.add(spec.name)
        specs.append(spec)
    return specs


@dataclass
class ServedModel:
    """One model behind one task: the pipeline, its limits, and how a request becomes batch entries."""

    spec: ModelSpec
    pipeline: Pipeline
    max_input_tokens: int
    shape: TaskShape = field(init=False)

    def __post_init__(self) -> None:
        self.shape = SHAPES[self.spec.task]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def task(self) -> str:
        return self.spec.task

    def info(self) -> dict[str, Any]:
        config = getattr(self.pipeline.model, "config", None)
        return {"name": self.name, "task": self.task, "source": self.spec.source,
                "route": self.shape.route, "pipeline": type(self.pipeline).__name__,
                "max_input_tokens": self.max_input_tokens,
                "labels": sorted(getattr(config, "id2label", {}).values()) if self.task in (
                    "text-classification", "token-classification") else None}

    def prepare(self, items: list[Any], parameters: dict[str, Any], settings: ServerSettings,
                names: list[str]) -> tuple[list[Any], list[int]]:
        """Check the token limits and count each input's real tokens; runs in a worker thread. Returns the
        inputs (cut when auto_truncate is on) and their costs; raises `ServeError` for a bad request. The
        pipeline itself validates the call options, when the batch runs."""
        items = self.limit_texts(items, settings.auto_truncate, names)
        costs = token_costs(self.pipeline, self.task, items, parameters)
        for name, cost in zip(names, costs, strict=True):
            if cost > settings.max_batch_tokens:
                raise ServeError(
                    "validation",
                    f"{name} costs {cost} tokens (every row the model runs for it), more than "
                    f"max_batch_tokens={settings.max_batch_tokens}; send a shorter input or fewer labels/choices",
                )
        return items, costs

    def limit_texts(self, items: list[Any], auto_truncate: bool, names: list[str]) -> list[Any]:
        tokenizer = self.pipeline.require_tokenizer()
        located = [(index, where, text) for index, item in enumerate(items) for where, text in text_fields(item)]
        if not located:
            return items
        # a WordPiece token covers at least one character: a text of n characters has at most n + specials
        # tokens, so short texts need no count
        specials = tokenizer.num_special_tokens_to_add(False)
        long = [entry for entry in located if len(entry[2]) + specials > self.max_input_tokens]
        if not long:
            return items
        encoding = tokenizer([text for _, _, text in long], return_offsets_mapping=True)
        cut: dict[tuple[int, str], str] = {}
        for row, (index, where, text) in enumerate(long):
            count = len(encoding["input_ids"][row])
            if count <= self.max_input_tokens:
                continue
            if not auto_truncate:
                raise ServeError(
                    "validation",
                    f"{names[index]}{where} has {count} tokens but this server takes at most max_input_tokens="
                    f"{self.max_input_tokens}; shorten it, or start the server with --auto-truncate",
                )
            cut[(index, where)] = cut_text(tokenizer, text, encoding["offset_mapping"][row],
                                           encoding.word_ids(row), self.max_input_tokens)
        if not cut:
            return items
        return [with_texts(item, [cut.get((index, where), text) for where, text in text_fields(item)])
                if any(key[0] == index for key in cut) else item for index, item in enumerate(items)]


def cut_text(tokenizer: Any, text: str, offsets: list, word_ids: list, limit: int) -> str:
    """The longest prefix of `text` ending at a word boundary that has at most `limit` tokens, so it tokenizes
    exactly as the start of the full text did (a cut inside a word would re-split that word)."""
    content = [position for position, word in enumerate(word_ids) if word is not None]
    keep = limit - tokenizer.num_special_tokens_to_add(False)
    first_dropped = content[max(keep, 0)]
    start = first_dropped
    while start > 0 and word_ids[start - 1] == word_ids[first_dropped]:
        start -= 1  # back to the first piece of the word the cut falls in
    prefix = text[: offsets[start][0]].rstrip()
    if not prefix:  # one word longer than the limit: cut inside it, then re-count
        prefix = text[: offsets[first_dropped][0]]
        while prefix and len(tokenizer(prefix)["input_ids"]) > limit:
            prefix = prefix[:-1]
    return prefix


def load(spec: ModelSpec, settings: ServerSettings, loaded: dict[str, Pipeline]) -> ServedModel:
    """Build the pipeline of one spec. `loaded` maps sources to the pipelines built so far: zero-shot
    classification by embeddings reuses the model and tokenizer of a feature-extraction pipeline on the same
    source (the defaults serve both tasks from one copy of the embeddings model)."""
    source = spec.source
    if spec.is_default:
        from ..models import registry

        logger.info("model %r: the embedded default %r (built on first use, then cached)", spec.name, source)
        source = str(registry.ensure(source))
    options = {"device": settings.device, "batch_size": settings.batch_size}
    by_embeddings = Path(source).is_dir() and task_of(Path(source)) == "feature-extraction"
    if spec.task == "zero-shot-classification" and by_embeddings:
        base = loaded.get(source) or pipeline("feature-extraction", model=source, **options)
        runner: Pipeline = EmbeddingZeroShotPipeline(base.model, base.tokenizer, task=spec.task, **options)
    else:
        runner = pipeline(spec.task, model=source, **options)
    loaded.setdefault(source, runner)
    max_input_tokens = settings.max_input_tokens or runner.max_length or settings.max_batch_tokens
    if max_input_tokens > settings.max_batch_tokens:
        raise ConfigError(
            f"model {spec.name!r} takes texts of up to {max_input_tokens} tokens, which max_batch_tokens="
            f"{settings.max_batch_tokens} could not hold; raise --max-batch-tokens or lower --max-input-tokens"
        )
    logger.info("model %r ready: %s from %s", spec.name, spec.task, source)
    return ServedModel(spec, runner, max_input_tokens)


def token_costs(runner: Pipeline, task: str, items: list[Any], parameters: dict[str, Any]) -> list[int]:
    """The real (unpadded) tokens the model computes for each input: every row it becomes, special tokens
    included, as the task's pipeline builds them (a zero-shot text and its label hypotheses, every
    question-answering window, every multiple-choice pair), counted with the pipeline's tokenizer. This is
    what a batch costs under a packed engine, so `max_batch_tokens` bounds real work."""
    tokenizer = runner.require_tokenizer()
    single, pair = tokenizer.num_special_tokens_to_add(False), tokenizer.num_special_tokens_to_add(True)
    fields = [[text for _, text in all_texts(item)] for item in items]
    hypotheses: list[str] = []
    if task == "zero-shot-classification" and parameters.get("candidate_labels") is not None:
        template = parameters.get("hypothesis_template", DEFAULT_TEMPLATE)
        try:
            labels = parse_labels(parameters["candidate_labels"])
            hypotheses = [template.format(label) for label in labels] if isinstance(template, str) else []
        except (DistilkitError, IndexError, KeyError, ValueError) as error:
            raise ServeError("validation", f"parameters.candidate_labels / hypothesis_template: {error}") from None
    texts = [text for group in fields for text in group] + hypotheses
    counts = iter(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])
    lengths = [[next(counts) for _ in group] for group in fields]  # content tokens of each text
    labels = [next(counts) for _ in hypotheses]
    cap = runner.max_length or UNLIMITED_TOKENS
    costs = []
    for item, sizes in zip(items, lengths, strict=True):
        if task == "zero-shot-classification":
            text = sizes[0]
            if isinstance(runner, EmbeddingZeroShotPipeline):  # the text and each hypothesis, embedded alone
                cost = min(text + single, cap) + sum(min(label + single, cap) for label in labels)
            else:  # one (text, hypothesis) pair per label
                cost = sum(min(text + label + pair, cap) for label in labels)
        elif task == "question-answering":
            cost = answer_windows_cost(runner, sizes[0], sizes[1], parameters, pair)
        elif task == "multiple-choice":  # one (question or context, choice) pair per choice
            question, choices = sizes[0], sizes[1:1 + len(item["choices"])]
            context = sizes[-1] if "context" in item else 0
            cost = sum(min(context + question + choice + pair, cap) for choice in choices)
        elif len(sizes) == 2:  # a text pair
            cost = min(sizes[0] + sizes[1] + pair, cap)
        else:
            truncated = task == "text-classification" and parameters.get("truncation", True) is not False
            cost = min(sizes[0] + single, cap) if truncated else sizes[0] + single
        costs.append(max(cost, 1))
    return costs


def answer_windows_cost(runner: Pipeline, question: int, context: int, parameters: dict[str, Any],
                        special: int) -> int:
    """Tokens of every window the question-answering pipeline reads a context in (its defaults: windows of
    min(384, max length) tokens overlapping by up to 128)."""
    window = parameters.get("max_seq_len") or min(runner.max_length or 384, 384)
    question = min(question, parameters.get("max_question_len") or 64)
    if not isinstance(window, int) or isinstance(window, bool):
        return question + context + special  # a bad option: the pipeline refuses it when the batch runs
    room = max(window - special - question, 1)
    stride = parameters.get("doc_stride")
    stride = min(window // 2, 128, room - 1) if not isinstance(stride, int) else stride
    windows = 1 if context <= room else 1 + math.ceil((context - room) / max(room - stride, 1))
    return windows * (question + special) + context + (windows - 1) * max(stride, 0)
