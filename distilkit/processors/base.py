"""Shared machinery of the preprocessors: the `BatchFeature` output, JSON files, and
`preprocessor_config.json`.

Follows the reference's file layout: a preprocessor's settings live in `preprocessor_config.json`, or nested
under `"image_processor"` / `"feature_extractor"` in a processor's `processor_config.json` (which wins, as in
the reference). Keys this library does not know are kept and written back, so files round-trip; keys that
would let a file choose code to import are refused.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._io import atomic_save, write_json_atomic
from ..configuration import CODE_SELECTING_KEYS
from ..constants import HUB_KWARGS
from ..errors import CheckpointError, ConfigError, DistilkitError, InputError

logger = logging.getLogger(__name__)

PREPROCESSOR_CONFIG_NAME = "preprocessor_config.json"
PROCESSOR_CONFIG_NAME = "processor_config.json"
# A preprocessor config is a few hundred bytes and a character vocabulary a few kB (a multilingual MMS one a
# few MB); anything far larger is not such a file, and is refused before it is parsed.
MAX_JSON_BYTES = 64 * 2**20
RETURN_TENSORS = (None, "np", "pt")


def split_hub_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split `from_pretrained` keyword arguments into hub options and the rest (constructor overrides)."""
    hub = {key: kwargs[key] for key in HUB_KWARGS if key in kwargs}
    rest = {key: value for key, value in kwargs.items() if key not in HUB_KWARGS}
    return hub, rest


def resolve(
    name_or_path: str | os.PathLike, filename: str, hub_kwargs: dict[str, Any], required: bool = True
) -> Path | None:
    """Local path of `filename` in a model directory or Hub id (through `distilkit.hub`)."""
    from ..hub import resolve_file  # the hub layer pulls in huggingface_hub; only loading needs it

    return resolve_file(name_or_path, filename, required=required, **hub_kwargs)


def read_json(path: str | os.PathLike, what: str, error: type[DistilkitError] = ConfigError) -> Any:
    """Parse a JSON file, turning every failure (size, encoding, syntax) into `error` naming the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise error(
                f"{what} '{path}' is {size} bytes, over the {MAX_JSON_BYTES}-byte limit for such a file; "
                "check that it is the right file."
            )
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as failure:
        raise error(f"{what} '{path}' is not UTF-8 text ({failure}); re-save it as UTF-8 JSON.") from None
    except OSError as failure:
        raise CheckpointError(f"Cannot read {what} '{path}': {failure}.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as failure:
        raise error(f"{what} '{path}' is not valid JSON ({failure}); fix or re-save the file.") from None
    except RecursionError:
        raise error(f"{what} '{path}' is not valid JSON: nested too deeply to be a real file.") from None


def read_json_object(path: str | os.PathLike, what: str, error: type[DistilkitError] = ConfigError) -> dict:
    data = read_json(path, what, error)
    if not isinstance(data, dict):
        raise error(f"{what} '{path}' must hold a JSON object, got a JSON {type(data).__name__}.")
    reject_code_keys(data, f"{what} '{path}'", error)
    return data


def reject_code_keys(data: dict, source: str, error: type[DistilkitError] = ConfigError) -> None:
    """Refuse keys that, in the reference, let a file name code to import: never half-honoured here."""
    for key in CODE_SELECTING_KEYS:
        if key in data:
            raise error(
                f"{source} has the key {key!r}: distilkit never lets a file choose code to import. "
                "Remove the key; the class is chosen from the registered type names only."
            )


def write_json(path: str | os.PathLike, data: Any, ensure_ascii: bool = True) -> Path:
    """Write `data` as sorted, indented JSON atomically (`distilkit._io`)."""
    return write_json_atomic(path, data, ensure_ascii=ensure_ascii)


def prepare_save_directory(save_directory: str | os.PathLike) -> Path:
    directory = Path(save_directory)
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(
            f"save_pretrained needs a directory, but '{directory}' is a file; pass a directory."
        )
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def check_return_tensors(return_tensors: Any) -> None:
    if return_tensors not in RETURN_TENSORS:
        raise InputError(
            f"return_tensors={return_tensors!r} is not supported; use None (lists), 'np' or 'pt'."
        )


def torch_module() -> Any:
    """The torch module if it is already imported (a tensor can only exist then), else None."""
    return sys.modules.get("torch")


def is_torch_tensor(value: Any) -> bool:
    torch = torch_module()
    return torch is not None and isinstance(value, torch.Tensor)


def tensor_to_numpy(value: Any) -> np.ndarray:
    """A torch tensor as a numpy array; bfloat16 (which numpy lacks) is widened exactly to float32."""
    value = value.detach().cpu()
    if value.dtype == torch_module().bfloat16:
        value = value.float()
    return value.numpy()


class BatchFeature(dict):
    """A dict of model inputs with attribute access, as the reference's `BatchFeature` / `BatchEncoding`.

    `convert_to_tensors("np" | "pt")` stacks each list of equal-shaped arrays into one array or tensor.
    """

    def __init__(self, data: dict[str, Any] | None = None, tensor_type: str | None = None) -> None:
        super().__init__(data or {})
        self.convert_to_tensors(tensor_type)

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no key {name!r} (keys: {list(self)})") from None

    def convert_to_tensors(self, tensor_type: str | None = None) -> BatchFeature:
        check_return_tensors(tensor_type)
        if tensor_type is None:
            return self
        for key, value in self.items():
            if is_torch_tensor(value) or (isinstance(value, np.ndarray) and tensor_type == "np"):
                continue
            array = self._stack(key, value)
            if tensor_type == "pt":
                import torch

                self[key] = torch.from_numpy(np.ascontiguousarray(array))
            else:
                self[key] = array
        return self

    @staticmethod
    def _stack(key: str, value: Any) -> np.ndarray:
        if isinstance(value, np.ndarray):
            return value
        rows = [tensor_to_numpy(row) if is_torch_tensor(row) else np.asarray(row) for row in value]
        shapes = {row.shape for row in rows}
        if len(shapes) > 1:
            raise InputError(
                f"Cannot stack '{key}' into one tensor: its entries have different shapes "
                f"{sorted(shapes)}. Pad them to one length (padding=True) or use return_tensors=None."
            )
        return np.stack(rows) if rows else np.asarray(rows)

    def to(self, *args: Any, **kwargs: Any) -> BatchFeature:
        """Move (or cast) every torch tensor, as `tensor.to(...)`; other values are left as they are."""
        for key, value in self.items():
            if is_torch_tensor(value):
                self[key] = value.to(*args, **kwargs)
        return self


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{name}={value!r} must be a bool (true/false).")
    return bool(value)


def check_number(name: str, value: Any, positive: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{name}={value!r} must be a number.")
    if not math.isfinite(value) or (positive and value <= 0):
        raise ConfigError(f"{name}={value!r} must be a finite{' positive' if positive else ''} number.")
    return value


def check_positive_int(name: str, value: Any, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"{name}={value!r} must be a positive integer{' or None' if allow_none else ''}.")
    return int(value)


class Preprocessor:
    """Base of the image processor and the feature extractor: settings, extras, and the JSON round trip.

    Subclasses list their settings in `settings()` and name the JSON key that records their type (`type_key`,
    e.g. `"image_processor_type"`) and the key they nest under in `processor_config.json` (`nested_key`).
    """

    type_key: ClassVar[str] = ""
    nested_key: ClassVar[str] = ""
    # Other names the reference saves for the same processing (its fast / PIL variants).
    aliases: ClassVar[tuple[str, ...]] = ()
    # Keys of the reference's files that say where a file came from, not how to process: dropped on load.
    service_keys: ClassVar[tuple[str, ...]] = (
        "processor_class",
        "image_processor_type",
        "feature_extractor_type",
    )

    def __init__(self) -> None:
        self.extras: dict[str, Any] = {}

    def settings(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def known_keys(cls) -> tuple[str, ...]:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        data = copy.deepcopy(self.extras)
        data.update(copy.deepcopy(self.settings()))
        data[self.type_key] = type(self).__name__
        return data

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @atomic_save()
    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> list[str]:
        """Write `preprocessor_config.json` into `save_directory` (created if needed), atomically; returns the
        paths."""
        directory = prepare_save_directory(save_directory)
        return [str(write_json(directory / PREPROCESSOR_CONFIG_NAME, self.to_dict()))]

    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides: Any):
        """Build from a parsed config; unknown keys are kept and saved back; `overrides` are settings."""
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__}.from_dict needs a dict, got {type(data).__name__}.")
        reject_code_keys(data, f"the {cls.__name__} config")
        unknown = sorted(set(overrides) - set(cls.known_keys()))
        if unknown:
            raise ConfigError(
                f"{cls.__name__} has no setting(s) {unknown}; valid settings: {list(cls.known_keys())}."
            )
        known = {key: data[key] for key in cls.known_keys() if key in data}
        known.update(overrides)
        extras = {
            key: value
            for key, value in data.items()
            if key not in cls.known_keys() and key not in cls.service_keys
        }
        processor = cls(**known)
        processor.extras = cls.check_extras(extras)
        return processor

    @classmethod
    def check_extras(cls, extras: dict[str, Any]) -> dict[str, Any]:
        """Hook for subclasses to refuse extras that would change processing if they were ignored."""
        return extras

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any):
        """Load from a directory, a Hub id, or a path to the JSON file; other kwargs override settings."""
        hub_kwargs, overrides = split_hub_kwargs(kwargs)
        data = load_preprocessor_dict(pretrained_model_name_or_path, cls.nested_key, hub_kwargs)
        saved_type = data.get(cls.type_key)
        if saved_type is not None and saved_type != cls.__name__ and saved_type not in cls.aliases:
            logger.warning("Loading a %s config saved as %r into %s.", cls.type_key, saved_type, cls.__name__)
        return cls.from_dict(data, **overrides)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"


def load_preprocessor_dict(
    name_or_path: str | os.PathLike, nested_key: str, hub_kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The settings of one preprocessor: a JSON file path, else `processor_config.json[nested_key]`, else
    `preprocessor_config.json`, as the reference looks them up."""
    if os.path.isfile(os.fspath(name_or_path)):
        return read_json_object(name_or_path, "preprocessor config")
    processor_file = resolve(name_or_path, PROCESSOR_CONFIG_NAME, hub_kwargs, required=False)
    if processor_file is not None:
        processor_data = read_json_object(processor_file, "processor config")
        nested = processor_data.get(nested_key)
        if nested is not None:
            if not isinstance(nested, dict):
                raise ConfigError(
                    f"'{processor_file}' has {nested_key!r} = {nested!r}; it must be a JSON object."
                )
            reject_code_keys(nested, f"'{processor_file}' [{nested_key!r}]")
            return nested
    preprocessor_file = resolve(name_or_path, PREPROCESSOR_CONFIG_NAME, hub_kwargs, required=True)
    return read_json_object(preprocessor_file, "preprocessor config")
