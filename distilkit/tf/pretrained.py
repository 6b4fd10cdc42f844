"""`TFPreTrainedModel`: the Keras 3 base of the TensorFlow twins — the same `from_pretrained` / `save_pretrained`
round trip as `modeling/pretrained.py`, on the same files.

Weights are the PyTorch checkpoint's own: `model.safetensors` (or its shards) read through `checkpoint.py`'s
validated loader and written with its atomic, sharded writer, keys and layouts unchanged (Dense kernels are
stored transposed, as `nn.Linear` holds them), so a folder saved here loads in the PyTorch classes and the
reference, and `from_pt=True` needs no conversion. A legacy `tf_model.h5` is read as plain arrays (`modeling/tf_weights.py`).
Loading follows the PyTorch rules: missing or mis-shaped encoder weights are a `CheckpointError` naming every key,
a mismatched head is freshly initialised, and the `LoadReport` is logged and kept as `model.load_report`.
Training follows the reference's TensorFlow classes: `compile()` without a loss trains on the model's own loss
(labels in the inputs, or `y` taken as the labels), a compiled loss and metrics see the logits.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from .._extras import require
from ..checkpoint import (
    LoadReport,
    align_prefix,
    compare_checkpoint_keys,
    find_weight_files,
    load_state_dict,
    normalize_checkpoint_keys,
    prepare_save_directory,
    save_state_dict,
)
from ..configuration import PretrainedConfig, load_model_config
from ..errors import CheckpointError, ConfigError, InputError
from ..modeling.tf_weights import find_tf_weight_files, load_tf_weights

keras = require("keras", "tf", "the TensorFlow (Keras 3) models")

logger = logging.getLogger(__name__)

# the tensor inputs every model accepts; anything else a dict input holds goes to the unknown-input check
TENSOR_INPUTS = ("input_ids", "attention_mask", "inputs_embeds", "position_ids", "labels", "start_positions",
                 "end_positions")


def eager_value(tensor: Any) -> np.ndarray | None:
    """The tensor's values as numpy when they exist now, None while a graph is being traced (tf.function, jit)."""
    if isinstance(tensor, np.ndarray):
        return tensor
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly() or not hasattr(tensor, "numpy"):
            return None
    elif backend == "jax":
        import jax

        if isinstance(tensor, jax.core.Tracer):
            return None
    return keras.ops.convert_to_numpy(tensor)


def checkpoint_variables(layer: Any, prefix: str = "", seen: set[int] | None = None) -> dict[str, tuple[Any, bool]]:
    """Checkpoint key -> (Keras variable, stored transposed?) for every weight under `layer`, keys being attribute
    paths: `distilbert.transformer.layer.0.attention.q_lin.weight` -> (the Dense kernel, True). A variable
    reachable twice (the tied vocabulary projection) is listed once, under the first path."""
    seen = set() if seen is None else seen
    if isinstance(layer, keras.layers.Dense):
        leaves = {"weight": (layer.kernel, True), "bias": (layer.bias, False)}
    elif isinstance(layer, keras.layers.LayerNormalization):
        leaves = {"weight": (layer.gamma, False), "bias": (layer.beta, False)}
    elif isinstance(layer, keras.layers.Embedding):
        leaves = {"weight": (layer.embeddings, False)}
    else:
        leaves = None
    found: dict[str, tuple[Any, bool]] = {}
    if leaves is not None:
        for name, (variable, transposed) in leaves.items():
            if id(variable) not in seen:
                seen.add(id(variable))
                found[prefix + name] = (variable, transposed)
        return found
    # sublayers live in __dict__, or, on Keras' PyTorch backend (where layers are torch modules), in `_modules`
    names = dict.fromkeys([*vars(layer), *getattr(layer, "_modules", {})])
    for name in names:
        if name.startswith("_"):
            continue
        value = getattr(layer, name)
        if isinstance(value, keras.layers.Layer):
            found.update(checkpoint_variables(value, f"{prefix}{name}.", seen))
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, keras.layers.Layer) for v in value):
            for index, sublayer in enumerate(value):
                found.update(checkpoint_variables(sublayer, f"{prefix}{name}.{index}.", seen))
        elif isinstance(value, keras.Variable) and id(value) not in seen:
            seen.add(id(value))
            found[prefix + name] = (value, False)
    return found


class TFPreTrainedModel(keras.Model):
    """Base class of the Keras models: holds the config, maps weights to checkpoint keys, saves and loads.

    Subclasses set `config_class`, `base_model_prefix`, `pytorch_class_name` (what `architectures` records, as
    the reference's TensorFlow classes wrote their name without "TF") and build every weight in `__init__`.
    """

    config_class: ClassVar[type[PretrainedConfig]] = PretrainedConfig
    base_model_prefix: ClassVar[str] = ""
    pytorch_class_name: ClassVar[str] = ""

    def __init__(self, config: PretrainedConfig, **kwargs: Any) -> None:
        if not isinstance(config, PretrainedConfig):
            raise ConfigError(f"{type(self).__name__} needs a config object, got {type(config).__name__}; "
                              f"use {type(self).__name__}.from_pretrained(path) to load a checkpoint")
        config.validate()
        super().__init__(**kwargs)
        self.config = config

    # -- calls ---------------------------------------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Keras takes only tensors and plain containers positionally: a BatchEncoding (a UserDict) becomes a dict
        if args and isinstance(args[0], Mapping) and not isinstance(args[0], dict):
            args = (dict(args[0]), *args[1:])
        return super().__call__(*args, **kwargs)

    def unpack_inputs(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments with a dict / `BatchEncoding` first argument spread out (the reference's TF
        calling convention, used by `model(batch)` and by `fit` on a dataset of dicts); tensor inputs converted
        to backend tensors; unknown keys collected under "extra" for `reject_unknown_inputs`."""
        arguments = {key: value for key, value in arguments.items() if key not in ("self", "training", "__class__")}
        extra = dict(arguments.pop("kwargs", {}))
        first = arguments.get("input_ids")
        if isinstance(first, Mapping):
            arguments["input_ids"] = None
            for key, value in first.items():
                if key not in arguments:
                    extra[key] = value
                elif arguments[key] is not None:
                    raise InputError(f"{key!r} was given both in the input dict and as an argument; pass it once")
                else:
                    arguments[key] = value
        for key in TENSOR_INPUTS:
            value = arguments.get(key)
            if value is not None and not hasattr(value, "shape"):
                try:
                    arguments[key] = keras.ops.convert_to_tensor(np.asarray(value))
                except (ValueError, TypeError) as error:
                    raise InputError(f"{key} could not be made a tensor ({error}); pass equal-length rows, "
                                     "e.g. tokenizer(..., padding=True, return_tensors='tf')") from None
        arguments["extra"] = extra
        return arguments

    # -- training: the model's own loss unless a loss was compiled -----------------------------------------------

    def compile(self, *args: Any, jit_compile: Any = False, **kwargs: Any) -> None:
        """Keras' `compile`, with XLA off unless asked for (as the reference's TF classes under Keras 2): on CPU,
        compiling the training step with XLA takes longer than a short fine-tuning run."""
        super().compile(*args, jit_compile=jit_compile, **kwargs)

    def predictions(self, output: Any) -> Any:
        """What a compiled loss or metric compares with `y`: the logits (start and end logits for QA)."""
        if getattr(output, "start_logits", None) is not None:
            return (output.start_logits, output.end_logits)
        return output.logits if hasattr(output, "logits") else output.last_hidden_state

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if getattr(self, "loss", None) is None:
            if y is not None:
                # as the reference's TF classes: with no compiled loss, y is taken as the labels
                inputs = dict(x) if isinstance(x, Mapping) else {"input_ids": x}
                inputs.update(y if isinstance(y, Mapping) else {"labels": y})
                y_pred = self(inputs, training=training)
            if getattr(y_pred, "loss", None) is None:
                raise InputError(f"{type(self).__name__} has no loss to train on: put 'labels' in the inputs (or "
                                 "pass them as y), or compile(loss=...)")
            return keras.ops.mean(y_pred.loss)
        return super().compute_loss(x=x, y=y, y_pred=self.predictions(y_pred), sample_weight=sample_weight,
                                    training=training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if y is None and isinstance(x, Mapping) and "labels" in x:
            y = x["labels"]
        return super().compute_metrics(x, y, self.predictions(y_pred), sample_weight=sample_weight)

    def predict_step(self, data):
        inputs, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return dict(self(inputs, training=False).items())

    # -- conveniences --------------------------------------------------------------------------------------------

    @property
    def is_base_model(self) -> bool:
        return self.pytorch_class_name == "DistilBertModel"

    def checkpoint_variables(self) -> dict[str, tuple[Any, bool]]:
        """Checkpoint key -> (variable, transposed?): heads keep the `distilbert.` prefix, the bare model drops it,
        exactly as the PyTorch classes name their state dicts."""
        found = checkpoint_variables(self)
        if self.is_base_model:
            prefix = f"{self.base_model_prefix}."
            found = {key.removeprefix(prefix): value for key, value in found.items()}
        return found

    def state_dict(self) -> dict[str, np.ndarray]:
        """The weights as numpy arrays in the PyTorch layout, under the PyTorch state-dict keys."""
        return {key: np.ascontiguousarray(keras.ops.convert_to_numpy(variable).T if transposed
                                          else keras.ops.convert_to_numpy(variable))
                for key, (variable, transposed) in self.checkpoint_variables().items()}

    def num_parameters(self) -> int:
        return sum(int(np.prod(variable.shape)) for variable, _ in self.checkpoint_variables().values())

    # -- saving --------------------------------------------------------------------------------------------------

    def save_pretrained(self, save_directory: str | os.PathLike, *, max_shard_size: int | str = "50GB",
                        safe_serialization: bool = True) -> None:
        """Write config.json and model.safetensors (sharded above `max_shard_size`) with the PyTorch classes'
        keys and layouts, so `DistilBert*.from_pretrained` (ours or the reference's) loads the folder."""
        import torch

        directory = prepare_save_directory(save_directory, safe_serialization=safe_serialization,
                                           formats="no pickle, no Keras HDF5")
        state = {key: torch.from_numpy(value) for key, value in self.state_dict().items()}
        save_state_dict(state, directory, max_shard_size=max_shard_size)
        self.config.architectures = [self.pytorch_class_name]
        self.config.dtype = "float32"
        self.config.save_pretrained(directory)

    # -- loading -------------------------------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: PretrainedConfig, **kwargs: Any) -> TFPreTrainedModel:
        return cls(config, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *,
                        config: PretrainedConfig | str | os.PathLike | None = None, from_pt: bool = True,
                        cache_dir: Any = None, revision: str | None = None, local_files_only: bool = False,
                        token: Any = None, ignore_mismatched_sizes: bool = False, strict: bool = True,
                        output_loading_info: bool = False, **config_kwargs: Any):
        """Load `model.safetensors` (or its shards) — the very files the PyTorch classes write, so `from_pt=True`
        is accepted and changes nothing — or else a legacy `tf_model.h5`. Config-field keywords override the
        config (`num_labels=10` gives a fresh, reported head)."""
        hub_kwargs = dict(cache_dir=cache_dir, revision=revision, local_files_only=local_files_only, token=token)
        config = load_model_config(cls.config_class, pretrained_model_name_or_path, config, config_kwargs,
                                   caller=f"{cls.__name__}.from_pretrained", **hub_kwargs)
        state = read_weights(pretrained_model_name_or_path, hub_kwargs)
        model = cls(config)
        report = model.load_state(state, strict=strict, ignore_mismatched_sizes=ignore_mismatched_sizes,
                                  source=str(pretrained_model_name_or_path))
        model.config.name_or_path = str(pretrained_model_name_or_path)
        if output_loading_info:
            return model, report.loading_info()
        return model

    def load_state(self, state: dict[str, np.ndarray], *, strict: bool = True,
                   ignore_mismatched_sizes: bool = False, source: str = "the checkpoint") -> LoadReport:
        """Assign a PyTorch-layout state dict to the variables, by the same rules as the PyTorch classes."""
        variables = self.checkpoint_variables()
        state = normalize_checkpoint_keys(state, set(variables), self.base_model_prefix)
        tied = getattr(self.config, "tie_word_embeddings", True) and "vocab_projector.bias" in variables
        if tied and "vocab_projector.weight" in state:
            embeddings = state.get("distilbert.embeddings.word_embeddings.weight")
            if embeddings is not None and not np.array_equal(embeddings, state["vocab_projector.weight"]):
                logger.warning("%s: vocab_projector.weight differs from the word embeddings, but this model ties "
                               "them (tie_word_embeddings=True); the word embeddings are used", source)
            del state["vocab_projector.weight"]

        shapes = {key: tuple(variable.shape[::-1] if transposed else variable.shape)
                  for key, (variable, transposed) in variables.items()}
        prefix = f"{self.base_model_prefix}."
        report = compare_checkpoint_keys({key: tuple(value.shape) for key, value in state.items()}, shapes,
                                         is_encoder=lambda key: self.is_base_model or key.startswith(prefix),
                                         strict=strict, ignore_mismatched_sizes=ignore_mismatched_sizes,
                                         source=source)

        # keep the initial values built in __init__
        fresh = set(report.missing) | {key for key, _, _ in report.mismatched}
        for key, (variable, transposed) in variables.items():
            if key not in fresh:
                value = np.asarray(state[key], dtype=variable.dtype)
                variable.assign(value.T if transposed else value)

        report.log(logger, source, type(self).__name__)
        self.load_report = report
        return report

    def align_prefix(self, state: dict[str, np.ndarray], model_keys: set[str]) -> dict[str, np.ndarray]:
        """Add or strip the base-model prefix so base checkpoints load into heads and the reverse."""
        return align_prefix(state, model_keys, self.base_model_prefix)


def read_weights(name_or_path: str | os.PathLike, hub_kwargs: dict[str, Any]) -> dict[str, np.ndarray]:
    """A checkpoint's weights as float32/int numpy arrays under PyTorch keys: safetensors first (validated by
    `checkpoint.load_state_dict`), else `tf_model.h5` (or its shards), never pickle."""
    try:
        files = find_weight_files(name_or_path, **hub_kwargs)
    except CheckpointError:
        h5_files = find_tf_weight_files(name_or_path, **hub_kwargs)
        if h5_files is None:
            raise
        return load_tf_weights(h5_files)
    state = load_state_dict(files)
    return {key: (tensor.float() if tensor.is_floating_point() else tensor).numpy() for key, tensor in state.items()}
