"""`PreTrainedModel`: weight init, tying, and the `save_pretrained` / `from_pretrained` round trip.

Follows the reference's checkpoint conventions (config.json + model.safetensors, tied `vocab_projector.weight` left
out of the file, `distilbert.` prefix added or stripped, legacy gamma/beta names, stale `position_ids` dropped) with
safer defaults: pickle checkpoints are refused unless the caller opts in, missing encoder weights and shape
mismatches in the encoder are errors that list every bad key, and a mismatched *head* (e.g. `num_labels=10` on a
2-label checkpoint) is freshly initialised and reported.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
from typing import Any, ClassVar

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .._io import atomic_save
from ..checkpoint import (
    LoadReport,
    check_finite_weights,
    compare_checkpoint_keys,
    find_weight_files,
    load_state_dict,
    normalize_checkpoint_keys,
    prepare_save_directory,
    read_tensor_specs,
    release_freed_memory,
    save_state_dict,
)
from ..configuration import PretrainedConfig, load_model_config
from ..constants import DTYPE_NAMES
from ..errors import CheckpointError, ConfigError
from .quantization import prepare_quantized, quantize_model
from .tf_weights import find_tf_weight_files, load_tf_weights

logger = logging.getLogger(__name__)

ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")
DTYPES = {name: getattr(torch, name) for name in DTYPE_NAMES}  # "float32" -> torch.float32, ...
# True while from_pretrained builds a model whose weights are about to be loaded. A context variable, not a
# global: a model built meanwhile by another thread (or asyncio task) is still initialised.
_skip_init: contextvars.ContextVar[bool] = contextvars.ContextVar("distilkit_skip_init", default=False)
# safetensors dtypes of floating-point weights; any other (I64, BOOL, U8, ...) cannot be a float weight
FLOAT_HEADER_DTYPES = ("F16", "BF16", "F32", "F64", "F8_E4M3", "F8_E5M2")


@contextlib.contextmanager
def _no_init():
    token = _skip_init.set(True)
    try:
        yield
    finally:
        _skip_init.reset(token)


class _SkipMetaNormal(TorchFunctionMode):
    """`normal_` on a meta tensor (nn.Embedding's constructor) costs ~10 s the first time in a process, while
    torch imports its Python reference kernels; a weightless skeleton has no values to draw, so skip it."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.normal_ or func is nn.init.normal_:
            tensor = args[0] if args else kwargs["tensor"]
            if tensor.is_meta:
                return tensor
        return func(*args, **kwargs)


@contextlib.contextmanager
def weightless():
    """Build models on the meta device, with no weight memory and no initialisation: shapes only.

    >>> with weightless():                                     # doctest: +SKIP
    ...     skeleton = DistilBertModel(config)                   # milliseconds, whatever the config's size
    """
    with torch.device("meta"), _no_init(), _SkipMetaNormal():
        yield


def resolve_dtype(dtype: Any, config: PretrainedConfig) -> torch.dtype:
    """`None`/"auto" -> the config's dtype (float32 when unset); strings and torch dtypes as given."""
    if dtype is None or dtype == "auto":
        dtype = config.dtype or "float32"
    if isinstance(dtype, torch.dtype):
        return dtype
    name = str(dtype).removeprefix("torch.")
    if name not in DTYPES:
        raise ConfigError(f"dtype={dtype!r} is not one of {', '.join(DTYPES)} (or 'auto')")
    return DTYPES[name]


class PreTrainedModel(nn.Module):
    """Base class of every model: holds the config, initialises and ties weights, saves and loads checkpoints.

    Subclasses set `config_class` and `base_model_prefix` and implement `_init_weights(module)`.

    Every DistilBERT class is one: `Model(config)` builds fresh weights, `save_pretrained(folder)` writes
    `config.json` + `model.safetensors`, `from_pretrained(folder or Hub id, **kwargs)` loads them (in eval mode;
    kwargs override config fields), and it is a `torch.nn.Module` for everything else.

    >>> import os
    >>> import torch
    >>> from distilkit import DistilBertConfig, DistilBertForSequenceClassification, PreTrainedModel
    >>> config = DistilBertConfig(vocab_size=30, dim=32, n_heads=2, n_layers=1, hidden_dim=64)  # a tiny model
    >>> model = DistilBertForSequenceClassification(config)
    >>> isinstance(model, PreTrainedModel), model.num_parameters()
    (True, 27074)
    >>> model.save_pretrained("my-classifier")
    >>> sorted(os.listdir("my-classifier"))
    ['config.json', 'model.safetensors']
    >>> loaded = DistilBertForSequenceClassification.from_pretrained("my-classifier")
    >>> loaded.training, all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
    ...                                                         loaded.state_dict().values()))
    (False, True)
    >>> loaded.resize_token_embeddings(32).weight.shape   # two new words in the vocabulary
    torch.Size([32, 32])
    """

    config_class: ClassVar[type[PretrainedConfig]] = PretrainedConfig
    base_model_prefix: ClassVar[str] = ""
    # output-embedding key -> input-embedding key (relative to the base model)
    tied_weights_keys: ClassVar[dict[str, str]] = {}

    def __init__(self, config: PretrainedConfig) -> None:
        if not isinstance(config, PretrainedConfig):
            raise ConfigError(f"{type(self).__name__} needs a config object, got {type(config).__name__}; "
                              f"use {type(self).__name__}.from_pretrained(path) to load a checkpoint")
        config.validate()  # fields may have been changed since construction
        super().__init__()
        self.config = config
        implementation = getattr(config, "_attn_implementation", None) or "sdpa"
        if implementation not in ATTENTION_IMPLEMENTATIONS:
            raise ConfigError(f"attn_implementation={implementation!r} is not one of "
                              f"{', '.join(ATTENTION_IMPLEMENTATIONS)}")
        self.attn_implementation = implementation

    # -- init and tying -----------------------------------------------------------------------------------------

    def _init_weights(self, module: nn.Module) -> None:
        raise NotImplementedError

    def init_weights(self) -> None:
        """Initialise every module not initialised yet (heads wrap a base model that did its own), then tie."""
        for module in self.modules():
            if not getattr(module, "_distilkit_initialized", False):
                self._init_weights(module)
                module._distilkit_initialized = True
        self.tie_weights()

    def post_init(self) -> None:
        if _skip_init.get():
            self.tie_weights()
        else:
            self.init_weights()

    def get_input_embeddings(self) -> nn.Embedding:
        return getattr(self, self.base_model_prefix).get_input_embeddings()

    def get_output_embeddings(self) -> nn.Module | None:
        return None

    def tie_weights(self) -> None:
        output = self.get_output_embeddings()
        if output is not None and self.ties_embeddings:
            output.weight = self.get_input_embeddings().weight

    @property
    def ties_embeddings(self) -> bool:
        """Whether the config asks for output embeddings tied to the input ones (the reference's default)."""
        return getattr(self.config, "tie_word_embeddings", True)

    @property
    def weights_are_tied(self) -> bool:
        output = self.get_output_embeddings()
        return output is not None and output.weight is self.get_input_embeddings().weight

    # -- conveniences -------------------------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Count unique parameters (tied weights once)."""
        embeddings = {id(module.weight) for module in self.modules() if isinstance(module, nn.Embedding)}
        return sum(parameter.numel() for parameter in self.parameters()
                   if not (exclude_embeddings and id(parameter) in embeddings))

    def quantize(self, method: str = "int8") -> PreTrainedModel:
        """Quantize in place for faster CPU inference (`modeling/quantization.py`): dynamic int8 weights for the
        encoder's Linear layers; saves and loads as safetensors. Returns the model."""
        return quantize_model(self, method)

    def set_attn_implementation(self, implementation: str) -> None:
        """Switch every attention module between "sdpa" (default) and "eager"."""
        if implementation not in ATTENTION_IMPLEMENTATIONS:
            raise ConfigError(f"attn_implementation={implementation!r} is not one of "
                              f"{', '.join(ATTENTION_IMPLEMENTATIONS)}")
        for module in self.modules():
            if hasattr(module, "attn_implementation"):
                module.attn_implementation = implementation

    def gradient_checkpointing_enable(self) -> None:
        for module in self.modules():
            if hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = True

    def gradient_checkpointing_disable(self) -> None:
        for module in self.modules():
            if hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = False

    def resize_token_embeddings(self, new_num_tokens: int) -> nn.Embedding:
        """Grow or shrink the vocabulary (e.g. after `tokenizer.add_tokens`); new rows are freshly initialised."""
        if not isinstance(new_num_tokens, int) or new_num_tokens <= 0:
            raise ConfigError(f"new_num_tokens={new_num_tokens!r} must be a positive int")
        old = self.get_input_embeddings()
        kept = min(old.num_embeddings, new_num_tokens)
        new = nn.Embedding(new_num_tokens, old.embedding_dim, padding_idx=old.padding_idx,
                           device=old.weight.device, dtype=old.weight.dtype)
        self._init_weights(new)
        with torch.no_grad():
            new.weight[:kept] = old.weight[:kept]
        getattr(self, self.base_model_prefix, self).set_input_embeddings(new)
        output = self.get_output_embeddings()
        if output is not None:
            bias = torch.zeros(new_num_tokens, dtype=output.bias.dtype, device=output.bias.device)
            bias[:kept] = output.bias.data[:kept]
            output.bias = nn.Parameter(bias)
            output.out_features = new_num_tokens
            if not self.ties_embeddings:
                weight = torch.empty(new_num_tokens, output.in_features, dtype=output.weight.dtype)
                weight.normal_(0.0, self.config.initializer_range)
                weight[:kept] = output.weight.data[:kept]
                output.weight = nn.Parameter(weight)
        self.config.vocab_size = new_num_tokens
        self.tie_weights()
        return new

    # -- saving -------------------------------------------------------------------------------------------------

    @atomic_save()
    def save_pretrained(self, save_directory: str | os.PathLike, *, max_shard_size: int | str = "50GB",
                        state_dict: dict[str, torch.Tensor] | None = None, safe_serialization: bool = True) -> None:
        """Write config.json and model.safetensors (sharded with an index above `max_shard_size`), all at once:
        a kill mid-save leaves the folder's previous version (see `distilkit._io.staged_directory`)."""
        directory = prepare_save_directory(save_directory, safe_serialization=safe_serialization,
                                           formats="pickle files can run code when loaded")
        self.config.architectures = [type(self).__name__]
        self.config.dtype = str(self.dtype).removeprefix("torch.")
        state = dict(self.state_dict() if state_dict is None else state_dict)
        if self.weights_are_tied:  # the reference leaves the tied copy out of the file
            for key in self.tied_weights_keys:
                state.pop(key, None)
        save_state_dict(state, directory, max_shard_size=max_shard_size)
        self.config.save_pretrained(directory)

    # -- loading ------------------------------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: PretrainedConfig, *, attn_implementation: str | None = None,
                    dtype: Any = None) -> PreTrainedModel:
        """A freshly initialised model (the reference's `_from_config`)."""
        if attn_implementation is not None:
            config = config.copy()
            config._attn_implementation = attn_implementation
        model = cls(config)
        return model.to(resolve_dtype(dtype, config))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *,
                        config: PretrainedConfig | str | os.PathLike | None = None,
                        cache_dir: Any = None, revision: str | None = None, local_files_only: bool = False,
                        token: Any = None, dtype: Any = None, torch_dtype: Any = None,
                        attn_implementation: str | None = None, allow_pickle: bool = False,
                        ignore_mismatched_sizes: bool = False, strict: bool = True,
                        key_mapping: dict[str, str] | None = None, output_loading_info: bool = False,
                        check_finite: bool = False, from_tf: bool = False, **config_kwargs: Any):
        """Load a checkpoint from a directory or a Hub id (through the HF cache).

        Keyword arguments that name config fields override them (`num_labels=10`). Pickle `.bin` checkpoints are
        refused unless `allow_pickle=True`, which loads them with `torch.load(weights_only=True)` only.
        `strict=False` lets encoder weights missing from the file be freshly initialised (reported) instead of
        raising; `ignore_mismatched_sizes=True` does the same for encoder weights of the wrong shape. Weights holding
        NaN or infinity are named in a warning, or refused (`CheckpointError`) with `check_finite=True`.
        `from_tf=True` reads a legacy `tf_model.h5` as arrays when there is one (`tf_weights.py`); the Keras
        classes write model.safetensors, which loads either way.
        """
        hub_kwargs = dict(cache_dir=cache_dir, revision=revision, local_files_only=local_files_only, token=token)
        config = load_model_config(cls.config_class, pretrained_model_name_or_path, config, config_kwargs,
                                   caller=f"{cls.__name__}.from_pretrained", **hub_kwargs)
        if attn_implementation is not None:
            config._attn_implementation = attn_implementation
        target_dtype = resolve_dtype(dtype if dtype is not None else torch_dtype, config)

        tf_files = find_tf_weight_files(pretrained_model_name_or_path, **hub_kwargs) if from_tf else None
        files = tf_files or find_weight_files(pretrained_model_name_or_path, allow_pickle=allow_pickle, **hub_kwargs)
        source = str(pretrained_model_name_or_path)
        # the headers against a weightless (meta) copy of the model: a config that does not fit the checkpoint
        # fails here, before its tensors or the model's are allocated
        specs = read_tensor_specs(files) if tf_files is None else {}
        if specs:
            with weightless():
                skeleton = cls(config)
                prepare_quantized(skeleton, config)
            skeleton._match_checkpoint({key: shape for key, (shape, _) in specs.items()},
                                       {key: kind in FLOAT_HEADER_DTYPES for key, (_, kind) in specs.items()},
                                       {key: kind for key, (_, kind) in specs.items()}, key_mapping=key_mapping,
                                       strict=strict, ignore_mismatched_sizes=ignore_mismatched_sizes, source=source)
        if tf_files is None:
            state = load_state_dict(files, allow_pickle=allow_pickle)
        else:
            state = {key: torch.from_numpy(array) for key, array in load_tf_weights(tf_files).items()}
        check_finite_weights(state, source, error=check_finite)
        with _no_init():
            model = cls(config)
        prepare_quantized(model, config)  # int8 layers first, so the checkpoint's int8 weights fit
        report = model.load_checkpoint_state(state, key_mapping=key_mapping, strict=strict,
                                              ignore_mismatched_sizes=ignore_mismatched_sizes, source=source,
                                              dtype=target_dtype)
        model = model.to(target_dtype)
        model.config.name_or_path = str(pretrained_model_name_or_path)
        model.eval()  # the reference returns loaded models in eval mode
        del state
        release_freed_memory()  # the checkpoint's copy of every tensor was just freed
        if output_loading_info:
            return model, report.loading_info()
        return model

    def load_checkpoint_state(self, state: dict[str, torch.Tensor], *, key_mapping: dict[str, str] | None = None,
                              strict: bool = True, ignore_mismatched_sizes: bool = False,
                              source: str = "the state dict", dtype: torch.dtype | None = None) -> LoadReport:
        """Load a checkpoint's tensors into this model by `from_pretrained`'s rules (legacy names renamed, the
        base-model prefix aligned, tied weights kept tied, bad encoder keys raised, fresh head weights reported,
        non-float tensors for float weights refused, float ones converted to `dtype` (default: the model's) with
        a warning naming the conversion); returns the `LoadReport`, also kept as `self.load_report`."""
        model_state = self.state_dict()
        state = self._normalize_keys(state, key_mapping, set(model_state))

        tied = self.tied_key_pairs()
        for output_key, input_key in tied.items():
            if output_key in state:
                if input_key in state and not torch.equal(state[output_key], state[input_key]):
                    logger.warning("%s: %s differs from %s in the checkpoint; the weights are left untied and the "
                                   "checkpoint's values used", source, output_key, input_key)
                    self.get_output_embeddings().weight = nn.Parameter(self.get_input_embeddings().weight.clone())
                    tied = {}
                else:
                    del state[output_key]
        report = self._compare_keys(
            {key: tuple(value.shape) for key, value in state.items()},
            {key: value.is_floating_point() for key, value in state.items()},
            {key: str(value.dtype).removeprefix("torch.") for key, value in state.items()},
            model_state, set(tied), strict=strict, ignore_mismatched_sizes=ignore_mismatched_sizes, source=source)

        fresh = set(report.missing) | {key for key, _, _ in report.mismatched}
        modules = dict(self.named_modules())
        for key in sorted(fresh):
            owner = modules[key.rpartition(".")[0]]
            self._init_weights(owner)
        loadable = {key: value for key, value in state.items() if key in model_state and key not in fresh}
        self._report_conversions(loadable, model_state, dtype, source)
        # strict=False: the tied key and the fresh ones are deliberately absent
        self.load_state_dict(loadable, strict=False)
        if tied:
            self.tie_weights()

        report.log(logger, source, type(self).__name__)
        self.load_report = report
        return report

    def _normalize_keys(self, state: dict[str, Any], key_mapping: dict[str, str] | None,
                        model_keys: set[str]) -> dict[str, Any]:
        """Checkpoint names -> this model's: legacy names, `key_mapping`, stale position ids, the prefix."""
        return normalize_checkpoint_keys(state, model_keys, self.base_model_prefix, key_mapping)

    def _match_checkpoint(self, shapes: dict[str, tuple], floats: dict[str, bool], dtypes: dict[str, str], *,
                          key_mapping: dict[str, str] | None, strict: bool, ignore_mismatched_sizes: bool,
                          source: str) -> None:
        """Raise what loading tensors of these shapes and dtypes would raise (run on a meta-device model)."""
        model_state = self.state_dict()
        shapes = self._normalize_keys(shapes, key_mapping, set(model_state))
        floats = self._normalize_keys(floats, key_mapping, set(model_state))
        dtypes = self._normalize_keys(dtypes, key_mapping, set(model_state))
        tied = set(self.tied_key_pairs())
        self._compare_keys({key: value for key, value in shapes.items() if key not in tied}, floats, dtypes,
                           model_state, tied, strict=strict, ignore_mismatched_sizes=ignore_mismatched_sizes,
                           source=source)

    def _compare_keys(self, shapes: dict[str, tuple], floats: dict[str, bool], dtypes: dict[str, str],
                      model_state: dict[str, torch.Tensor], tied: set[str], *, strict: bool,
                      ignore_mismatched_sizes: bool, source: str) -> LoadReport:
        """The load report (`checkpoint.compare_checkpoint_keys`: raises for bad encoder keys); also raises for
        non-float tensors stored for float weights."""
        report = compare_checkpoint_keys(shapes, {key: tuple(value.shape) for key, value in model_state.items()},
                                         is_encoder=self._is_encoder_key, strict=strict,
                                         ignore_mismatched_sizes=ignore_mismatched_sizes, source=source, tied=tied)
        expected = set(model_state) - tied
        not_float = sorted(key for key in expected & set(shapes)
                           if model_state[key].is_floating_point() and not floats.get(key, True))
        if not_float:
            details = ", ".join(f"{key} ({dtypes.get(key)})" for key in not_float)
            raise CheckpointError(f"{source}: {len(not_float)} weights are stored as non-float tensors: {details}. "
                                  "A float weight cannot be read from integers or booleans without losing it; "
                                  "the file is damaged or not a checkpoint of this model.")
        return report

    @staticmethod
    def _report_conversions(loadable: dict[str, torch.Tensor], model_state: dict[str, torch.Tensor],
                            dtype: torch.dtype | None, source: str) -> None:
        """Warn once, with counts, when checkpoint float weights are converted to another float dtype."""
        conversions: dict[tuple[str, str], int] = {}
        for key, value in loadable.items():
            target = dtype if dtype is not None and model_state[key].is_floating_point() else model_state[key].dtype
            if value.is_floating_point() and value.dtype != target:
                pair = (str(value.dtype).removeprefix("torch."), str(target).removeprefix("torch."))
                conversions[pair] = conversions.get(pair, 0) + 1
        if conversions:
            details = "; ".join(f"{count} from {old} to {new}" for (old, new), count in sorted(conversions.items()))
            logger.warning("%s: weights were converted while loading (%s). Pass dtype= to choose the model's "
                           "precision.", source, details)

    def tied_key_pairs(self) -> dict[str, str]:
        """Output-embedding key -> input-embedding key, as named in this model's state dict, when tied."""
        if not (self.ties_embeddings and self.get_output_embeddings() is not None):
            return {}
        return dict(self.tied_weights_keys)

    def _is_encoder_key(self, key: str) -> bool:
        prefix = f"{self.base_model_prefix}."
        model_is_head = hasattr(self, self.base_model_prefix)
        return key.startswith(prefix) or not model_is_head
