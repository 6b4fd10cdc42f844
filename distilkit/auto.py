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
    """The config class named by a checkpoint's `model_type` (`DistilBertConfig` for "distilbert").

    `from_pretrained(folder or Hub id, **kwargs)` reads `config.json` (kwargs override its fields);
    `for_model(model_type, **kwargs)` builds a fresh config; `register(model_type, ConfigClass)` adds a type.

    >>> from distilkit import AutoConfig, DistilBertConfig
    >>> config = DistilBertConfig(vocab_size=30, dim=32, n_heads=2, n_layers=1, hidden_dim=64)  # a tiny model
    >>> config.save_pretrained("my-model")
    >>> loaded = AutoConfig.from_pretrained("my-model", dropout=0.2)
    >>> type(loaded).__name__, loaded.dim, loaded.dropout
    ('DistilBertConfig', 32, 0.2)
    >>> AutoConfig.for_model("distilbert", n_layers=2).n_layers
    2
    """

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
    """The bare encoder of a checkpoint (`DistilBertModel` for `model_type="distilbert"`): ids -> hidden states.

    `from_pretrained(folder or Hub id, **kwargs)` reads `config.json`'s `model_type`, picks the registered class
    and loads the weights (kwargs override config fields, e.g. `output_hidden_states=True`); `from_config(config)`
    builds a freshly initialised model instead; `register(ConfigClass, ModelClass)` adds a model type of your own.
    Every `AutoModelFor...` class works the same way for its task.

    >>> import torch
    >>> from distilkit import AutoModel, DistilBertConfig, DistilBertModel
    >>> config = DistilBertConfig(vocab_size=30, dim=32, n_heads=2, n_layers=1, hidden_dim=64)  # a tiny model
    >>> DistilBertModel(config).save_pretrained("my-encoder")
    >>> model = AutoModel.from_pretrained("my-encoder")
    >>> type(model).__name__
    'DistilBertModel'
    >>> model(torch.tensor([[2, 7, 9, 3]])).last_hidden_state.shape   # (batch, tokens, dim)
    torch.Size([1, 4, 32])
    """

    _registry = {DistilBertConfig: DistilBertModel}


class AutoModelForMaskedLM(_AutoModelBase):
    """The masked-language-model head of a checkpoint (`DistilBertForMaskedLM`): a score per vocabulary word per
    token.

    >>> import torch
    >>> from distilkit import AutoModelForMaskedLM, DistilBertConfig
    >>> config = DistilBertConfig(vocab_size=30, dim=32, n_heads=2, n_layers=1, hidden_dim=64)  # a tiny model
    >>> model = AutoModelForMaskedLM.from_config(config)   # fresh weights
    >>> model.save_pretrained("my-mlm")
    >>> reloaded = AutoModelForMaskedLM.from_pretrained("my-mlm")
    >>> reloaded(torch.tensor([[2, 4, 3]])).logits.shape   # (batch, tokens, vocab_size)
    torch.Size([1, 3, 30])
    """

    _registry = {DistilBertConfig: DistilBertForMaskedLM}


class AutoModelForPreTraining(_AutoModelBase):
    """The pretraining head of a checkpoint; for DistilBERT the masked-LM head, as in the reference.

    >>> from distilkit import AutoModelForPreTraining, DistilBertConfig
    >>> config = DistilBertConfig(vocab_size=30, dim=32, n_heads=2, n_layers=1, hidden_dim=64)  # a tiny model
    >>> type(AutoModelForPreTraining.from_config(config)).__name__
    'DistilBertForMaskedLM'
    """

    _registry = {DistilBertConfig: DistilBertForMaskedLM}


class AutoModelForSequenceClassification(_AutoModelBase):
    """A text classifier from a checkpoint (`DistilBertForSequenceClassification`): a score per label per text.

    Loading a bare encoder with `num_labels=` (or `id2label=` and `label2id=`: as in the reference, overriding one
    map does not rebuild the other) gives a freshly initialised head to fine-tune (the log names the new weights);
    loading a fine-tuned classifier restores its head and labels.

    >>> from distilkit import AutoModelForSequenceClassification, DistilBertConfig, DistilBertModel
    >>> config = DistilBertConfig(vocab_size=30, dim=32, n_heads=2, n_layers=1, hidden_dim=64)  # a tiny model
    >>> DistilBertModel(config).save_pretrained("my-encoder")
    >>> id2label = {0: "negative", 1: "neutral", 2: "positive"}
    >>> model = AutoModelForSequenceClassification.from_pretrained(   # a new head to fine-tune
    ...     "my-encoder", id2label=id2label, label2id={name: index for index, name in id2label.items()})
    >>> type(model).__name__, model.config.num_labels, model.config.label2id["positive"]
    ('DistilBertForSequenceClassification', 3, 2)
    >>> model.save_pretrained("my-classifier")
    >>> AutoModelForSequenceClassification.from_pretrained("my-classifier").config.id2label[2]
    'positive'
    """

    _registry = {DistilBertConfig: DistilBertForSequenceClassification}


class AutoModelForTokenClassification(_AutoModelBase):
    """A token tagger from a checkpoint (`DistilBertForTokenClassification`, e.g. named entities): a score per
    label per token.

    >>> import torch
    >>> from distilkit import AutoModelForTokenClassification, DistilBertConfig
    >>> config = DistilBertConfig(vocab_size=30, dim=32, n_heads=2, n_layers=1, hidden_dim=64,
    ...                           id2label={0: "O", 1: "B-PER", 2: "I-PER"})
    >>> AutoModelForTokenClassification.from_config(config).save_pretrained("my-tagger")
    >>> tagger = AutoModelForTokenClassification.from_pretrained("my-tagger")
    >>> tagger(torch.tensor([[2, 11, 12, 3]])).logits.shape   # (batch, tokens, num_labels)
    torch.Size([1, 4, 3])
    """

    _registry = {DistilBertConfig: DistilBertForTokenClassification}


class AutoModelForQuestionAnswering(_AutoModelBase):
    """An extractive question-answering model from a checkpoint (`DistilBertForQuestionAnswering`): a start and
    an end score per token.

    >>> import torch
    >>> from distilkit import AutoModelForQuestionAnswering, DistilBertConfig
    >>> config = DistilBertConfig(vocab_size=30, dim=32, n_heads=2, n_layers=1, hidden_dim=64)  # a tiny model
    >>> AutoModelForQuestionAnswering.from_config(config).save_pretrained("my-reader")
    >>> reader = AutoModelForQuestionAnswering.from_pretrained("my-reader")
    >>> output = reader(torch.tensor([[2, 7, 3, 8, 9, 3]]))   # [CLS] question [SEP] context [SEP]
    >>> output.start_logits.shape, output.end_logits.shape    # (batch, tokens) each
    (torch.Size([1, 6]), torch.Size([1, 6]))
    """

    _registry = {DistilBertConfig: DistilBertForQuestionAnswering}


class AutoModelForMultipleChoice(_AutoModelBase):
    """A multiple-choice model from a checkpoint (`DistilBertForMultipleChoice`): a score per choice.

    >>> import torch
    >>> from distilkit import AutoModelForMultipleChoice, DistilBertConfig
    >>> config = DistilBertConfig(vocab_size=30, dim=32, n_heads=2, n_layers=1, hidden_dim=64)  # a tiny model
    >>> AutoModelForMultipleChoice.from_config(config).save_pretrained("my-chooser")
    >>> chooser = AutoModelForMultipleChoice.from_pretrained("my-chooser")
    >>> input_ids = torch.tensor([[[2, 7, 3, 8, 3], [2, 7, 3, 9, 3]]])   # (batch, choices, tokens)
    >>> chooser(input_ids).logits.shape   # (batch, choices)
    torch.Size([1, 2])
    """

    _registry = {DistilBertConfig: DistilBertForMultipleChoice}


class AutoTokenizer:
    """Tokenizer class from `tokenizer_config.json`'s `tokenizer_class` (a closed table of names) or, failing that,
    from the model's `model_type`. The fast tokenizer is the default; `use_fast=False` gives the pure-Python one.

    One deliberate difference: for `model_type="distilbert"` the reference picks `BertTokenizer`, which returns
    `token_type_ids` the model ignores; we pick `DistilBertTokenizerFast` (inputs `input_ids`, `attention_mask`).

    >>> from distilkit import AutoTokenizer, DistilBertTokenizerFast
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]
    >>> tokenizer = DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(vocab)})
    >>> files = tokenizer.save_pretrained("tok")   # tokenizer.json, tokenizer_config.json, vocab.txt
    >>> tokenizer = AutoTokenizer.from_pretrained("tok")
    >>> type(tokenizer).__name__, tokenizer("Hello world!")["input_ids"]   # lower-cased; "!" is unknown
    ('DistilBertTokenizerFast', [2, 5, 6, 1, 3])
    >>> type(AutoTokenizer.from_pretrained("tok", use_fast=False)).__name__
    'DistilBertTokenizer'
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

