"""Auto classes: pick the config, model or tokenizer class from a checkpoint's `model_type`.

The registries are closed: a class gets in only through `register(...)` in Python code, and a config file can only
name a registered `model_type` — never a module, class path or URL to import (the reference's `auto_map` /
`trust_remote_code` route does not exist here). Registering a new type is how a user plugs in their own model:

    AutoConfig.register("my-distil", MyConfig)
    AutoModelForSequenceClassification.register(MyConfig, MyModelForSequenceClassification)
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from .configuration import DistilBertConfig, PretrainedConfig, load_config_dict, resolve_config_file
from .errors import ConfigError
from .model_registry import AutoModelRegistry, hub_kwargs_of
from .modeling import (
    DistilBertForMaskedLM,
    DistilBertForMultipleChoice,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
    PreTrainedModel,
)


class AutoConfig:
    """`model_type` -> config class."""

    _registry: ClassVar[dict[str, type[PretrainedConfig]]] = {"distilbert": DistilBertConfig}

    def __init__(self) -> None:
        raise TypeError("AutoConfig is not instantiated; use AutoConfig.from_pretrained(...) or for_model(...)")

    @classmethod
    def register(cls, model_type: str, config_class: type[PretrainedConfig], exist_ok: bool = False) -> None:
        if not (isinstance(config_class, type) and issubclass(config_class, PretrainedConfig)):
            raise ConfigError(f"{config_class!r} is not a PretrainedConfig subclass")
        if config_class.model_type != model_type:
            raise ConfigError(f"{config_class.__name__}.model_type is {config_class.model_type!r}; it must equal "
                              f"the registered name {model_type!r}")
        if model_type in cls._registry and not exist_ok:
            raise ConfigError(f"model_type {model_type!r} is already registered (to "
                              f"{cls._registry[model_type].__name__}); pass exist_ok=True to replace it")
        cls._registry[model_type] = config_class

    @classmethod
    def config_class_for(cls, model_type: Any, source: str = "") -> type[PretrainedConfig]:
        if model_type is None:
            raise ConfigError(f"{source or 'the config'} has no 'model_type'; add e.g. \"model_type\": "
                              "\"distilbert\" or load it with the model's own config class")
        if model_type not in cls._registry:
            raise ConfigError(f"{source or 'the config'} has model_type={model_type!r}, which is not registered "
                              f"(known: {', '.join(sorted(cls._registry))}); register it with "
                              "AutoConfig.register(model_type, ConfigClass)")
        return cls._registry[model_type]

    @classmethod
    def for_model(cls, model_type: str, **kwargs: Any) -> PretrainedConfig:
        return cls.config_class_for(model_type)(**kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> PretrainedConfig:
        path = resolve_config_file(pretrained_model_name_or_path, **hub_kwargs_of(kwargs))
        data = load_config_dict(path)
        config_class = cls.config_class_for(data.get("model_type"), str(path))
        return config_class.from_pretrained(path, **kwargs)


class _AutoModelBase(AutoModelRegistry):
    """config class -> PyTorch model class, one registry per task (`model_registry.py` holds the rules); a
    config file's `model_type` goes through `AutoConfig`."""

    model_base = PreTrainedModel
    _registry: ClassVar[dict[type[PretrainedConfig], type[PreTrainedModel]]] = {}

    @classmethod
    def model_class_for_type(cls, model_type: Any, source: str) -> type[PreTrainedModel]:
        return cls.model_class_for(AutoConfig.config_class_for(model_type, source))


def registered_model_classes() -> dict[str, type[PreTrainedModel]]:
    """Class name -> model class, over every Auto model registry (what a config's `architectures` may name)."""
    return {model_class.__name__: model_class
            for auto_class in _AutoModelBase.__subclasses__()
            for model_class in auto_class._registry.values()}


class AutoModel(_AutoModelBase):
    _registry = {DistilBertConfig: DistilBertModel}


class AutoModelForMaskedLM(_AutoModelBase):
    _registry = {DistilBertConfig: DistilBertForMaskedLM}


class AutoModelForPreTraining(_AutoModelBase):
    _registry = {DistilBertConfig: DistilBertForMaskedLM}


class AutoModelForSequenceClassification(_AutoModelBase):
    _registry = {DistilBertConfig: DistilBertForSequenceClassification}


class AutoModelForTokenClassification(_AutoModelBase):
    _registry = {DistilBertConfig: DistilBertForTokenClassification}


class AutoModelForQuestionAnswering(_AutoModelBase):
    _registry = {DistilBertConfig: DistilBertForQuestionAnswering}


class AutoModelForMultipleChoice(_AutoModelBase):
    _registry = {DistilBertConfig: DistilBertForMultipleChoice}


class AutoTokenizer:
    """Tokenizer class from `tokenizer_config.json`'s `tokenizer_class` (a closed table of names) or, failing that,
    from the model's `model_type`. The fast tokenizer is the default; `use_fast=False` gives the pure-Python one.

    One deliberate difference: for `model_type="distilbert"` the reference picks `BertTokenizer`, which returns
    `token_type_ids` the model ignores; we pick `DistilBertTokenizerFast` (inputs `input_ids`, `attention_mask`).
    """

    # model_type -> (slow class, fast class); filled lazily so this module does not import the tokenizers eagerly
    _registry: ClassVar[dict[str, tuple[type | None, type | None]]] = {}

    def __init__(self) -> None:
        raise TypeError("AutoTokenizer is not instantiated; use AutoTokenizer.from_pretrained(...)")

    @classmethod
    def _defaults(cls) -> None:
        if "distilbert" not in cls._registry:
            from .tokenization import DistilBertTokenizer, DistilBertTokenizerFast

            cls._registry["distilbert"] = (DistilBertTokenizer, DistilBertTokenizerFast)

    @classmethod
    def _by_name(cls) -> dict[str, tuple[type | None, type | None]]:
        cls._defaults()
        slow, fast = cls._registry["distilbert"]
        names = {"DistilBertTokenizer": (slow, fast), "DistilBertTokenizerFast": (slow, fast),
                 "BertTokenizer": (slow, fast), "BertTokenizerFast": (slow, fast)}
        for pair in cls._registry.values():
            for tokenizer_class in pair:
                if tokenizer_class is not None:
                    names.setdefault(tokenizer_class.__name__, pair)
        return names

    @classmethod
    def register(cls, config_class: type[PretrainedConfig], slow_tokenizer_class: type | None = None,
                 fast_tokenizer_class: type | None = None, exist_ok: bool = False, *,
                 tokenizer_class: type | None = None) -> None:
        cls._defaults()
        if tokenizer_class is not None:  # the reference's shorthand for a single class
            fast_tokenizer_class = fast_tokenizer_class or tokenizer_class
        if slow_tokenizer_class is None and fast_tokenizer_class is None:
            raise ConfigError("AutoTokenizer.register needs a tokenizer class")
        model_type = config_class.model_type
        if model_type in cls._registry and not exist_ok:
            raise ConfigError(f"model_type {model_type!r} already has a tokenizer; pass exist_ok=True to replace it")
        cls._registry[model_type] = (slow_tokenizer_class, fast_tokenizer_class)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *, use_fast: bool = True,
                        **kwargs: Any):
        from .hub import resolve_file

        hub = hub_kwargs_of(kwargs)
        pair = None
        tokenizer_config = resolve_file(pretrained_model_name_or_path, "tokenizer_config.json", required=False,
                                        **hub)
        if tokenizer_config is not None:
            name = load_config_dict(tokenizer_config).get("tokenizer_class")
            if name is not None:
                pair = cls._by_name().get(name)
                if pair is None:
                    raise ConfigError(f"{tokenizer_config} names tokenizer_class={name!r}, which is not registered "
                                      f"(known: {', '.join(sorted(cls._by_name()))})")
        if pair is None:
            cls._defaults()
            config_file = resolve_file(pretrained_model_name_or_path, "config.json", required=False, **hub)
            model_type = load_config_dict(config_file).get("model_type") if config_file else None
            if model_type is not None and model_type not in cls._registry:  # as AutoConfig does: no silent fallback
                raise ConfigError(f"{config_file} has model_type={model_type!r}, which has no registered tokenizer "
                                  f"(known: {', '.join(sorted(cls._registry))}); register one with "
                                  "AutoTokenizer.register(ConfigClass, TokenizerClass), or name the class in "
                                  "tokenizer_config.json's tokenizer_class")
            pair = cls._registry[model_type or "distilbert"]
        slow, fast = pair
        tokenizer_class = (fast or slow) if use_fast else (slow or fast)
        return tokenizer_class.from_pretrained(pretrained_model_name_or_path, **kwargs)

