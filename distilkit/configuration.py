"""Model configuration: a typed, self-validating config that round-trips through `config.json`.

`PretrainedConfig` holds the fields every model shares (labels, output flags, problem type) and the JSON round trip;
`DistilBertConfig` adds DistilBERT's fields with the reference's names and defaults. The file format follows the
reference: all model fields, `model_type`, sorted keys, and base fields only where they differ from their defaults,
so each library loads the other's `config.json`. Unlike the reference, every value is checked at construction
(types, ranges, `dim % n_heads`, `problem_type`) and a config file can never choose code to run.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, ClassVar

from ._io import atomic_save, write_text_atomic
from ._version import __version__
from .constants import DTYPE_NAMES
from .errors import ConfigError
from .limits import check_json_depth, max_json_bytes, max_labels, max_parameters

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")
# Activations a config may name: a closed table, so a config value can never select arbitrary code.
ACTIVATIONS = ("gelu", "relu", "gelu_new", "gelu_pytorch_tanh", "silu", "swish", "tanh")
# Keys that, in other libraries, let a config file choose code to import or an implementation to load.
# A file that carries one is refused rather than half-honoured.
CODE_SELECTING_KEYS = ("auto_map", "trust_remote_code", "custom_pipelines", "_attn_implementation",
                       "_attn_implementation_internal", "attn_implementation")
# Reference keys that only concern text generation; the reference drops them on load and so do we.
GENERATION_KEYS = ("max_length", "min_length", "num_beams", "do_sample", "temperature", "top_k", "top_p",
                   "repetition_penalty", "length_penalty", "no_repeat_ngram_size", "early_stopping",
                   "num_return_sequences", "diversity_penalty", "num_beam_groups", "bad_words_ids",
                   "decoder_start_token_id", "forced_bos_token_id", "forced_eos_token_id")


def _kind(value: Any) -> str:
    return type(value).__name__


def _edit_distance(left: str, right: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent swaps cost 1."""
    previous2: list[int] = []
    previous = list(range(len(right) + 1))
    for row, left_char in enumerate(left, 1):
        current = [row]
        for column, right_char in enumerate(right, 1):
            cost = min(previous[column] + 1, current[column - 1] + 1,
                       previous[column - 1] + (left_char != right_char))
            if row > 1 and column > 1 and left_char == right[column - 2] and left[row - 2] == right_char:
                cost = min(cost, previous2[column - 2] + 1)
            current.append(cost)
        previous2, previous = previous, current
    return previous[-1]


def _close_field(name: str, known: list[str]) -> str | None:
    """The known field `name` is most likely a misspelling of: one edit away, two for names of 13+ characters (so
    real keys of other configs such as `cls_token_id`, two edits from `bos_token_id`, stay extra keys)."""
    lowered = name.lower()
    best, best_distance = None, 99
    for field in known:
        allowed = 2 if len(field) >= 13 else 1
        distance = _edit_distance(lowered, field)
        if distance <= allowed and distance < best_distance:
            best, best_distance = field, distance
    return best


class PretrainedConfig:
    """Fields shared by every model, the label maps, and the JSON round trip.

    Subclasses declare their own fields in `model_fields` (name -> (default, accepted types)) and set `model_type`.
    Unknown keys passed to the constructor (legacy hub keys such as `finetuning_task`) are kept as attributes and
    written back on save.

    `save_pretrained(folder)` writes `config.json`; `from_pretrained(folder or Hub id, **kwargs)` reads it back,
    kwargs overriding its fields. The labels live in `id2label` / `label2id`; `num_labels` follows them (setting
    `num_labels` alone makes names "LABEL_0", "LABEL_1", ...).

    >>> from distilkit import DistilBertConfig, PretrainedConfig
    >>> config = DistilBertConfig(n_layers=2, id2label={0: "negative", 1: "positive"})
    >>> isinstance(config, PretrainedConfig), config.num_labels, config.label2id
    (True, 2, {'negative': 0, 'positive': 1})
    >>> config.save_pretrained("my-config")
    >>> loaded = DistilBertConfig.from_pretrained("my-config", dropout=0.2)   # override one field
    >>> loaded.n_layers, loaded.dropout, loaded.id2label[1]
    (2, 0.2, 'positive')
    >>> loaded.num_labels = 3
    >>> loaded.id2label
    {0: 'LABEL_0', 1: 'LABEL_1', 2: 'LABEL_2'}
    """

    model_type: ClassVar[str] = ""
    attribute_map: ClassVar[dict[str, str]] = {}
    model_fields: ClassVar[dict[str, tuple[Any, tuple[type, ...]]]] = {}
    base_fields: ClassVar[dict[str, tuple[Any, tuple[type, ...]]]] = {
        "output_hidden_states": (False, (bool,)),
        "output_attentions": (False, (bool,)),
        "return_dict": (True, (bool,)),
        "dtype": (None, (str, type(None))),
        "chunk_size_feed_forward": (0, (int,)),
        "is_encoder_decoder": (False, (bool,)),
        "architectures": (None, (list, type(None))),
        "problem_type": (None, (str, type(None))),
        # set by model.quantize("int8"); a loaded config with it rebuilds the int8 layers (modeling/quantization.py)
        "quantization_config": (None, (dict, type(None))),
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs = {self.attribute_map.get(key, key): value for key, value in kwargs.items()}
        for key in CODE_SELECTING_KEYS:
            if key in kwargs:
                raise ConfigError(
                    f"config key {key!r} is not supported: distilkit never lets a config choose code or an "
                    "implementation to load. Remove the key (pass attn_implementation= to from_pretrained instead)."
                )
        if "torch_dtype" in kwargs:  # the reference's older name, read as `dtype`
            kwargs.setdefault("dtype", kwargs.pop("torch_dtype"))
        for key in GENERATION_KEYS:
            kwargs.pop(key, None)
        kwargs.pop("_name_or_path", None)
        id2label = kwargs.pop("id2label", None)
        label2id = kwargs.pop("label2id", None)
        num_labels = kwargs.pop("num_labels", None)

        fields = {**self.base_fields, **self.model_fields}
        for name, (default, _) in fields.items():
            setattr(self, name, kwargs.pop(name, copy.deepcopy(default)))
        self.name_or_path = ""
        known = [*fields, *self.attribute_map, "num_labels", "id2label", "label2id"]
        for name in kwargs:
            match = _close_field(name, known) if isinstance(name, str) else None
            if match is not None:
                raise ConfigError(f"{name}: did you mean {match}? {type(self).__name__} has a field {match!r}; "
                                  f"fix the spelling (other unknown keys are kept as extra attributes)")
        for name, value in kwargs.items():  # unknown keys: kept and written back, as the reference does
            if not isinstance(name, str) or not name.isidentifier():
                raise ConfigError(f"config key {name!r} is not a valid attribute name")
            if hasattr(type(self), name) or name in ("_extra_keys", "name_or_path"):
                raise ConfigError(f"config key {name!r} would replace {type(self).__name__}.{name}, which the "
                                  "config needs; remove the key or rename it")
            object.__setattr__(self, name, value)
        self._extra_keys = sorted(kwargs)

        self._set_labels(id2label, label2id, num_labels)
        self.validate()

    # -- attribute access -------------------------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        name = self.attribute_map.get(name, name)
        fields = {**self.base_fields, **self.model_fields}
        if name in fields:
            value = self._check_type(name, value, fields[name][1])
        elif name == "num_labels":
            self._set_labels(None, None, value)
            return
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: resolve aliases such as `hidden_size` -> `dim`
        aliases = type(self).attribute_map
        if name in aliases:
            return getattr(self, aliases[name])
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    @staticmethod
    def _check_type(name: str, value: Any, accepted: tuple[type, ...]) -> Any:
        if float in accepted and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if int in accepted and isinstance(value, bool) and bool not in accepted:
            raise ConfigError(f"{name}={value!r} must be an int, got a bool")
        if not isinstance(value, accepted):
            names = " or ".join("None" if kind is type(None) else kind.__name__ for kind in accepted)
            raise ConfigError(f"{name}={value!r} must be {names}, got {_kind(value)}")
        return value

    # -- labels -------------------------------------------------------------------------------------------------

    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    def _set_labels(self, id2label: Any, label2id: Any, num_labels: Any) -> None:
        if num_labels is not None and (not isinstance(num_labels, int) or isinstance(num_labels, bool)
                                       or num_labels < 1):
            raise ConfigError(f"num_labels={num_labels!r} must be a positive int")
        # checked before the label tables are built: a hostile num_labels=10**8 would take gigabytes
        allowed = max_labels()
        for name, count in (("num_labels", num_labels), ("id2label", id2label), ("label2id", label2id)):
            if isinstance(count, dict):
                count = len(count)
            if isinstance(count, int) and count > allowed:
                raise ConfigError(f"{name} has {count:,} labels, over the limit of {allowed:,} "
                                  "(DISTILKIT_MAX_LABELS); check the config for a typo, or raise the limit")
        if id2label is not None:
            if not isinstance(id2label, dict):
                raise ConfigError(f"id2label must be a dict of int -> label name, got {_kind(id2label)}")
            try:
                id2label = {int(key): str(value) for key, value in id2label.items()}
            except (TypeError, ValueError) as error:
                raise ConfigError(f"id2label keys must be integers, got {list(id2label)!r}") from error
            if sorted(id2label) != list(range(len(id2label))):
                raise ConfigError(f"id2label keys must be 0..n-1, got {sorted(id2label)}")
            if num_labels is not None and num_labels != len(id2label):
                # the reference's rule: warn, and num_labels wins
                logger.warning("num_labels=%d disagrees with id2label (%d labels); using num_labels",
                               num_labels, len(id2label))
                id2label = None
        if id2label is None:
            count = num_labels if num_labels is not None else 2
            id2label = {index: f"LABEL_{index}" for index in range(count)}
            label2id = None
        if label2id is None or not isinstance(label2id, dict) or len(label2id) != len(id2label):
            label2id = {name: index for index, name in id2label.items()}
        else:
            try:
                label2id = {str(key): int(value) for key, value in label2id.items()}
            except (TypeError, ValueError) as error:
                raise ConfigError(f"label2id values must be integers, got {label2id!r}") from error
        object.__setattr__(self, "id2label", id2label)
        object.__setattr__(self, "label2id", label2id)

    # -- validation ---------------------------------------------------------------------------------------------

    def validate(self) -> None:
        """Check cross-field rules; raises ConfigError naming the field and the fix."""
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ConfigError(f"problem_type={self.problem_type!r} is not one of {', '.join(PROBLEM_TYPES)}")
        if self.problem_type == "single_label_classification" and self.num_labels == 1:
            raise ConfigError("problem_type='single_label_classification' needs num_labels >= 2, got 1; "
                              "use problem_type='regression' for a single output")
        if self.dtype is not None and self.dtype not in DTYPE_NAMES:
            raise ConfigError(f"dtype={self.dtype!r} is not one of {', '.join(DTYPE_NAMES)}")
        if self.chunk_size_feed_forward < 0:
            raise ConfigError(f"chunk_size_feed_forward={self.chunk_size_feed_forward} must be >= 0")

    # -- serialisation ------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Every field, including base fields at their defaults (the reference's `use_diff=False` dump)."""
        fields = {**self.base_fields, **self.model_fields}
        data: dict[str, Any] = {name: copy.deepcopy(getattr(self, name)) for name in fields}
        data.update({name: copy.deepcopy(getattr(self, name)) for name in self._extra_keys})
        data["id2label"] = dict(self.id2label)
        data["label2id"] = dict(self.label2id)
        data["model_type"] = self.model_type
        if not data.get("transformers_version"):
            data.pop("transformers_version", None)
        data["distilkit_version"] = __version__
        return data

    def to_diff_dict(self) -> dict[str, Any]:
        """What goes into config.json: model fields always, base fields only where they differ from defaults."""
        data = self.to_dict()
        for name, (default, _) in self.base_fields.items():
            if data[name] == default:
                del data[name]
        if self.num_labels == 2 and self.id2label == {0: "LABEL_0", 1: "LABEL_1"} \
                and self.label2id == {"LABEL_0": 0, "LABEL_1": 1}:
            del data["id2label"], data["label2id"]
        return data

    def to_json_string(self, use_diff: bool = True) -> str:
        data = self.to_diff_dict() if use_diff else self.to_dict()
        # JSON object keys are strings; id2label is written with "0", "1", ... keys as the reference does
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path: str | os.PathLike, use_diff: bool = True) -> None:
        write_text_atomic(path, self.to_json_string(use_diff=use_diff))

    @atomic_save()
    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """Write `config.json` into `save_directory` (created if needed)."""
        if kwargs:
            raise ConfigError(f"save_pretrained got unsupported arguments {sorted(kwargs)}")
        directory = Path(save_directory)
        if directory.is_file():
            raise ConfigError(f"save_directory={str(directory)!r} is a file; pass a directory")
        directory.mkdir(parents=True, exist_ok=True)
        self.to_json_file(directory / CONFIG_NAME)

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **kwargs: Any) -> PretrainedConfig:
        return_unused = kwargs.pop("return_unused_kwargs", False)
        config = cls(**{key: value for key, value in config_dict.items() if key != "model_type"})
        unused = {}
        for key, value in kwargs.items():
            name = cls.attribute_map.get(key, key)
            if name in cls.base_fields or name in cls.model_fields or name in ("num_labels", "id2label",
                                                                              "label2id") \
                    or name in config._extra_keys:
                if name in ("id2label", "label2id"):
                    current = {"id2label": config.id2label, "label2id": config.label2id, name: value}
                    config._set_labels(current["id2label"], current["label2id"], None)
                else:
                    setattr(config, name, value)
            else:
                unused[key] = value
        config.validate()
        if return_unused:
            return config, unused
        if unused:
            raise ConfigError(f"{cls.__name__} has no fields {sorted(unused)}; check the spelling")
        return config

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> PretrainedConfig:
        return cls.from_dict(load_config_dict(path))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *, cache_dir: Any = None,
                        revision: str | None = None, local_files_only: bool = False, token: Any = None,
                        **kwargs: Any) -> PretrainedConfig:
        """Load from a directory, a `config.json` path, or a Hub id (resolved through the HF cache).

        Keyword arguments override fields: `DistilBertConfig.from_pretrained(path, activation="relu")`.
        """
        path = resolve_config_file(pretrained_model_name_or_path, cache_dir=cache_dir, revision=revision,
                                   local_files_only=local_files_only, token=token)
        data = load_config_dict(path)
        model_type = data.get("model_type")
        if cls.model_type and model_type is not None and model_type != cls.model_type:
            logger.warning("loading a %r config into %s", model_type, cls.__name__)
        result = cls.from_dict(data, **kwargs)
        config = result[0] if isinstance(result, tuple) else result
        config.name_or_path = str(pretrained_model_name_or_path)
        return result

    # -- comparison and display ---------------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PretrainedConfig) and self.to_dict() == other.to_dict()

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"

    def copy(self) -> PretrainedConfig:
        return copy.deepcopy(self)


def resolve_config_file(name_or_path: str | os.PathLike, **hub_kwargs: Any) -> Path:
    """A `config.json` path for a file path, a model directory or a Hub id."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    from .hub import resolve_file

    return resolve_file(name_or_path, CONFIG_NAME, **hub_kwargs)


def load_config_dict(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a config file, with errors that name the file."""
    path = Path(path)
    limit = max_json_bytes()
    try:
        size = path.stat().st_size
        if size > limit:
            raise ConfigError(f"config file {str(path)!r} has {size:,} bytes, over the limit of {limit:,} "
                              "(DISTILKIT_MAX_JSON_BYTES); it is not a real config")
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config file {str(path)!r}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"config file {str(path)!r} is not valid JSON: {error}") from error
    except RecursionError:
        raise ConfigError(f"config file {str(path)!r} nests too deeply to be a real config") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a JSON object, got {_kind(data)}")
    check_json_depth(data, f"config file {str(path)!r}")
    return data



def load_model_config(config_class: type[PretrainedConfig], pretrained_model_name_or_path: str | os.PathLike,
                      config: PretrainedConfig | str | os.PathLike | None, config_kwargs: dict[str, Any], *,
                      caller: str, **hub_kwargs: Any) -> PretrainedConfig:
    """The config a model's `from_pretrained` builds on, for PyTorch and Keras classes alike.

    A config object is copied, `config_kwargs` set on the copy and the result validated; otherwise
    `config_class` is loaded from `config` (a file, folder or Hub id) or, when that is None, from the model's
    own `pretrained_model_name_or_path`, with `config_kwargs` overriding its fields. A keyword that is no field
    raises `ConfigError` naming `caller` (e.g. "DistilBertModel.from_pretrained").
    """
    if isinstance(config, PretrainedConfig):
        config = config.copy()
        for key, value in config_kwargs.items():
            setattr(config, key, value)
        config.validate()
        return config
    source = pretrained_model_name_or_path if config is None else config
    loaded, unused = config_class.from_pretrained(source, return_unused_kwargs=True, **hub_kwargs, **config_kwargs)
    if unused:
        raise ConfigError(f"{caller} got unknown arguments {sorted(unused)}; they are neither loading options nor "
                          f"{config_class.__name__} fields")
    return loaded

class DistilBertConfig(PretrainedConfig):
    """Configuration of a DistilBERT model; fields, defaults and aliases as the reference.

    >>> DistilBertConfig(n_heads=8, dim=512, hidden_dim=4 * 512).hidden_size
    512
    """

    model_type: ClassVar[str] = "distilbert"
    attribute_map: ClassVar[dict[str, str]] = {
        "hidden_size": "dim",
        "num_attention_heads": "n_heads",
        "num_hidden_layers": "n_layers",
    }
    model_fields: ClassVar[dict[str, tuple[Any, tuple[type, ...]]]] = {
        "vocab_size": (30522, (int,)),
        "max_position_embeddings": (512, (int,)),
        "sinusoidal_pos_embds": (False, (bool,)),
        "n_layers": (6, (int,)),
        "n_heads": (12, (int,)),
        "dim": (768, (int,)),
        "hidden_dim": (4 * 768, (int,)),
        "dropout": (0.1, (float,)),
        "attention_dropout": (0.1, (float,)),
        "activation": ("gelu", (str,)),
        "initializer_range": (0.02, (float,)),
        "qa_dropout": (0.1, (float,)),
        "seq_classif_dropout": (0.2, (float,)),
        "pad_token_id": (0, (int, type(None))),
        "bos_token_id": (None, (int, type(None))),
        "eos_token_id": (None, (int, type(None))),
        "tie_word_embeddings": (True, (bool,)),
    }

    def validate(self) -> None:
        super().validate()
        for name in ("vocab_size", "max_position_embeddings", "n_layers", "n_heads", "dim", "hidden_dim"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be a positive int")
        if self.dim % self.n_heads:
            raise ConfigError(f"dim={self.dim} is not divisible by n_heads={self.n_heads}; pick n_heads dividing dim "
                              f"(e.g. n_heads={math.gcd(self.dim, self.n_heads)})")
        if self.sinusoidal_pos_embds and self.dim % 2:
            raise ConfigError(f"sinusoidal_pos_embds=True needs an even dim, got dim={self.dim}")
        for name in ("dropout", "attention_dropout", "qa_dropout", "seq_classif_dropout"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name}={getattr(self, name)} must be a probability in [0, 1]")
        if not 0.0 <= self.initializer_range < math.inf:
            raise ConfigError(f"initializer_range={self.initializer_range} must be a finite number >= 0 "
                              "(the reference uses 0.02)")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation={self.activation!r} is not one of {', '.join(ACTIVATIONS)}")
        if self.pad_token_id is not None and not 0 <= self.pad_token_id < self.vocab_size:
            raise ConfigError(f"pad_token_id={self.pad_token_id} must be in [0, vocab_size={self.vocab_size})")
        parameters = self.largest_model_size()
        allowed = max_parameters()
        if parameters > allowed:
            raise ConfigError(
                f"this config describes a model of up to {parameters:,} parameters (vocab_size={self.vocab_size}, "
                f"max_position_embeddings={self.max_position_embeddings}, dim={self.dim}, hidden_dim="
                f"{self.hidden_dim}, n_layers={self.n_layers}, num_labels={self.num_labels}), over the limit of "
                f"{allowed:,} (DISTILKIT_MAX_PARAMETERS). Check the sizes for a typo, or raise the limit."
            )

    def largest_model_size(self) -> int:
        """Elements of every tensor the largest DistilBERT class built from this config holds, buffers included:
        the encoder plus the bigger of the heads (masked-LM with its own projection when untied, or a classifier
        of `num_labels`)."""
        dim, hidden = self.dim, self.hidden_dim
        embeddings = (self.vocab_size + self.max_position_embeddings) * dim + self.max_position_embeddings + 2 * dim
        block = 4 * (dim * dim + dim) + (dim * hidden + hidden) + (hidden * dim + dim) + 4 * dim
        masked_lm = dim * dim + 3 * dim + self.vocab_size * (1 if self.tie_word_embeddings else dim + 1)
        classifier = dim * dim + dim + self.num_labels * (dim + 1)
        return embeddings + self.n_layers * block + max(masked_lm, classifier)


PreTrainedConfig = PretrainedConfig  # the reference's 5.x spelling
