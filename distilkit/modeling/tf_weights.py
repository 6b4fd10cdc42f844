"""Legacy `tf_model.h5` weights, as the reference's TensorFlow classes wrote them (Keras 2 `save_weights` HDF5),
read as plain arrays with h5py: no Keras model is ever deserialised, so no layer config or Lambda code is touched.

Layout: root attribute `layer_names`, per layer group an attribute `weight_names` (both possibly split into
`name0`, `name1`, ... chunks), each weight a dataset at `group/weight_name`, e.g.
`tf_distil_bert_for_sequence_classification/distilbert/transformer/layer_._0/attention/q_lin/kernel:0`. Names map
to PyTorch keys by the reference's rules (drop the model scope and ":0", `layer_._0` -> `layer.0`, kernel ->
weight transposed, gamma/beta/embeddings -> weight/bias/weight). Refused with a `CheckpointError`: whole-model
files (`model_config`, e.g. with Lambda layers), Keras 3 `.weights.h5` files, links to other files or objects,
virtual or externally stored datasets, non-numeric data, and compressed data that inflates past a sane ratio.
Reads with numpy and h5py only (never TensorFlow), so the PyTorch classes read these files without it; the shard
index is checked by `checkpoint.shards_from_index`, as the safetensors and pickle indexes are.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from .._extras import require
from ..checkpoint import shards_from_index
from ..errors import CheckpointError
from ..hub import resolve_file

TF2_WEIGHTS_NAME = "tf_model.h5"
TF2_WEIGHTS_INDEX_NAME = "tf_model.h5.index.json"
# compressed datasets may not expand beyond this multiple of the file's size (an HDF5 "zip bomb")
_MAX_INFLATION = 64


def find_tf_weight_files(name_or_path: str | os.PathLike, **hub_kwargs: Any) -> list[Path] | None:
    """`tf_model.h5`, or the shards its `tf_model.h5.index.json` lists; None when neither exists."""
    single = resolve_file(name_or_path, TF2_WEIGHTS_NAME, required=False, **hub_kwargs)
    if single is not None:
        return [single]
    index = resolve_file(name_or_path, TF2_WEIGHTS_INDEX_NAME, required=False, **hub_kwargs)
    if index is None:
        return None
    return [resolve_file(name_or_path, shard, **hub_kwargs) for shard in shards_from_index(index, ".h5")]


def load_tf_weights(files: list[Path]) -> dict[str, np.ndarray]:
    """Every weight of the files as numpy arrays under PyTorch keys, in the PyTorch layout (kernels transposed)."""
    merged: dict[str, np.ndarray] = {}
    for path in files:
        for key, array in read_tf_h5(path).items():
            if key in merged:
                raise CheckpointError(f"The weight '{key}' is stored twice (again in '{path}').")
            merged[key] = array
    return merged


def pytorch_key(tf_name: str) -> tuple[str, bool]:
    """A TF weight name -> (PyTorch key, transpose?), the reference's conversion rules.

    >>> pytorch_key("tf_distil_bert_model/distilbert/transformer/layer_._0/ffn/lin1/kernel:0")
    ('distilbert.transformer.layer.0.ffn.lin1.weight', True)
    """
    name = tf_name.removesuffix(":0")
    name = re.sub(r"/[^/]*___([^/]*)/", r"/\1/", name)
    name = re.sub(r"//+", "/", name.replace("_._", "/"))
    parts = name.split("/")
    if len(parts) > 1:
        parts = parts[1:]  # the model's own scope
    transpose = parts[-1] == "kernel"
    parts[-1] = {"kernel": "weight", "gamma": "weight", "embeddings": "weight", "beta": "bias"}.get(parts[-1],
                                                                                                    parts[-1])
    return ".".join(parts), transpose


def read_tf_h5(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """One Keras 2 HDF5 weights file -> {PyTorch key: array}; validated as a whole before any array is read."""
    h5py = require("h5py", "tf", "reading tf_model.h5 weights")
    path = Path(path)

    def fail(cause: str) -> CheckpointError:
        return CheckpointError(f"'{path}' is not a weights file distilkit reads: {cause}.")

    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise fail(f"it is not readable HDF5 ({error})") from None
    with handle:
        attrs = handle.attrs
        if "model_config" in attrs or "model_weights" in handle:
            config = _text(attrs.get("model_config", b""))
            lambdas = " It contains Lambda layers (Python code)." if '"Lambda"' in config else ""
            raise fail("it holds a whole Keras model (architecture and code), not weights only." + lambdas
                       + " distilkit never deserialises Keras models; save the weights with "
                       "save_pretrained (or model.save_weights) and load those")
        layer_names = _names(attrs, "layer_names")
        if layer_names is None:
            raise fail("it has no 'layer_names' attribute (not the Keras 2 save_weights layout the reference's "
                       "TensorFlow classes wrote; a Keras 3 .weights.h5 or another HDF5 file)")
        _check_links(handle, fail)
        file_size = path.stat().st_size
        planned: list[tuple[str, bool, Any]] = []
        for layer in layer_names:
            group = handle.get(layer)
            if not isinstance(group, h5py.Group):
                raise fail(f"layer '{layer}' listed in layer_names has no group")
            for weight in _names(group.attrs, "weight_names") or []:
                dataset = group.get(weight)
                if not isinstance(dataset, h5py.Dataset):
                    raise fail(f"weight '{weight}' of layer '{layer}' is not a dataset")
                if dataset.is_virtual or dataset.external:
                    raise fail(f"weight '{weight}' is stored outside the file (virtual or external dataset)")
                if dataset.dtype.kind not in "fiu" or dataset.dtype.itemsize > 8:
                    raise fail(f"weight '{weight}' holds {dataset.dtype} data, not plain numbers")
                if dataset.compression and dataset.nbytes > _MAX_INFLATION * max(file_size, 1):
                    raise fail(f"weight '{weight}' inflates to {dataset.nbytes} bytes from a {file_size}-byte file")
                key, transpose = pytorch_key(weight)
                planned.append((key, transpose, dataset))
        state: dict[str, np.ndarray] = {}
        for key, transpose, dataset in planned:
            array = np.asarray(dataset[()])
            if array.dtype.kind == "f":
                array = array.astype(np.float32, copy=False)
            array = np.ascontiguousarray(array.T if transpose else array)
            # a tied weight is listed under every layer that uses it (the masked-LM head's word embeddings)
            if key in state and not np.array_equal(state[key], array):
                raise fail(f"two different weights map to the key '{key}'")
            state[key] = array
    return state


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _names(attrs: Any, name: str) -> list[str] | None:
    """A list attribute, joined from its chunks `name0`, `name1`, ... when Keras split it; None if absent."""
    if name in attrs:
        values = list(attrs[name])
    elif f"{name}0" in attrs:
        values, chunk = [], 0
        while f"{name}{chunk}" in attrs:
            values.extend(attrs[f"{name}{chunk}"])
            chunk += 1
    else:
        return None
    return [_text(value) for value in values]


def _check_links(group: Any, fail) -> None:
    """Only hard links inside the file: a soft or external link could point anywhere."""
    h5py = require("h5py", "tf", "reading tf_model.h5 weights")
    for name in group:
        link = group.get(name, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise fail(f"'{group.name}/{name}' is a {type(link).__name__}, not data stored in the file")
        member = group[name]
        if isinstance(member, h5py.Group):
            _check_links(member, fail)
