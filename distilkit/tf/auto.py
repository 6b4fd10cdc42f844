"""TFAutoModel and TFAutoModelFor*: pick the Keras class from a checkpoint's `model_type`, with the same closed
registries as the PyTorch Auto classes: a config file can only name the `model_type` of a config class registered
here (with its Keras model), never code to import.

    TFAutoModelForSequenceClassification.from_pretrained("my-model")     # a folder the PyTorch side saved
    TFAutoModelForSequenceClassification.register(MyConfig, TFMyClassifier)
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..configuration import DistilBertConfig, PretrainedConfig
from ..errors import ConfigError
from ..model_registry import AutoModelRegistry
from .distilbert import (
    TFDistilBertForMaskedLM,
    TFDistilBertForMultipleChoice,
    TFDistilBertForQuestionAnswering,
    TFDistilBertForSequenceClassification,
    TFDistilBertForTokenClassification,
    TFDistilBertModel,
)
from .pretrained import TFPreTrainedModel


class _TFAutoModelBase(AutoModelRegistry):
    """config class -> Keras model class, one registry per task (`model_registry.py` holds the rules); a config
    file's `model_type` must be that of a config class registered here."""

    model_base = TFPreTrainedModel
    _registry: ClassVar[dict[type[PretrainedConfig], type[TFPreTrainedModel]]] = {}

    @classmethod
    def model_class_for_type(cls, model_type: Any, source: str) -> type[TFPreTrainedModel]:
        by_type = {config_class.model_type: model_class for config_class, model_class in cls._registry.items()}
        if model_type not in by_type:
            raise ConfigError(f"{source} has model_type={model_type!r}, for which {cls.__name__} has no model "
                              f"(known: {', '.join(sorted(by_type))}); register one with "
                              f"{cls.__name__}.register(ConfigClass, TFModelClass)")
        return by_type[model_type]


class TFAutoModel(_TFAutoModelBase):
    _registry = {DistilBertConfig: TFDistilBertModel}


class TFAutoModelForMaskedLM(_TFAutoModelBase):
    _registry = {DistilBertConfig: TFDistilBertForMaskedLM}


class TFAutoModelForPreTraining(_TFAutoModelBase):
    _registry = {DistilBertConfig: TFDistilBertForMaskedLM}


class TFAutoModelForSequenceClassification(_TFAutoModelBase):
    _registry = {DistilBertConfig: TFDistilBertForSequenceClassification}


class TFAutoModelForTokenClassification(_TFAutoModelBase):
    _registry = {DistilBertConfig: TFDistilBertForTokenClassification}


class TFAutoModelForQuestionAnswering(_TFAutoModelBase):
    _registry = {DistilBertConfig: TFDistilBertForQuestionAnswering}


class TFAutoModelForMultipleChoice(_TFAutoModelBase):
    _registry = {DistilBertConfig: TFDistilBertForMultipleChoice}
