"""The registry and dispatch behind every Auto model class, PyTorch (`auto.py`) and Keras (`tf/auto.py`) alike.

`AutoModelRegistry` maps a config class to a model class, one closed registry per task: a class gets in only
through `register(...)` in Python code, and a checkpoint's config.json only picks among the registered classes
by its `model_type`. A family subclasses it once, naming its model base class (`model_base`) and how a
`model_type` read from a file finds its model (`model_class_for_type`); every task class then subclasses that
and starts from its own copy of the registry. Framework-free: no torch or TensorFlow is imported here.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from .configuration import PretrainedConfig, load_config_dict, resolve_config_file
from .constants import HUB_KWARGS
from .errors import ConfigError


def hub_kwargs_of(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The Hub options (`cache_dir`, `revision`, `local_files_only`, `token`) among a call's keyword arguments."""
    return {key: kwargs[key] for key in HUB_KWARGS if key in kwargs}


class AutoModelRegistry:
    """config class -> model class, one registry per task; `model_base` is the family's model base class."""

    model_base: ClassVar[type] = object
    _registry: ClassVar[dict[type[PretrainedConfig], type]] = {}

    def __init__(self) -> None:
        raise TypeError(f"{type(self).__name__} is not instantiated; use from_pretrained(...) or from_config(...)")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._registry = dict(cls._registry)  # each task gets its own registry

    @classmethod
    def register(cls, config_class: type[PretrainedConfig], model_class: type, exist_ok: bool = False) -> None:
        if not (isinstance(model_class, type) and issubclass(model_class, cls.model_base)):
            raise ConfigError(f"{model_class!r} is not a {cls.model_base.__name__} subclass")
        if getattr(model_class, "config_class", None) is not config_class:
            raise ConfigError(f"{model_class.__name__}.config_class must be {config_class.__name__} to register "
                              "it for that config")
        if config_class in cls._registry and not exist_ok:
            raise ConfigError(f"{config_class.__name__} already has a model in {cls.__name__} "
                              f"({cls._registry[config_class].__name__}); pass exist_ok=True to replace it")
        cls._registry[config_class] = model_class

    @classmethod
    def model_class_for(cls, config_class: type[PretrainedConfig]) -> type:
        if config_class not in cls._registry:
            known = ", ".join(sorted(config.model_type for config in cls._registry))
            raise ConfigError(f"{cls.__name__} has no model for {config_class.__name__} (model_type="
                              f"{config_class.model_type!r}); known model types: {known}")
        return cls._registry[config_class]

    @classmethod
    def model_class_for_type(cls, model_type: Any, source: str) -> type:
        """The model class for a `model_type` read from the config file `source`; each family says how."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: PretrainedConfig, **kwargs: Any) -> Any:
        return cls.model_class_for(type(config)).from_config(config, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *, config: Any = None,
                        **kwargs: Any) -> Any:
        if isinstance(config, PretrainedConfig):
            model_class = cls.model_class_for(type(config))
        else:
            path = resolve_config_file(pretrained_model_name_or_path if config is None else config,
                                       **hub_kwargs_of(kwargs))
            model_class = cls.model_class_for_type(load_config_dict(path).get("model_type"), str(path))
        return model_class.from_pretrained(pretrained_model_name_or_path, config=config, **kwargs)
