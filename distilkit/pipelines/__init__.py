"""`pipeline(task, model=...)`: every DistilBERT task behind one call, and `register_pipeline` to add your
own.

Follows the reference's factory (spec sections 6 and 7): `model` is a directory or Hub id (loaded with the
task's Auto class, so classes registered with the Auto classes load by path) or a model instance (any
`nn.Module` whose output has the fields the task reads); the tokenizer comes from the same place unless given.
Omitting `model` loads the task's embedded default model (`distilkit.models.defaults`, built on first use).

    classifier = pipeline("sentiment-analysis", model="path/to/checkpoint", batch_size=32)
    classifier(["I loved it", "Dull."])
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..auto import (
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForMultipleChoice,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
)
from ..errors import ConfigError, InputError
from ..modeling.kernels import pack_linears
from ..tf.pipeline import KerasModelAdapter, is_keras_model, tf_model_class_for
from .base import INT8_NAMES, Pipeline, resolve_device, resolve_dtype
from .feature_extraction import FeatureExtractionPipeline
from .fill_mask import FillMaskPipeline
from .multiple_choice import MultipleChoicePipeline
from .question_answering import QuestionAnsweringPipeline
from .remote import is_remote, remote_pipeline
from .text_classification import TextClassificationPipeline
from .token_classification import TokenClassificationPipeline
from .zero_shot import ZeroShotClassificationPipeline
from .zero_shot_embedding import EmbeddingZeroShotPipeline

__all__ = [
    "EmbeddingZeroShotPipeline",
    "FeatureExtractionPipeline",
    "FillMaskPipeline",
    "MultipleChoicePipeline",
    "Pipeline",
    "QuestionAnsweringPipeline",
    "TextClassificationPipeline",
    "TokenClassificationPipeline",
    "ZeroShotClassificationPipeline",
    "pipeline",
    "register_pipeline",
    "supported_tasks",
]


@dataclass(frozen=True)
class Task:
    pipeline_class: type[Pipeline]
    model_class: Any  # anything with from_pretrained(path, ...): an Auto class or a model class
    aliases: tuple[str, ...] = field(default=())


TASKS: dict[str, Task] = {
    "text-classification": Task(
        TextClassificationPipeline, AutoModelForSequenceClassification, ("sentiment-analysis",)
    ),
    "token-classification": Task(TokenClassificationPipeline, AutoModelForTokenClassification, ("ner",)),
    "question-answering": Task(QuestionAnsweringPipeline, AutoModelForQuestionAnswering),
    "fill-mask": Task(FillMaskPipeline, AutoModelForMaskedLM),
    "feature-extraction": Task(FeatureExtractionPipeline, AutoModel),
    "zero-shot-classification": Task(ZeroShotClassificationPipeline, AutoModelForSequenceClassification),
    "multiple-choice": Task(MultipleChoicePipeline, AutoModelForMultipleChoice),
}

BACKENDS = ("torch", "onnxruntime")


def onnx_model(source: Any, model_class: Any, dtype: Any, threads: Any, model_kwargs: Any) -> nn.Module:
    """The task's model run by ONNX Runtime (extra `distilkit[onnx]`), exported on the fly unless `source` holds
    a `model.onnx`."""
    if model_kwargs:
        raise InputError("model_kwargs apply to torch models only, not to backend='onnxruntime'")
    from ..engine.onnx import OnnxRuntimeModel  # onnxruntime is an extra: imported only when asked for

    return OnnxRuntimeModel.from_pretrained(source, model_class, int8=dtype in INT8_NAMES, threads=threads)


def supported_tasks() -> dict[str, str]:
    """Every task name and alias -> the task it runs."""
    names = {name: name for name in TASKS}
    names.update({alias: name for name, task in TASKS.items() for alias in task.aliases})
    return dict(sorted(names.items()))


def canonical_task(task: Any) -> str:
    names = supported_tasks()
    if not isinstance(task, str) or task not in names:
        raise InputError(
            f"unknown task {task!r}; choose from {', '.join(names)} (or add one with register_pipeline)"
        )
    return names[task]


def register_pipeline(
    task: str,
    pipeline_class: type[Pipeline],
    model_class: Any = None,
    *,
    aliases: tuple[str, ...] | list[str] = (),
    exist_ok: bool = False,
) -> None:
    """Add a task: `pipeline(task, model=path)` then loads the model with `model_class.from_pretrained(path)`
    and runs `pipeline_class` (a `Pipeline` subclass). `model_class` may be None if the task only takes model
    instances. `aliases` are other names of the task; `exist_ok=True` replaces a task of that name.

    Example:
        >>> from distilkit import AutoModelForSequenceClassification
        >>> from distilkit.pipelines.text_classification import TextClassificationPipeline
        >>> class AllScoresPipeline(TextClassificationPipeline):  # text classification, every label's score
        ...     def __call__(self, inputs, **kwargs):
        ...         return super().__call__(inputs, **{"top_k": None, **kwargs})
        >>> register_pipeline("all-scores", AllScoresPipeline, AutoModelForSequenceClassification,
        ...                   aliases=["every-label"])
        >>> "every-label" in supported_tasks()
        True
        >>> _ = TASKS.pop("all-scores")  # unregister again
    """
    if not isinstance(task, str) or not task:
        raise ConfigError(f"task must be a non-empty str, got {task!r}")
    if not (isinstance(pipeline_class, type) and issubclass(pipeline_class, Pipeline)):
        raise ConfigError(
            f"pipeline_class must be a subclass of distilkit.pipelines.Pipeline, got {pipeline_class!r}"
        )
    if model_class is not None and not callable(getattr(model_class, "from_pretrained", None)):
        raise ConfigError(
            f"model_class {model_class!r} has no from_pretrained(path); pass an Auto class or a model class"
        )
    new = Task(pipeline_class, model_class, tuple(aliases))
    taken = supported_tasks()
    for name in (task, *aliases):
        # registering the very same task again (a module imported twice) is harmless
        if name in taken and not exist_ok and (taken[name], TASKS[taken[name]]) != (task, new):
            raise ConfigError(
                f"task name {name!r} is already registered (for {taken[name]!r}); pass exist_ok=True "
                "to replace it"
            )
    TASKS[task] = new


def pipeline(
    task: str,
    model: Any = None,
    tokenizer: Any = None,
    device: Any = None,
    batch_size: int = 1,
    dtype: Any = None,
    *,
    use_fast: bool = True,
    model_kwargs: dict[str, Any] | None = None,
    framework: str | None = None,
    backend: str = "torch",
    **kwargs: Any,
) -> Pipeline:
    """Build the pipeline of `task` around `model`: one call turns texts into predictions, as the reference's.

    Args:
        task: one of the tasks below (or an alias, or a task added with `register_pipeline`).
        model: a model folder, a Hub id, a model instance, or None for the task's embedded English default
            (built once on first use, cached in `$DISTILKIT_MODELS`); or a remote chat model, `"openai:NAME"` or
            a `distilkit.remote.OpenAICompatible`, for text-classification, zero-shot-classification,
            token-classification and question-answering.
        tokenizer: a tokenizer or its folder (default: the model's folder).
        device: None picks the first accelerator if there is one, else CPU; -1 is CPU; k is CUDA device k;
            "cpu", "cuda:1", "mps" or a `torch.device`. A device this machine lacks is an `InputError`.
        batch_size: model rows per forward (inputs are sorted by length first, so batches pad little).
        dtype: e.g. "float16" or torch.bfloat16 to run in that precision; "int8" quantizes the encoder (CPU).
        use_fast: accepted for compatibility (every tokenizer here is fast).
        model_kwargs: keyword arguments for the model's `from_pretrained`.
        framework: "tf" loads a path with the task's TFAutoModel class (a Keras model instance runs as is).
        backend: "torch", or "onnxruntime" to run an ONNX export (`distilkit export onnx`; the onnx extra).
        **kwargs: `threads=` (torch threads for this pipeline), `packed=` (packed execution, on by default),
            `progress=True` (a tqdm bar over the items of each call), and any call option of the task below,
            which becomes its default.

    Tasks and their call options (each also takes `batch_size=` and `progress=` per call):

    - "text-classification" (alias "sentiment-analysis"): `top_k` (1; None for every label),
      `function_to_apply` ("softmax", "sigmoid", "none"; default from the model's problem type),
      `truncation`, `max_length`, `explain`. Returns `{"label", "score"}` per input (a list of them with
      `top_k`; a single string gives a one-element list, as in the reference).
    - "token-classification" (alias "ner"): `aggregation_strategy` ("none", "simple", "first", "average",
      "max"), `ignore_labels` (["O"]), `stride`, `explain`. Returns a list of entities per input (`entity` or
      `entity_group`, `score`, `word`, `start`, `end`).
    - "fill-mask": `top_k` (5), `targets` (words to score instead of the whole vocabulary),
      `tokenizer_kwargs`, `explain`. Returns `{"sequence", "score", "token", "token_str"}` rows per input.
    - "feature-extraction": `truncation`, `tokenize_kwargs`, `return_tensors`, `pooling`, `normalize`.
      Returns the token embeddings (or a pooled vector) per input.
    - "zero-shot-classification": `candidate_labels` (required), `hypothesis_template` ("This example is {}."),
      `multi_label`. Returns `{"sequence", "labels", "scores"}`, labels best first. The embedded default ranks
      labels by embedding similarity (not NLI); an NLI model given as `model` is used the reference's way.
    - "question-answering": called with `question=` and `context=`; `top_k`, `doc_stride`, `max_answer_len`,
      `max_seq_len`, `max_question_len`, `handle_impossible_answer`, `align_to_words`. Returns
      `{"score", "start", "end", "answer"}`.
    - "multiple-choice": called with a question and `choices=` (and `context=`); `top_k`, `function_to_apply`.

    Returns:
        A `Pipeline`: call it with one input for one result, a list for a list, any other iterable (a
        generator, a dataset) for a lazy iterator of results.

    Example:
        >>> from distilkit import DistilBertConfig, DistilBertForSequenceClassification, pipeline
        >>> from distilkit.tokenization import DistilBertTokenizerFast
        >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "good", "bad", "film"]
        >>> tokenizer = DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(vocab)})
        >>> model = DistilBertForSequenceClassification(DistilBertConfig(
        ...     vocab_size=len(vocab), dim=16, n_heads=2, n_layers=1, hidden_dim=32,
        ...     id2label={0: "NEGATIVE", 1: "POSITIVE"}))
        >>> classifier = pipeline("text-classification", model=model, tokenizer=tokenizer)
        >>> sorted(classifier("a good film")[0])
        ['label', 'score']
        >>> [len(scores) for scores in classifier(["a good film", "a bad film"], top_k=None)]
        [2, 2]

        With the embedded default (English; built on first use):

        >>> pipeline("sentiment-analysis")(["I loved it", "Dull and far too long"])  # doctest: +SKIP
        [{'label': 'POSITIVE', 'score': 0.98...}, {'label': 'NEGATIVE', 'score': 0.97...}]
    """
    if backend not in BACKENDS:
        raise InputError(f"backend={backend!r} is not one of {', '.join(BACKENDS)}")
    resolve_dtype(dtype)  # a bad dtype fails before anything is loaded
    if framework not in (None, "pt", "tf"):
        raise InputError(f"framework={framework!r} is not one of 'pt', 'tf' (or None)")
    name = canonical_task(task)
    spec = TASKS[name]
    if is_remote(model):  # a chat model behind an OpenAI-compatible API
        return remote_pipeline(name, model, tokenizer, device, dtype, model_kwargs, batch_size, **kwargs)
    if model is None:
        # imported only when a default is asked for: building one pulls in the training stack
        from ..models import defaults

        model = defaults.resolve(name)
        if name == "zero-shot-classification":
            # the embedded default is a sentence encoder, not an NLI model: rank labels by similarity
            spec = Task(EmbeddingZeroShotPipeline, AutoModel)
    if isinstance(model, (str, os.PathLike)):
        if spec.model_class is None:
            raise ConfigError(
                f"task {name!r} was registered without a model class, so it takes only model "
                "instances, not a path"
            )
        source = model
        model_class = spec.model_class
        if framework == "tf":
            model_class = tf_model_class_for(model_class)
        if backend == "onnxruntime":
            model = onnx_model(source, model_class, dtype, kwargs.get("threads"), model_kwargs)
        else:
            float_dtype = None if dtype in INT8_NAMES else dtype  # int8: quantized by the pipeline once loaded
            model = model_class.from_pretrained(
                source, **({"dtype": float_dtype} if float_dtype is not None else {}), **(model_kwargs or {})
            )
            if dtype is None and isinstance(model, nn.Module) and resolve_device(device).type == "cpu":
                pack_linears(model)  # loaded here, so only this pipeline uses it: encoder weights packed for oneDNN
        if dtype not in INT8_NAMES:
            dtype = None  # already loaded in that precision
        if tokenizer is None:
            tokenizer = source
    elif backend == "onnxruntime":
        raise InputError("backend='onnxruntime' takes a path (a saved model, or a folder written by `distilkit "
                         "export onnx`), not a model instance; save the model first")
    elif not isinstance(model, nn.Module) and not is_keras_model(model):
        raise InputError(f"model must be a path, a Hub id or a torch.nn.Module, got {type(model).__name__}")
    elif model_kwargs:
        raise InputError("model_kwargs apply only when the model is loaded from a path")
    if is_keras_model(model):  # a TensorFlow model runs behind a torch-facing adapter
        model = KerasModelAdapter(model)
    if tokenizer is None:
        tokenizer = getattr(getattr(model, "config", None), "name_or_path", "") or None
        if tokenizer is None:
            raise ConfigError(
                f"pipeline({task!r}) got a model instance but no tokenizer; pass tokenizer=... (a "
                "tokenizer or the directory it was saved to)"
            )
    if isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = AutoTokenizer.from_pretrained(tokenizer, use_fast=use_fast)
    return spec.pipeline_class(
        model, tokenizer, device=device, batch_size=batch_size, dtype=dtype, task=name, **kwargs
    )
