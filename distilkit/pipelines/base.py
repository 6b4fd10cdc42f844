"""The pipeline engine every task shares: inputs -> preprocess -> batched forward -> postprocess -> results.

Call shapes follow the reference (spec section 6.1): one input gives one result, a list gives a list, any
other iterable (a generator, a dataset) gives a lazy iterator. Unlike the reference's DataLoader, all model
rows of a call (an input, or a window or candidate pair of one) are sorted by token count before batching, so
each batch pads only to its own longest row; results come back in the caller's order. The forward pass runs
under `torch.inference_mode()` on the pipeline's device, with the model in eval mode, and — for DistilBERT
models — packed (`modeling/packing.py`): only real tokens go through the layers, so a batch costs its real tokens
whatever its padding. `dtype="int8"` quantizes the model's encoder (`modeling/quantization.py`); `threads=` sizes
torch's thread pool inside the process-wide compute section (`engine/runtime.py`).
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import itertools
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ..constants import VERY_LARGE_INTEGER, is_unlimited
from ..engine.runtime import check_threads, compute_section
from ..errors import ConfigError, DistilkitError, InputError
from ..modeling.pretrained import DTYPES
from ..modeling.quantization import check_int8_device, quantize_model

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

Params = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


def resolve_device(device: Any) -> torch.device:
    """None -> the first accelerator if there is one, else CPU; -1 -> CPU; k >= 0 -> CUDA device k; strings
    and `torch.device` as given (the reference's rules). A device this torch build or machine lacks
    (`"cuda"` on a CPU-only torch, `"mps"` off Apple silicon) is an InputError naming the devices available."""
    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda:0")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if isinstance(device, int) and not isinstance(device, bool):
        if device < 0:
            return torch.device("cpu")
        device = f"cuda:{device}"
    if isinstance(device, str):
        try:
            device = torch.device(device)
        except RuntimeError as error:
            raise InputError(
                f"device={device!r} is not a device name; use e.g. 'cpu', 'cuda' or 'cuda:1'"
            ) from error
    if not isinstance(device, torch.device):
        raise InputError(
            f"device must be None, an int, a str or a torch.device, got {type(device).__name__}: {device!r}"
        )
    available = ["cpu"]
    if torch.cuda.is_available():
        available += [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        available.append("mps")
    if device.type in ("cpu", "meta") or str(device) in available \
            or (device.index is None and any(name.startswith(f"{device.type}:") for name in available)):
        return device
    backend = getattr(torch, device.type, None)
    if device.type not in ("cuda", "mps") and backend is not None and getattr(backend, "is_available", None) \
            and backend.is_available():
        return device  # other accelerators (xpu, ...): torch checks the index when the model moves
    why = {"cuda": "this torch build has no CUDA support" if torch.version.cuda is None
           else f"this machine has {torch.cuda.device_count() if torch.cuda.is_available() else 'no'} CUDA devices",
           "mps": "MPS needs Apple silicon with a torch built for it"}.get(device.type, "it is not available here")
    raise InputError(f"device={str(device)!r} cannot be used: {why}. Available: {', '.join(available)}; "
                     "pass one of those (or device=None for the best available)")


INT8_NAMES = ("int8", "qint8")


def resolve_dtype(dtype: Any) -> torch.dtype | None:
    """None or "auto" -> keep the model's dtype; names ("float16", "torch.bfloat16") and torch dtypes as
    given. ("int8" is not a torch dtype: `Pipeline` quantizes the model instead.)"""
    if dtype is None or dtype == "auto" or dtype in INT8_NAMES:
        return None
    if isinstance(dtype, torch.dtype):
        return dtype
    name = str(dtype).removeprefix("torch.")
    if name not in DTYPES:
        raise ConfigError(f"dtype={dtype!r} is not one of {', '.join(DTYPES)}, 'int8' (or 'auto')")
    return DTYPES[name]


def check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be an int >= 1, got {batch_size!r}")
    return batch_size


def check_text(value: Any, name: str) -> str:
    """A non-empty str, or an `InputError` naming the input and what it was."""
    if not isinstance(value, str):
        raise InputError(f"{name} must be a str, got {type(value).__name__}: {value!r:.80}")
    if not value.strip():
        raise InputError(f"{name} is an empty string (or only whitespace); there is nothing to process")
    return value


def model_output(output: Any, name: str, index: int, task: str) -> torch.Tensor:
    """Field `name` of a model's output: an attribute or key (ModelOutput, dict), else position `index` of a
    tuple."""
    if isinstance(output, torch.Tensor) and index == 0:
        return output
    if isinstance(output, Mapping):
        value = output.get(name)
    elif isinstance(output, (tuple, list)):
        value = output[index] if len(output) > index else None
    else:
        value = getattr(output, name, None)
    if not isinstance(value, torch.Tensor):
        raise DistilkitError(
            f"the model's output ({type(output).__name__}) has no tensor {name!r}; a {task} model "
            f"must return an object or dict with {name!r} (or a tuple with it at position {index})"
        )
    return value


def rows(tensor: torch.Tensor, lengths: list[int] | None = None) -> list[np.ndarray]:
    """A batched tensor as one float32 (or integer) numpy array per row, cut to each row's real length if
    given."""
    if tensor.is_floating_point():
        tensor = tensor.float()
    array = tensor.cpu().numpy()
    if lengths is None:
        return list(array)
    return [array[row, :length] for row, length in enumerate(lengths)]


class Pipeline:
    """Base class of every task: subclasses implement `_sanitize_parameters`, `preprocess`, `_forward` and
    `postprocess`.

    - `_sanitize_parameters(**kwargs)` validates the call options and splits them into (preprocess, forward,
      postprocess) keyword dicts; unknown options raise `InputError`.
    - `preprocess(items, names, **params)` turns a list of inputs into, per input, a list of *features*: dicts
      holding `input_ids` (a list of ints, unpadded), optionally `attention_mask`/`token_type_ids`, plus
      anything `postprocess` needs. One input may give several features (QA windows, zero-shot label pairs).
    - `_forward(model_inputs, **params)` runs the model on one padded batch and returns one dict per row.
    - `postprocess(features, outputs, **params)` turns the features and row outputs of one input into its
      result.

    Example (a task that counts each text's tokens, from the padded batch the engine builds):
        >>> from torch import nn
        >>> from distilkit.tokenization import DistilBertTokenizerFast
        >>> class TokenCount(Pipeline):
        ...     def _sanitize_parameters(self, **kwargs):
        ...         return {}, {}, {}
        ...     def preprocess(self, items, names):
        ...         return [[{"input_ids": self.tokenizer(text)["input_ids"]}] for text in items]
        ...     def _forward(self, model_inputs):
        ...         return [{"tokens": int(count)} for count in model_inputs["attention_mask"].sum(-1)]
        ...     def postprocess(self, features, outputs):
        ...         return outputs[0]["tokens"]
        >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hi"]
        >>> tokenizer = DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(vocab)})
        >>> counter = TokenCount(nn.Identity(), tokenizer, batch_size=2)
        >>> counter(["hi hi hi", "hi"]), counter("hi")
        ([5, 3], 3)
    """

    task: ClassVar[str] = ""
    # how many items of an iterator are read, sorted and batched together before their results are yielded
    stream_window: ClassVar[int] = 256
    progress: bool = False  # a tqdm bar per call over its items (`progress=True` here or per call)

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any = None,
        *,
        device: Any = None,
        batch_size: int = 1,
        dtype: Any = None,
        task: str | None = None,
        threads: int | None = None,
        packed: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise InputError(
                f"model must be a torch.nn.Module (or a path given to pipeline(...)), got "
                f"{type(model).__name__}"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.task = task or type(self).task
        self.device = resolve_device(device)
        self.batch_size = check_batch_size(batch_size)
        target_dtype = resolve_dtype(dtype)
        if target_dtype is not None:
            self.model.to(target_dtype)
        self.model.to(self.device)
        self.model.eval()  # dropout off: results must not depend on the batch a row lands in
        if dtype in INT8_NAMES:
            check_int8_device(self.device)
            if getattr(getattr(self.model, "config", None), "quantization_config", None) is None:
                quantize_model(self.model)  # in place, as .to(dtype) converts a float model in place
        self.threads = check_threads(threads)
        self.packed = accepts_packed(self.model) if packed is None else bool(packed)
        if self.packed and not accepts_packed(self.model):
            raise InputError(f"packed=True needs a model whose forward takes packed=True (distilkit's DistilBERT "
                             f"classes); {type(self.model).__name__} does not")
        self.check_vocabulary()
        self.progress = check_progress(kwargs.pop("progress", False))
        self._defaults = dict(kwargs)
        self._sanitize_parameters(**self._defaults)  # a bad option fails now, not at the first call

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(task={self.task!r}, model={type(self.model).__name__}, "
            f"device={self.device}, batch_size={self.batch_size})"
        )

    # -- what subclasses implement ---------------------------------------------------------------------------

    def _sanitize_parameters(self, **kwargs: Any) -> Params:
        raise NotImplementedError

    def preprocess(self, items: list[Any], names: list[str], **params: Any) -> list[list[dict[str, Any]]]:
        raise NotImplementedError

    def _forward(self, model_inputs: dict[str, torch.Tensor], **params: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    def postprocess(
        self, features: list[dict[str, Any]], outputs: list[dict[str, Any]], **params: Any
    ) -> Any:
        raise NotImplementedError

    # -- shared helpers --------------------------------------------------------------------------------------

    @property
    def config(self) -> Any:
        config = getattr(self.model, "config", None)
        if config is None:
            raise ConfigError(
                f"{type(self.model).__name__} has no `config`; the {self.task} pipeline reads labels "
                "from model.config.id2label, so give the model a config"
            )
        return config

    @property
    def id2label(self) -> dict[int, str]:
        id2label = getattr(self.config, "id2label", None)
        if not isinstance(id2label, Mapping) or not id2label:
            raise ConfigError(
                f"the model's config has no id2label; the {self.task} pipeline needs it to name labels"
            )
        return id2label

    @property
    def max_length(self) -> int | None:
        """The most tokens one model row may hold: the tokenizer's `model_max_length` and the model's position
        table, whichever is smaller (None when neither sets a limit)."""
        limits = [
            getattr(self.tokenizer, "model_max_length", VERY_LARGE_INTEGER),
            getattr(getattr(self.model, "config", None), "max_position_embeddings", VERY_LARGE_INTEGER),
        ]
        limits = [limit for limit in limits if isinstance(limit, int) and not is_unlimited(limit)]
        return min(limits) if limits else None

    def truncation_options(self, truncation: Any = False, max_length: int | None = None) -> dict[str, Any]:
        """Tokenizer options that cut to `max_length`, by default the pipeline's `max_length`; no cut without
        a limit (asking the tokenizer to truncate with no limit would only warn)."""
        max_length = max_length or self.max_length
        if not truncation or max_length is None:
            return {"truncation": False}
        return {"truncation": truncation, "max_length": max_length}

    def check_vocabulary(self) -> None:
        """A tokenizer that can produce ids beyond the model's embedding table cannot belong to that model."""
        vocab_size = getattr(getattr(self.model, "config", None), "vocab_size", None)
        if self.tokenizer is None or not isinstance(vocab_size, int):
            return
        # ids may have gaps: the largest id, not the token count, must fit the embedding table
        vocab = self.tokenizer.get_vocab() if callable(getattr(self.tokenizer, "get_vocab", None)) else None
        size = max(vocab.values()) + 1 if vocab else len(self.tokenizer)
        if size > vocab_size:
            raise ConfigError(
                f"the tokenizer has token ids up to {size - 1} but the model's vocabulary holds {vocab_size}; "
                "they do not belong together (load the tokenizer saved with this model)"
            )

    def require_tokenizer(self) -> Any:
        if self.tokenizer is None:
            raise ConfigError(
                f"the {self.task} pipeline needs a tokenizer; pass tokenizer=... to pipeline(...)"
            )
        return self.tokenizer

    def call_model(self, model_inputs: dict[str, torch.Tensor]) -> Any:
        return self.model(**model_inputs, **self.model_options)

    @property
    def model_options(self) -> dict[str, Any]:
        """Keyword arguments every forward call gets on top of the inputs (packed execution when on)."""
        return {"packed": True} if self.packed else {}

    @staticmethod
    def lengths(model_inputs: dict[str, torch.Tensor]) -> list[int]:
        """Real token count of each row of a batch (rows are right-padded)."""
        return model_inputs["attention_mask"].sum(-1).tolist()

    # -- the engine ------------------------------------------------------------------------------------------

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        return self.run(inputs, self.is_single(inputs), **kwargs)

    @staticmethod
    def is_single(inputs: Any) -> bool:
        """A str, a dict, or anything that is not iterable is one input; everything else is many."""
        return (
            isinstance(inputs, (str, bytes, Mapping))
            or not isinstance(inputs, Iterable)
            and not (hasattr(inputs, "__len__") and hasattr(inputs, "__getitem__"))
        )

    def run(self, inputs: Any, single: bool, **kwargs: Any) -> Any:
        """Dispatch on the input's shape: one result, a list of results, or a lazy iterator of results."""
        batch_size = check_batch_size(kwargs.pop("batch_size", self.batch_size))
        progress = check_progress(kwargs.pop("progress", self.progress))
        params = self._sanitize_parameters(**{**self._defaults, **kwargs})
        if single:
            return self._run([inputs], params, batch_size, ["the input"])[0]
        if isinstance(inputs, (list, tuple)):
            with progress_bar(progress, len(inputs), self.task) as bar:
                return self._tracked_run(
                    bar, list(inputs), params, batch_size, [f"inputs[{index}]" for index in range(len(inputs))]
                )
        total = len(inputs) if hasattr(inputs, "__len__") else None
        if isinstance(inputs, Iterable):
            return self._stream(iter(inputs), params, batch_size, progress, total)
        # a map-style dataset (e.g. torch.utils.data.Dataset): read it by index
        return self._stream((inputs[index] for index in range(len(inputs))), params, batch_size, progress, total)

    def _stream(self, iterator: Iterator[Any], params: Params, batch_size: int, progress: bool = False,
                total: int | None = None) -> Iterator[Any]:
        with progress_bar(progress, total, self.task) as bar:
            for start in itertools.count(0, self.stream_window):
                window = list(itertools.islice(iterator, self.stream_window))
                if not window:
                    return
                names = [f"item {start + index}" for index in range(len(window))]
                yield from self._tracked_run(bar, window, params, batch_size, names)

    def _tracked_run(self, bar: Any, items: list[Any], *args: Any) -> list[Any]:
        """`_run` with `bar` (a tqdm bar, or None) advanced per finished item as batches complete."""
        token = _PROGRESS.set(bar)
        try:
            done = bar.n if bar is not None else 0
            results = self._run(items, *args)
        finally:
            _PROGRESS.reset(token)
        if bar is not None:
            bar.update(done + len(items) - bar.n)  # items `_run` did not count (e.g. an override without the hook)
        return results

    def _run(self, items: list[Any], params: Params, batch_size: int, names: list[str]) -> list[Any]:
        preprocess_params, forward_params, postprocess_params = params
        if not items:
            return []
        per_item = self.preprocess(items, names, **preprocess_params)
        flat = [(item, feature) for item, features in enumerate(per_item) for feature in features]
        self._check_lengths(flat, names)
        self._warn_uncovered_text(flat)
        # longest first: a batch that does not fit in memory fails at once, not at the end of a long job
        order = sorted(range(len(flat)), key=lambda k: len(flat[k][1]["input_ids"]), reverse=True)
        outputs: list[Any] = [None] * len(flat)
        bar, features_left = call_progress_bar(), [len(features) for features in per_item]
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                model_inputs = self._collate([flat[k][1] for k in chunk])
                with compute_section(self.threads):
                    results = self._forward(model_inputs, **forward_params)
                for k, result in zip(chunk, results, strict=True):
                    outputs[k] = result
                if bar is not None:
                    bar.update(finished_items(features_left, [flat[k][0] for k in chunk]))
        grouped: list[tuple[list, list]] = [([], []) for _ in items]
        for (item, feature), output in zip(flat, outputs, strict=True):
            grouped[item][0].append(feature)
            grouped[item][1].append(output)
        return [
            self.postprocess(features, item_outputs, **postprocess_params)
            for features, item_outputs in grouped
        ]

    def _check_lengths(self, flat: list[tuple[int, dict]], names: list[str]) -> None:
        limit = getattr(getattr(self.model, "config", None), "max_position_embeddings", None)
        if not isinstance(limit, int):
            return
        for item, feature in flat:
            if len(feature["input_ids"]) > limit:
                raise InputError(
                    f"{names[item]} has {len(feature['input_ids'])} tokens but the model accepts at "
                    f"most {limit}; {self.too_long_hint}"
                )

    too_long_hint = "pass truncation=True to cut it, or shorten it"

    _warned_uncovered: bool = False  # the language-coverage warning is given once per pipeline
    UNCOVERED_SHARE = 0.3

    def _warn_uncovered_text(self, flat: list[tuple[int, dict]]) -> None:
        """Warn (once per pipeline) when much of a call's text is outside the tokenizer's vocabulary: `[UNK]`
        tokens, or single non-ASCII characters (an English WordPiece vocabulary shatters Korean or Cyrillic words
        into letters). The model then sees almost nothing of the text and its answers mean little."""
        unk_id = getattr(self.tokenizer, "unk_token_id", None)
        if self._warned_uncovered or not isinstance(unk_id, int) or not callable(getattr(self.tokenizer,
                                                                                         "get_vocab", None)):
            return
        special = set(getattr(self.tokenizer, "all_special_ids", ())) - {unk_id}
        letters = self._letter_ids()
        unknown = fragments = total = 0
        for _, feature in flat:
            for token_id in feature["input_ids"]:
                if token_id not in special:
                    total += 1
                    unknown += token_id == unk_id
                    fragments += token_id in letters
        if total and (unknown + fragments) / total >= self.UNCOVERED_SHARE:
            self._warned_uncovered = True
            logging.getLogger("distilkit.pipelines").warning(
                "%.0f%% of this call's tokens are [UNK] and %.0f%% are single letters of a script the tokenizer "
                "has no words for: the text is mostly outside this model's languages (the defaults cover English), "
                "so its results are unreliable. Use a model whose tokenizer covers the language (a multilingual "
                "checkpoint). This warning is shown once per pipeline.", 100 * unknown / total,
                100 * fragments / total)

    def _letter_ids(self) -> frozenset[int]:
        """Ids of single non-ASCII characters, alone or as `##` continuations (computed once per pipeline)."""
        if not hasattr(self, "_letter_id_set"):
            self._letter_id_set = frozenset(
                token_id for token, token_id in self.tokenizer.get_vocab().items()
                if len(token.removeprefix("##")) == 1 and not token.removeprefix("##").isascii()
                and token.removeprefix("##").isalpha())
        return self._letter_id_set

    def _collate(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Right-pad one batch to its longest row. Always right: DistilBERT's positions are absolute, so left
        padding would shift every real token's position and change the results."""
        length = max(len(feature["input_ids"]) for feature in features)
        pad_id = getattr(self.tokenizer, "pad_token_id", None) or 0
        input_ids = np.full((len(features), length), pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(features), length), dtype=np.int64)
        with_types = all("token_type_ids" in feature for feature in features)
        token_type_ids = np.zeros((len(features), length), dtype=np.int64) if with_types else None
        for row, feature in enumerate(features):
            count = len(feature["input_ids"])
            input_ids[row, :count] = feature["input_ids"]
            attention_mask[row, :count] = feature.get("attention_mask", 1)
            if token_type_ids is not None:
                token_type_ids[row, :count] = feature["token_type_ids"]
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            batch["token_type_ids"] = token_type_ids
        return {key: torch.from_numpy(value).to(self.device) for key, value in batch.items()}


# the progress bar of the pipeline call running in this context (None: no bar); see `Pipeline._tracked_run`
_PROGRESS: contextvars.ContextVar[Any] = contextvars.ContextVar("distilkit_pipeline_progress", default=None)


def call_progress_bar() -> Any:
    """The running call's progress bar (None without `progress=True`): what a `_run` override advances, one step
    per finished item."""
    return _PROGRESS.get()


def check_progress(progress: Any) -> bool:
    if not isinstance(progress, bool):
        raise InputError(f"progress={progress!r} must be True or False")
    return progress


@contextlib.contextmanager
def progress_bar(progress: bool, total: int | None, task: str) -> Iterator[Any]:
    """A tqdm bar over a call's items on stderr when `progress`, else None."""
    if not progress:
        yield None
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=task, unit="item", dynamic_ncols=True) as bar:
        yield bar


def finished_items(features_left: list[int], items: list[int]) -> int:
    """Count down the features left per item for one batch's rows; returns how many items that completed."""
    finished = 0
    for item in items:
        features_left[item] -= 1
        finished += features_left[item] == 0
    return finished


def accepts_packed(model: nn.Module) -> bool:
    """Whether `model(..., packed=True)` runs packed: distilkit's DistilBERT classes, and subclasses whose
    forward still takes the flag (by name or through **kwargs)."""
    if not getattr(model, "supports_packed_execution", False):
        return False
    parameters = inspect.signature(model.forward).parameters.values()
    return any(p.name == "packed" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def reject_unknown(task: str, unknown: Mapping[str, Any], accepted: Iterable[str]) -> None:
    """`InputError` for call options a task does not know, listing the ones it does."""
    if unknown:
        raise InputError(
            f"{task} got unknown option(s) {sorted(unknown)}; it accepts: {', '.join(sorted(accepted))}"
        )


def check_top_k(top_k: Any, allow_none: bool = False) -> int | None:
    if top_k is None and allow_none:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise InputError(f"top_k must be an int >= 1{' or None (all)' if allow_none else ''}, got {top_k!r}")
    return top_k


def tokenizer_features(encoding: Any, keep: Iterable[str] = MODEL_INPUTS) -> list[dict[str, Any]]:
    """Split a batch `BatchEncoding` (lists, no tensors) into one feature dict per row."""
    keys = [key for key in keep if key in encoding]
    count = len(encoding["input_ids"])
    return [{key: encoding[key][row] for key in keys} for row in range(count)]
