"""Auto classes for preprocessors: the class comes from the type name recorded in the saved files.

The registries are closed and keyed by the names the reference writes (`image_processor_type`,
`feature_extractor_type`, `processor_class`): a file can only name a registered type — never a module or class
path to import. `register(type_name, cls)` is how a user plugs in their own class. A file that records no type
falls back to the model's `config.json` `model_type` (vit, wav2vec2), as the reference does.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from ..errors import ConfigError
from .audio import Wav2Vec2FeatureExtractor
from .base import (
    PREPROCESSOR_CONFIG_NAME,
    PROCESSOR_CONFIG_NAME,
    load_preprocessor_dict,
    read_json_object,
    resolve,
    split_hub_kwargs,
)
from .ctc import TOKENIZER_CONFIG_FILE
from .image import ViTImageProcessor
from .processor import Wav2Vec2Processor


def _model_type(name_or_path: str | os.PathLike, hub_kwargs: dict[str, Any]) -> str | None:
    if os.path.isfile(os.fspath(name_or_path)):
        return None
    config_file = resolve(name_or_path, "config.json", hub_kwargs, required=False)
    return read_json_object(config_file, "model config").get("model_type") if config_file else None


class _AutoRegistry:
    """type name (as saved in the files) -> class; one closed registry per subclass."""

    _registry: ClassVar[dict[str, type]] = {}
    _model_type_defaults: ClassVar[dict[str, str]] = {}
    _what: ClassVar[str] = ""

    def __init__(self) -> None:
        raise TypeError(
            f"{type(self).__name__} is not instantiated; use {type(self).__name__}.from_pretrained(...)"
        )

    @classmethod
    def register(cls, type_name: str, processor_class: type, exist_ok: bool = False) -> None:
        """Map `type_name` (the name saved in the files) to `processor_class` (with a `from_pretrained`)."""
        if not isinstance(type_name, str) or not type_name:
            raise ConfigError(
                f"type_name={type_name!r} must be a non-empty string (the name saved in the files)."
            )
        if not (
            isinstance(processor_class, type) and callable(getattr(processor_class, "from_pretrained", None))
        ):
            raise ConfigError(f"{processor_class!r} must be a class with a from_pretrained classmethod.")
        registered = cls._registry.get(type_name)
        if registered is not None and registered is not processor_class and not exist_ok:
            raise ConfigError(
                f"{type_name!r} is already registered in {cls.__name__} (to {registered.__name__}); "
                "pass exist_ok=True to replace it."
            )
        cls._registry[type_name] = processor_class

    @classmethod
    def class_for(cls, type_name: Any, source: str) -> type:
        if type_name not in cls._registry:
            raise ConfigError(
                f"{source} names the {cls._what} {type_name!r}, which is not registered (known: "
                f"{', '.join(sorted(cls._registry))}). Register your class with "
                f"{cls.__name__}.register({type_name!r}, YourClass); files never choose code to import."
            )
        return cls._registry[type_name]

    @classmethod
    def _default_for_model(
        cls, name_or_path: str | os.PathLike, hub_kwargs: dict[str, Any], source: str
    ) -> type:
        model_type = _model_type(name_or_path, hub_kwargs)
        if model_type not in cls._model_type_defaults:
            raise ConfigError(
                f"{source} records no {cls._what} type and the model's config.json does not name a "
                f"model_type with a default one (model_type={model_type!r}; known: "
                f"{', '.join(sorted(cls._model_type_defaults))}). Load it with the class directly."
            )
        return cls._registry[cls._model_type_defaults[model_type]]


class _AutoPreprocessor(_AutoRegistry):
    _type_keys: ClassVar[tuple[str, ...]] = ()
    _nested_key: ClassVar[str] = ""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> Any:
        """Load with the class registered for the saved type name; kwargs go to its `from_pretrained`."""
        hub_kwargs, _ = split_hub_kwargs(kwargs)
        data = load_preprocessor_dict(pretrained_model_name_or_path, cls._nested_key, hub_kwargs)
        source = f"The preprocessor config of '{pretrained_model_name_or_path}'"
        type_name = next((data[key] for key in cls._type_keys if data.get(key) is not None), None)
        if type_name is None:
            processor_class = cls._default_for_model(pretrained_model_name_or_path, hub_kwargs, source)
        else:
            processor_class = cls.class_for(type_name, source)
        return processor_class.from_pretrained(pretrained_model_name_or_path, **kwargs)


class AutoImageProcessor(_AutoPreprocessor):
    """The image processor saved with a checkpoint, by its `image_processor_type` (or a legacy
    `feature_extractor_type`; without either, by the model's `model_type`).

    >>> import numpy as np
    >>> from distilkit import AutoImageProcessor, ViTImageProcessor
    >>> files = ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained("my-vit")
    >>> processor = AutoImageProcessor.from_pretrained("my-vit")
    >>> type(processor).__name__
    'ViTImageProcessor'
    >>> image = np.zeros((40, 60, 3), dtype=np.uint8)   # height, width, RGB
    >>> processor(image, return_tensors="pt")["pixel_values"].shape   # resized and normalised
    torch.Size([1, 3, 32, 32])
    """

    _registry: ClassVar[dict[str, type]] = {
        name: ViTImageProcessor
        # The reference's fast/PIL variants and its older name all describe the same processing.
        for name in (
            "ViTImageProcessor",
            "ViTImageProcessorFast",
            "ViTImageProcessorPil",
            "ViTFeatureExtractor",
        )
    }
    _model_type_defaults: ClassVar[dict[str, str]] = {"vit": "ViTImageProcessor"}
    _type_keys: ClassVar[tuple[str, ...]] = ("image_processor_type", "feature_extractor_type")
    _nested_key: ClassVar[str] = "image_processor"
    _what: ClassVar[str] = "image processor"


class AutoFeatureExtractor(_AutoPreprocessor):
    """The audio feature extractor saved with a checkpoint, by its `feature_extractor_type` (without one, by the
    model's `model_type`).

    >>> import numpy as np
    >>> from distilkit import AutoFeatureExtractor, Wav2Vec2FeatureExtractor
    >>> files = Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained("my-speech")
    >>> extractor = AutoFeatureExtractor.from_pretrained("my-speech")
    >>> type(extractor).__name__
    'Wav2Vec2FeatureExtractor'
    >>> waves = [np.ones(16000), np.zeros(8000)]   # 1 s and 0.5 s at 16 kHz
    >>> batch = extractor(waves, sampling_rate=16000, padding=True, return_tensors="pt")
    >>> batch["input_values"].shape, batch["attention_mask"].sum(-1).tolist()
    (torch.Size([2, 16000]), [16000, 8000])
    """

    _registry: ClassVar[dict[str, type]] = {"Wav2Vec2FeatureExtractor": Wav2Vec2FeatureExtractor}
    _model_type_defaults: ClassVar[dict[str, str]] = {"wav2vec2": "Wav2Vec2FeatureExtractor"}
    _type_keys: ClassVar[tuple[str, ...]] = ("feature_extractor_type",)
    _nested_key: ClassVar[str] = "feature_extractor"
    _what: ClassVar[str] = "feature extractor"


class AutoProcessor(_AutoRegistry):
    """The processor saved with a checkpoint, by its `processor_class` (e.g. a `Wav2Vec2Processor`: feature
    extractor + tokenizer); without one, the image processor or feature extractor alone.

    >>> import numpy as np
    >>> from distilkit import AutoProcessor, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2Processor
    >>> vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "H": 5, "I": 6}
    >>> processor = Wav2Vec2Processor(Wav2Vec2FeatureExtractor(), Wav2Vec2CTCTokenizer(vocab=vocab))
    >>> files = processor.save_pretrained("my-asr")
    >>> loaded = AutoProcessor.from_pretrained("my-asr")
    >>> type(loaded).__name__
    'Wav2Vec2Processor'
    >>> batch = loaded(audio=[np.ones(3200)], text=["HI HI"], sampling_rate=16000, return_tensors="pt")
    >>> sorted(batch), batch["labels"].tolist()   # the text's ids come back as CTC labels
    (['input_values', 'labels'], [[5, 6, 4, 5, 6]])
    """

    _registry: ClassVar[dict[str, type]] = {"Wav2Vec2Processor": Wav2Vec2Processor}
    _model_type_defaults: ClassVar[dict[str, str]] = {"wav2vec2": "Wav2Vec2Processor"}
    _what: ClassVar[str] = "processor"

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> Any:
        """Look for `processor_class` in processor_config.json, preprocessor_config.json and
        tokenizer_config.json (the reference's order); else load the image processor or feature extractor."""
        hub_kwargs, _ = split_hub_kwargs(kwargs)
        name = pretrained_model_name_or_path
        preprocessor_data: dict[str, Any] = {}
        for filename in (PROCESSOR_CONFIG_NAME, PREPROCESSOR_CONFIG_NAME, TOKENIZER_CONFIG_FILE):
            path = (
                None
                if os.path.isfile(os.fspath(name))
                else resolve(name, filename, hub_kwargs, required=False)
            )
            if path is None:
                continue
            data = read_json_object(path, filename.removesuffix(".json").replace("_", " "))
            if filename == PREPROCESSOR_CONFIG_NAME:
                preprocessor_data = data
            if data.get("processor_class") is not None:
                return cls.class_for(data["processor_class"], f"'{path}'").from_pretrained(name, **kwargs)
        types = [preprocessor_data.get(key) for key in ("image_processor_type", "feature_extractor_type")]
        for auto_class in (AutoImageProcessor, AutoFeatureExtractor):
            if any(type_name in auto_class._registry for type_name in types):
                return auto_class.from_pretrained(name, **kwargs)
        return cls._default_for_model(name, hub_kwargs, f"'{name}'").from_pretrained(name, **kwargs)
