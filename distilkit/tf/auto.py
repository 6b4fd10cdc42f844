"""TFAutoModel and TFAutoModelFor*: pick the Keras class from a checkpoint's `model_type`, with the same closed
registries as the PyTorch Auto classes: a config file can only name the `model_type` of a config class registered
here (with its Keras model), never code to import.

    TFAutoModelForSequenceClassification.from_pretrained("my-model")     # a folder the PyTorch side saved
    TFAutoModelForSequenceClassification.register(MyConfig, TFMyClassifier)
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from ..configuration import DistilBertConfig, PretrainedConfig, load_config_dict, resolve_config_file
from ..constants import HUB_KWARGS
from ..errors import ConfigError
from .distilbert import (
    TFDistilBertForMaskedLM,
    TFDistilBertForMultipleChoice,
    TFDistilBertForQuestionAnswering,
    TFDistilBertForSequenceClassification,
    TFDistilBertForTokenClassification,
    TFDistilBertModel,
)
from .pretrained import TFPreTrainedModel


class _TFAutoModelBase:
    """config class -> Keras model class, one registry per task."""

    _registry: ClassVar[dict[type[PretrainedConfig], type[TFPreTrainedModel]]] = {}

    def __init__(self) -> None:
        raise TypeError(f"{type(self).__name__} is not instantiated; use from_pretrained(...) or from_config(...)")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._registry = dict(cls._registry)  # each task gets its own registry

    @classmethod
    def register(cls, config_class: type[PretrainedConfig], model_class: type[TFPreTrainedModel],
                 exist_ok: bool = False) -> None:
        if not (isinstance(model_class, type) and issubclass(model_class, TFPreTrainedModel)):
            raise ConfigError(f"{model_class!r} is not a TFPreTrainedModel subclass")
        if getattr(model_class, "config_class", None) is not config_class:
            raise ConfigError(f"{model_class.__name__}.config_class must be {config_class.__name__} to register "
                              "it for that config")
        if config_class in cls._registry and not exist_ok:
            raise ConfigError(f"{config_class.__name__} already has a model in {cls.__name__} "
                              f"({cls._registry[config_class].__name__}); pass exist_ok=True to replace it")
        cls._registry[config_class] = model_class

    @classmethod
    def model_class_for(cls, config_class: type[PretrainedConfig]) -> type[TFPreTrainedModel]:
        if config_class not in cls._registry:
            known = ", ".join(sorted(config.model_type for config in cls._registry))
            raise ConfigError(f"{cls.__name__} has no model for {config_class.__name__} (model_type="
                              f"{config_class.model_type!r}); known model types: {known}")
        return cls._registry[config_class]

    @classmethod
    def from_config(cls, config: PretrainedConfig, **kwargs: Any) -> TFPreTrainedModel:
        return cls.model_class_for(type(config)).from_config(config, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *, config: Any = None,
                        **kwargs: Any) -> TFPreTrainedModel:
        if isinstance(config, PretrainedConfig):
            model_class = cls.model_class_for(type(config))
        else:
            hub_kwargs = {key: kwargs[key] for key in HUB_KWARGS if key in kwargs}
            path = resolve_config_file(pretrained_model_name_or_path if config is None else config, **hub_kwargs)
            model_type = load_config_dict(path).get("model_type")
            by_type = {config_class.model_type: model_class for config_class, model_class in cls._registry.items()}
            if model_type not in by_type:
                raise ConfigError(f"{path} has model_type={model_type!r}, for which {cls.__name__} has no model "
                                  f"(known: {', '.join(sorted(by_type))}); register one with "
                                  f"{cls.__name__}.register(ConfigClass, TFModelClass)")
            model_class = by_type[model_type]
        return model_class.from_pretrained(pretrained_model_name_or_path, config=config, **kwargs)


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
