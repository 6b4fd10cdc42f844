"""Keras models behind `pipeline(...)`: an adapter that presents a TF model as the `nn.Module` the pipeline
engine drives (`model(**inputs)` returning outputs of torch tensors, `.config`, `.eval()`, `.to()`), so every
task runs its own pre- and post-processing unchanged and gives the same results as on the PyTorch model.

    pipeline("sentiment-analysis", model=tf_model, tokenizer=tokenizer)
    pipeline("sentiment-analysis", model="my-model", framework="tf")   # loaded with the TFAutoModel* class
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from ..modeling import outputs as torch_outputs


def is_keras_model(model: Any) -> bool:
    """True for a Keras model; never imports Keras (a model of it exists only if Keras is already loaded)."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, keras.Model)


def tf_model_class_for(model_class: Any) -> Any:
    """The TFAutoModel* class of a task's PyTorch Auto class (the one `pipeline(..., framework="tf")` loads)."""
    from . import auto as tf_auto

    name = "TF" + getattr(model_class, "__name__", "")
    twin = getattr(tf_auto, name, None) if name.startswith("TFAutoModel") else None
    if twin is None:
        raise InputError(f"framework='tf' has no TensorFlow model class for {model_class!r}; pass a loaded Keras "
                         "model as model=... instead")
    return twin


class KerasModelAdapter(nn.Module):
    """A Keras model seen as a torch module: torch inputs in, the PyTorch output class of torch tensors out."""

    def __init__(self, keras_model: Any) -> None:
        if not is_keras_model(keras_model):
            raise InputError(f"KerasModelAdapter wraps a Keras model, got {type(keras_model).__name__}")
        super().__init__()
        self.keras_model = keras_model
        self.config = getattr(keras_model, "config", None)

    def forward(self, **inputs: Any) -> Any:
        device = next((value.device for value in inputs.values() if isinstance(value, torch.Tensor)), None)
        arrays = {key: value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
                  for key, value in inputs.items()}
        output = self.keras_model(arrays, training=False)
        return self._to_torch(output, device)

    def _to_torch(self, value: Any, device: torch.device | None) -> Any:
        if value is None:
            return None
        if isinstance(value, torch_outputs.ModelOutput):
            twin = getattr(torch_outputs, type(value).__name__.removeprefix("TF"), None)
            fields = {key: self._to_torch(item, device) for key, item in value.items()}
            return twin(**fields) if twin is not None else fields
        if isinstance(value, (tuple, list)):
            return type(value)(self._to_torch(item, device) for item in value)
        import keras

        tensor = torch.from_numpy(np.ascontiguousarray(keras.ops.convert_to_numpy(value)))
        return tensor.to(device) if device is not None else tensor

    def to(self, *args: Any, **kwargs: Any) -> KerasModelAdapter:
        dtypes = [value for value in (*args, kwargs.get("dtype")) if isinstance(value, torch.dtype)]
        if any(dtype != torch.float32 for dtype in dtypes):
            raise InputError(f"a Keras model runs in float32 here; drop dtype={dtypes[0]} from pipeline(...)")
        return super().to(*args, **kwargs)

    def __repr__(self) -> str:
        return f"KerasModelAdapter({type(self.keras_model).__name__})"
