"""Wav2Vec2 processor: one object holding the feature extractor (audio -> `input_values`) and the CTC
tokenizer (text -> `labels`, predicted ids -> text).

Follows the reference's `Wav2Vec2Processor`: `__call__(audio=..., text=...)` returns the feature extractor's
output with the tokenizer's `input_ids` as `labels`, and padding options go to both sides, as in the
reference. Saved as the reference 5.x saves it — `processor_config.json` (the feature extractor's settings
under "feature_extractor" and "processor_class") plus the tokenizer's files — and loaded from that layout or
the older one with `preprocessor_config.json`.
"""

from __future__ import annotations

import logging
import os
from typing import Any, ClassVar

from .._io import atomic_save
from ..errors import ConfigError, InputError
from .audio import Wav2Vec2FeatureExtractor
from .base import (
    PROCESSOR_CONFIG_NAME,
    BatchFeature,
    prepare_save_directory,
    read_json_object,
    resolve,
    split_hub_kwargs,
    write_json,
)
from .ctc import INIT_KEYS, TOKENIZER_CONFIG_FILE, Wav2Vec2CTCTokenizer, Wav2Vec2CTCTokenizerOutput

logger = logging.getLogger(__name__)

# Call options the reference hands to both the feature extractor and the tokenizer.
SHARED_CALL_OPTIONS = (
    "padding",
    "max_length",
    "truncation",
    "pad_to_multiple_of",
    "return_attention_mask",
    "return_tensors",
)


class Wav2Vec2Processor:
    """Feature extractor + CTC tokenizer behind one `__call__`, `batch_decode` and `save_pretrained`.

    >>> batch = processor(audio=[wave_a, wave_b], text=["HELLO", "HI"], sampling_rate=16000, padding=True,
    ...                   return_tensors="pt")  # doctest: +SKIP
    >>> sorted(batch)  # doctest: +SKIP
    ['input_values', 'labels']
    """

    processor_class: ClassVar[str] = "Wav2Vec2Processor"

    def __init__(self, feature_extractor: Wav2Vec2FeatureExtractor, tokenizer: Wav2Vec2CTCTokenizer) -> None:
        if not isinstance(feature_extractor, Wav2Vec2FeatureExtractor):
            raise ConfigError(
                f"feature_extractor must be a Wav2Vec2FeatureExtractor, got "
                f"{type(feature_extractor).__name__}."
            )
        if not isinstance(tokenizer, Wav2Vec2CTCTokenizer):
            raise ConfigError(f"tokenizer must be a Wav2Vec2CTCTokenizer, got {type(tokenizer).__name__}.")
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer

    @property
    def model_input_names(self) -> list[str]:
        return self.feature_extractor.model_input_names + ["labels"]

    def __call__(
        self,
        audio: Any = None,
        text: str | list[str] | None = None,
        *,
        sampling_rate: int | None = None,
        **options: Any,
    ) -> BatchFeature:
        """Featurise audio and/or encode text; with both, the text's ids come back as `labels`.

        `options` are `padding`, `max_length`, `truncation`, `pad_to_multiple_of`, `return_attention_mask` and
        `return_tensors`, applied to both the audio and the text.
        """
        unknown = sorted(set(options) - set(SHARED_CALL_OPTIONS))
        if unknown:
            raise InputError(
                f"Unknown argument(s) {unknown}; valid: audio, text, sampling_rate, "
                f"{', '.join(SHARED_CALL_OPTIONS)}."
            )
        if audio is None and text is None:
            raise InputError("Pass audio= (waveforms) and/or text= (transcriptions) to the processor.")
        inputs = (
            self.feature_extractor(audio, sampling_rate=sampling_rate, **options)
            if audio is not None
            else None
        )
        encodings = self.tokenizer(text, **options) if text is not None else None
        if inputs is None:
            return encodings
        if encodings is not None:
            inputs["labels"] = encodings["input_ids"]
        return inputs

    def pad(self, input_features: Any = None, labels: Any = None, **options: Any) -> BatchFeature:
        """Pad features and/or label ids (as a CTC data collator does); the padded ids become `labels`."""
        if input_features is None and labels is None:
            raise InputError("Pass input_features and/or labels to pad().")
        features = (
            self.feature_extractor.pad(input_features, **options) if input_features is not None else None
        )
        padded_labels = self.tokenizer.pad(labels, **options) if labels is not None else None
        if features is None:
            return padded_labels
        if padded_labels is not None:
            features["labels"] = padded_labels["input_ids"]
        return features

    def batch_decode(self, *args: Any, **kwargs: Any) -> list[str] | Wav2Vec2CTCTokenizerOutput:
        """The tokenizer's `batch_decode`."""
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args: Any, **kwargs: Any) -> str | Wav2Vec2CTCTokenizerOutput:
        """The tokenizer's `decode`."""
        return self.tokenizer.decode(*args, **kwargs)

    @atomic_save(PROCESSOR_CONFIG_NAME)
    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> list[str]:
        """Write `processor_config.json` and the tokenizer's files, as the reference does, all at once."""
        directory = prepare_save_directory(save_directory)
        written = list(self.tokenizer.save_pretrained(directory))
        tokenizer_config = {**self.tokenizer.tokenizer_config(), "processor_class": self.processor_class}
        write_json(directory / TOKENIZER_CONFIG_FILE, tokenizer_config)
        config = {
            "feature_extractor": self.feature_extractor.to_dict(),
            "processor_class": self.processor_class,
        }
        written.append(str(write_json(directory / PROCESSOR_CONFIG_NAME, config)))
        return written

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any
    ) -> Wav2Vec2Processor:
        """Load both parts from a directory or Hub id; other kwargs override settings of either part."""
        hub_kwargs, overrides = split_hub_kwargs(kwargs)
        extractor_keys = Wav2Vec2FeatureExtractor.known_keys()
        unknown = sorted(set(overrides) - set(extractor_keys) - set(INIT_KEYS))
        if unknown:
            raise ConfigError(
                f"{cls.__name__} has no setting(s) {unknown}; valid: feature extractor "
                f"{list(extractor_keys)}, tokenizer {list(INIT_KEYS)}."
            )
        processor_file = resolve(
            pretrained_model_name_or_path, PROCESSOR_CONFIG_NAME, hub_kwargs, required=False
        )
        if processor_file is not None:
            saved_class = read_json_object(processor_file, "processor config").get("processor_class")
            if saved_class not in (None, cls.processor_class):
                logger.warning("Loading a processor saved as %r into %s.", saved_class, cls.__name__)
        feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained(
            pretrained_model_name_or_path,
            **hub_kwargs,
            **{key: value for key, value in overrides.items() if key in extractor_keys},
        )
        tokenizer = Wav2Vec2CTCTokenizer.from_pretrained(
            pretrained_model_name_or_path,
            **hub_kwargs,
            **{key: value for key, value in overrides.items() if key in INIT_KEYS},
        )
        return cls(feature_extractor, tokenizer)

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(feature_extractor={self.feature_extractor!r}, tokenizer={self.tokenizer!r})"
