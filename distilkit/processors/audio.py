"""Wav2Vec2 feature extractor: raw mono waveforms -> padded, normalised `input_values` (+ `attention_mask`).

Follows the reference's `Wav2Vec2FeatureExtractor`: settings and `preprocessor_config.json` as the
reference's, truncation then padding (longest / max_length / pad_to_multiple_of, left or right), float32
output, and zero-mean unit-variance normalisation `(x - mean) / sqrt(var + 1e-7)` with the same float32
arithmetic. One deliberate difference: the statistics always come from the real samples only and padding stays
`padding_value`, so an utterance gets the same values alone or in a padded batch (the reference folds the
padding into the statistics when no attention mask is asked for). `load_audio` reads files through soundfile
(extra `audio`), imported lazily.
"""

from __future__ import annotations

import logging
import os
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError, InputError
from ..limits import max_audio_samples
from .base import (
    BatchFeature,
    Preprocessor,
    check_bool,
    check_number,
    check_positive_int,
    check_return_tensors,
    is_torch_tensor,
    tensor_to_numpy,
)

logger = logging.getLogger(__name__)

PADDING_STRATEGIES = {
    True: "longest",
    "longest": "longest",
    "max_length": "max_length",
    False: None,
    "do_not_pad": None,
}
# Added to the variance before the square root, as the reference does, so silence does not divide by zero.
VARIANCE_EPSILON = 1e-7


def load_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read an audio file as mono float32 samples and its sampling rate (channels are averaged).

    No resampling happens here: pass the returned rate as `sampling_rate=` so a mismatch is caught.
    """
    try:
        import soundfile
    except ImportError:
        raise ImportError(
            "Reading audio files needs soundfile: pip install 'distilkit[audio]' (or pass a numpy "
            "array of samples)."
        ) from None
    try:
        samples, sampling_rate = soundfile.read(
            os.fspath(path), dtype="float32", always_2d=True
        )  # (T, channels)
    except (RuntimeError, OSError, soundfile.LibsndfileError) as failure:
        raise InputError(f"Cannot read audio file '{path}': {failure}.") from None
    return samples.mean(axis=1, dtype=np.float32), int(sampling_rate)


class Wav2Vec2FeatureExtractor(Preprocessor):
    """Turn raw 16 kHz mono waveforms into model inputs.

    >>> extractor = Wav2Vec2FeatureExtractor(return_attention_mask=True)
    >>> waves = [np.ones(3), np.arange(2.0)]
    >>> batch = extractor(waves, sampling_rate=16000, padding=True, return_tensors="np")
    >>> batch["attention_mask"].tolist()
    [[1, 1, 1], [1, 1, 0]]
    """

    type_key: ClassVar[str] = "feature_extractor_type"
    nested_key: ClassVar[str] = "feature_extractor"
    model_input_names: ClassVar[list[str]] = ["input_values", "attention_mask"]

    def __init__(
        self,
        *,
        feature_size: int = 1,
        sampling_rate: int = 16000,
        padding_value: float = 0.0,
        return_attention_mask: bool = False,
        do_normalize: bool = True,
        padding_side: str = "right",
    ) -> None:
        super().__init__()
        if feature_size != 1 or isinstance(feature_size, bool):
            raise ConfigError(
                f"feature_size={feature_size!r}: Wav2Vec2FeatureExtractor reads mono waveforms, one "
                "value per time step, so feature_size must be 1."
            )
        self.feature_size = 1
        self.sampling_rate = check_positive_int("sampling_rate", sampling_rate)
        self.padding_value = float(check_number("padding_value", padding_value))
        self.return_attention_mask = check_bool("return_attention_mask", return_attention_mask)
        self.do_normalize = check_bool("do_normalize", do_normalize)
        if padding_side not in ("right", "left"):
            raise ConfigError(f"padding_side={padding_side!r} must be 'right' or 'left'.")
        self.padding_side = padding_side

    @classmethod
    def known_keys(cls) -> tuple[str, ...]:
        return (
            "feature_size",
            "sampling_rate",
            "padding_value",
            "return_attention_mask",
            "do_normalize",
            "padding_side",
        )

    def settings(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.known_keys()}

    def __call__(
        self,
        raw_speech: Any,
        padding: bool | str = False,
        max_length: int | None = None,
        truncation: bool = False,
        pad_to_multiple_of: int | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
        sampling_rate: int | None = None,
    ) -> BatchFeature:
        """Featurise one waveform or a batch (a list of waveforms, or a 2-d array / tensor of equal rows).

        A waveform is a 1-d float numpy array, torch tensor or list of numbers. Always returns a batch:
        `input_values` as a list of float32 arrays (or one (B, T) array / tensor with `return_tensors`).
        """
        if sampling_rate is None:
            logger.warning(
                "Pass sampling_rate= to %s: audio recorded at another rate than %d Hz would be "
                "processed without any error, and give wrong results.",
                type(self).__name__,
                self.sampling_rate,
            )
        elif sampling_rate != self.sampling_rate:
            raise InputError(
                f"The audio is sampled at {sampling_rate} Hz but this feature extractor (and its model) "
                f"expects {self.sampling_rate} Hz; resample the audio to {self.sampling_rate} Hz first."
            )
        waveforms = [
            _check_waveform(waveform, index) for index, waveform in enumerate(_as_waveform_list(raw_speech))
        ]
        return self.pad(
            {"input_values": waveforms},
            padding=padding,
            max_length=max_length,
            truncation=truncation,
            pad_to_multiple_of=pad_to_multiple_of,
            return_attention_mask=return_attention_mask,
            return_tensors=return_tensors,
            normalize=self.do_normalize,
        )

    def pad(
        self,
        processed_features: Any,
        padding: bool | str = True,
        max_length: int | None = None,
        truncation: bool = False,
        pad_to_multiple_of: int | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
        normalize: bool = False,
    ) -> BatchFeature:
        """Truncate and pad a batch of `input_values` (a dict of lists or a list of dicts).

        An existing `attention_mask` marks the real samples; `normalize=True` normalises over those samples.
        """
        check_return_tensors(return_tensors)
        waveforms, masks = _collect_features(processed_features)
        strategy = _padding_strategy(padding, max_length)
        if truncation and max_length is None:
            raise InputError("truncation=True needs max_length= (the number of samples to keep).")
        max_length = check_positive_int("max_length", max_length, allow_none=True)
        if max_length is not None and max_length > max_audio_samples():
            raise InputError(f"max_length={max_length:,} samples is over the limit of {max_audio_samples():,} "
                             "(DISTILKIT_MAX_AUDIO_SAMPLES, one hour at 16 kHz); split long recordings.")
        pad_to_multiple_of = check_positive_int("pad_to_multiple_of", pad_to_multiple_of, allow_none=True)
        if max_length is not None and pad_to_multiple_of is not None:
            max_length = -(-max_length // pad_to_multiple_of) * pad_to_multiple_of
        if truncation:
            waveforms = [waveform[:max_length] for waveform in waveforms]
            masks = [mask[:max_length] for mask in masks]
        target = max(len(waveform) for waveform in waveforms) if strategy == "longest" else max_length
        if target is not None and pad_to_multiple_of is not None:
            target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
        with_mask = self.return_attention_mask if return_attention_mask is None else return_attention_mask
        input_values, attention_mask = [], []
        for waveform, mask in zip(waveforms, masks, strict=True):
            if normalize:
                waveform = _normalize(waveform, mask, self.padding_value)
            missing = max(0, target - len(waveform)) if strategy is not None else 0
            widths = (missing, 0) if self.padding_side == "left" else (0, missing)
            input_values.append(np.pad(waveform, widths, constant_values=np.float32(self.padding_value)))
            attention_mask.append(np.pad(mask, widths))
        outputs = {"input_values": input_values}
        if with_mask:
            outputs["attention_mask"] = attention_mask
        return BatchFeature(outputs, tensor_type=return_tensors)


def _as_waveform_list(raw_speech: Any) -> list[Any]:
    if is_torch_tensor(raw_speech):
        raw_speech = tensor_to_numpy(raw_speech)
    if isinstance(raw_speech, np.ndarray):
        if raw_speech.ndim == 1:
            return [raw_speech]
        if raw_speech.ndim == 2:
            return list(raw_speech)
        raise InputError(
            f"Audio array of shape {raw_speech.shape}: only mono audio is supported, as one 1-d "
            "waveform or a 2-d (batch, samples) array. Average the channels of stereo audio first."
        )
    if isinstance(raw_speech, (list, tuple)):
        if not raw_speech:
            raise InputError(
                "Got an empty list of audio; pass at least one waveform with at least one sample."
            )
        if isinstance(raw_speech[0], (list, tuple, np.ndarray)) or is_torch_tensor(raw_speech[0]):
            return list(raw_speech)
        return [raw_speech]
    raise InputError(
        f"Audio must be a numpy array, a torch tensor or a list of numbers (or a list of those), got "
        f"{type(raw_speech).__name__}."
    )


def _check_waveform(waveform: Any, index: int) -> np.ndarray:
    """One waveform as a 1-d, finite, non-empty float32 array."""
    where = f"audio {index}"
    if is_torch_tensor(waveform):
        waveform = tensor_to_numpy(waveform)
    if isinstance(waveform, np.ndarray):
        if not np.issubdtype(waveform.dtype, np.floating):
            hint = (
                " (integer PCM: divide by 32768 for int16 samples)"
                if np.issubdtype(waveform.dtype, np.integer)
                else ""
            )
            raise InputError(f"{where} has dtype {waveform.dtype}; audio samples must be floats{hint}.")
    else:
        if isinstance(waveform, (list, tuple)) and any(
            isinstance(item, (bool, str, bytes)) for item in waveform
        ):
            raise InputError(f"{where} holds non-numeric values; audio samples must be numbers.")
        try:
            waveform = np.asarray(waveform, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(
                f"{where} is not a flat sequence of numbers ({type(waveform).__name__})."
            ) from None
    if waveform.ndim != 1:
        raise InputError(f"{where} has shape {waveform.shape}; each waveform must be 1-d (mono samples).")
    if waveform.size == 0:
        raise InputError(f"{where} is empty; each waveform needs at least one sample.")
    if not np.isfinite(waveform).all():
        raise InputError(
            f"{where} has NaN or infinite samples (first at position "
            f"{int(np.flatnonzero(~np.isfinite(waveform))[0])}); clean the audio first."
        )
    return waveform.astype(np.float32)


def _collect_features(processed_features: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """`input_values` (float32) and masks (int32, all ones if none given) from a dict or list of dicts."""
    if (
        isinstance(processed_features, (list, tuple))
        and processed_features
        and all(isinstance(item, dict) for item in processed_features)
    ):
        processed_features = {
            key: [item.get(key) for item in processed_features] for key in processed_features[0]
        }
    if not isinstance(processed_features, dict) or "input_values" not in processed_features:
        raise InputError("pad() needs a dict with 'input_values' (or a list of such dicts).")
    values = processed_features["input_values"]
    values = list(tensor_to_numpy(values) if is_torch_tensor(values) else values)
    waveforms = [_check_waveform(waveform, index) for index, waveform in enumerate(values)]
    if not waveforms:
        raise InputError("pad() got no waveforms; pass at least one.")
    given = processed_features.get("attention_mask")
    if given is None:
        return waveforms, [np.ones(len(waveform), dtype=np.int32) for waveform in waveforms]
    given = list(tensor_to_numpy(given) if is_torch_tensor(given) else given)
    masks = [
        np.asarray(tensor_to_numpy(mask) if is_torch_tensor(mask) else mask, dtype=np.int32) for mask in given
    ]
    if len(masks) != len(waveforms) or any(
        mask.shape != waveform.shape for mask, waveform in zip(masks, waveforms, strict=False)
    ):
        raise InputError("attention_mask must have one row per waveform, each as long as its waveform.")
    return waveforms, masks


def _padding_strategy(padding: Any, max_length: int | None) -> str | None:
    if isinstance(padding, (bool, str)) and padding in PADDING_STRATEGIES:
        strategy = PADDING_STRATEGIES[padding]
    else:
        raise InputError(
            f"padding={padding!r}; use True / 'longest', 'max_length' (with max_length=), or "
            "False / 'do_not_pad'."
        )
    if strategy == "max_length" and max_length is None:
        raise InputError("padding='max_length' needs max_length= (the padded number of samples).")
    return strategy


def _normalize(waveform: np.ndarray, mask: np.ndarray, padding_value: float) -> np.ndarray:
    """Zero mean, unit variance over the real samples (mask 1), in float32 as the reference computes it."""
    real = mask.astype(bool)
    if not real.any():
        raise InputError("A waveform's attention_mask marks no real samples, so it cannot be normalised.")
    samples = waveform[real]
    normalized = (waveform - samples.mean()) / np.sqrt(samples.var() + VARIANCE_EPSILON)
    normalized[~real] = padding_value
    return normalized
