"""Wav2Vec2FeatureExtractor, load_audio and AutoFeatureExtractor: normalising, padding, truncation, files."""

import json
import logging
import sys

import numpy as np
import pytest
import torch

from distilkit.errors import ConfigError, InputError
from distilkit.processors import AutoFeatureExtractor, Wav2Vec2FeatureExtractor, load_audio


def _normalised(samples):
    """Zero mean, unit variance, computed in float64 independently of the extractor."""
    samples = np.asarray(samples, dtype=np.float64)
    return (samples - samples.mean()) / np.sqrt(samples.var() + 1e-7)


def test_defaults_and_config_round_trip(tmp_path):
    extractor = Wav2Vec2FeatureExtractor()
    assert extractor.to_dict() == {
        "do_normalize": True,
        "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        "feature_size": 1,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": False,
        "sampling_rate": 16000,
    }
    custom = Wav2Vec2FeatureExtractor(return_attention_mask=True, padding_value=-1.0, padding_side="left")
    custom.save_pretrained(tmp_path)
    assert Wav2Vec2FeatureExtractor.from_pretrained(tmp_path) == custom
    assert isinstance(AutoFeatureExtractor.from_pretrained(tmp_path), Wav2Vec2FeatureExtractor)
    assert Wav2Vec2FeatureExtractor.from_pretrained(tmp_path, do_normalize=False).do_normalize is False


def test_single_waveform_is_normalised_and_batched():
    samples = [0.5, -1.0, 2.0, 0.25]
    output = Wav2Vec2FeatureExtractor()(samples, sampling_rate=16000)
    assert len(output["input_values"]) == 1 and output["input_values"][0].dtype == np.float32
    np.testing.assert_allclose(output["input_values"][0], _normalised(samples), atol=1e-6)
    raw = Wav2Vec2FeatureExtractor(do_normalize=False)(np.array(samples), sampling_rate=16000)
    np.testing.assert_array_equal(raw["input_values"][0], np.array(samples, dtype=np.float32))


def test_padding_longest_with_mask_normalises_real_samples_only():
    long, short = np.linspace(-1, 1, 7), np.array([3.0, 1.0, 2.0])
    extractor = Wav2Vec2FeatureExtractor(return_attention_mask=True)
    output = extractor([long, short], sampling_rate=16000, padding=True, return_tensors="np")
    assert output["input_values"].shape == (2, 7)
    assert output["attention_mask"].tolist() == [[1] * 7, [1, 1, 1, 0, 0, 0, 0]]
    np.testing.assert_allclose(output["input_values"][1, :3], _normalised(short), atol=1e-6)
    assert (output["input_values"][1, 3:] == 0).all()
    without_mask = Wav2Vec2FeatureExtractor()(
        [long, short], sampling_rate=16000, padding=True, return_tensors="np"
    )
    assert "attention_mask" not in without_mask
    np.testing.assert_array_equal(without_mask["input_values"], output["input_values"])  # padding-independent


def test_max_length_multiple_truncation_and_left_padding():
    waveforms = [np.arange(1.0, 11.0), np.arange(1.0, 4.0)]
    extractor = Wav2Vec2FeatureExtractor(do_normalize=False, return_attention_mask=True)
    padded = extractor(
        waveforms, sampling_rate=16000, padding="max_length", max_length=12, return_tensors="np"
    )
    assert padded["input_values"].shape == (2, 12)
    multiple = extractor(
        waveforms, sampling_rate=16000, padding=True, pad_to_multiple_of=4, return_tensors="np"
    )
    assert multiple["input_values"].shape == (2, 12)
    truncated = extractor(
        waveforms,
        sampling_rate=16000,
        padding="max_length",
        max_length=5,
        truncation=True,
        return_tensors="np",
    )
    assert truncated["input_values"].tolist() == [[1, 2, 3, 4, 5], [1, 2, 3, 0, 0]]
    not_truncated = extractor(waveforms, sampling_rate=16000, max_length=5)
    assert [len(row) for row in not_truncated["input_values"]] == [10, 3]
    left = Wav2Vec2FeatureExtractor(padding_side="left", return_attention_mask=True, padding_value=-9.0)
    output = left(waveforms, sampling_rate=16000, padding=True, return_tensors="pt")
    assert isinstance(output["input_values"], torch.Tensor) and output["input_values"].dtype == torch.float32
    assert output["attention_mask"][1].tolist() == [0] * 7 + [1] * 3
    assert (output["input_values"][1, :7] == -9.0).all()
    np.testing.assert_allclose(output["input_values"][1, 7:].numpy(), _normalised([1, 2, 3]), atol=1e-6)


def test_input_forms_agree():
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((2, 50)).astype(np.float32)
    extractor = Wav2Vec2FeatureExtractor()
    expected = extractor(list(rows), sampling_rate=16000, return_tensors="np")["input_values"]
    for form in (
        rows,
        torch.from_numpy(rows),
        [row.tolist() for row in rows],
        [torch.from_numpy(row) for row in rows],
        rows.astype(np.float64),
    ):
        np.testing.assert_array_equal(
            extractor(form, sampling_rate=16000, return_tensors="np")["input_values"], expected
        )


def test_sampling_rate_checks(caplog):
    extractor = Wav2Vec2FeatureExtractor()
    with pytest.raises(InputError, match="8000 Hz.*expects 16000 Hz"):
        extractor(np.zeros(10), sampling_rate=8000)
    with caplog.at_level(logging.WARNING):
        extractor(np.ones(10))
    assert "Pass sampling_rate=" in caplog.text


def test_pad_for_data_collators():
    extractor = Wav2Vec2FeatureExtractor(return_attention_mask=True)
    features = [{"input_values": np.array([1.0, 2.0], dtype=np.float32)}, {"input_values": [3.0, 4.0, 5.0]}]
    padded = extractor.pad(features, return_tensors="pt")
    assert padded["input_values"].tolist() == [[1, 2, 0], [3, 4, 5]]
    assert padded["attention_mask"].tolist() == [[1, 1, 0], [1, 1, 1]]
    repadded = extractor.pad(
        {"input_values": padded["input_values"], "attention_mask": padded["attention_mask"]},
        padding="max_length",
        max_length=4,
    )
    assert [row.tolist() for row in repadded["attention_mask"]] == [[1, 1, 0, 0], [1, 1, 1, 0]]


def test_invalid_settings():
    for settings in (
        {"feature_size": 2},
        {"sampling_rate": 0},
        {"padding_side": "middle"},
        {"padding_value": float("inf")},
        {"do_normalize": 1},
    ):
        with pytest.raises(ConfigError):
            Wav2Vec2FeatureExtractor(**settings)
    with pytest.raises(InputError, match="max_length"):
        Wav2Vec2FeatureExtractor()(np.zeros(3), sampling_rate=16000, padding="max_length")
    with pytest.raises(InputError, match="truncation=True needs max_length"):
        Wav2Vec2FeatureExtractor()(np.zeros(3), sampling_rate=16000, truncation=True)
    with pytest.raises(InputError, match="padding="):
        Wav2Vec2FeatureExtractor()(np.zeros(3), sampling_rate=16000, padding="shortest")
    with pytest.raises(InputError, match="different shapes"):
        Wav2Vec2FeatureExtractor()([np.zeros(3), np.zeros(4)], sampling_rate=16000, return_tensors="np")


def test_auto_feature_extractor_from_legacy_and_model_type(tmp_path):
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"sampling_rate": 8000}))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "wav2vec2"}))
    loaded = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert isinstance(loaded, Wav2Vec2FeatureExtractor) and loaded.sampling_rate == 8000


def test_load_audio_reads_mono_float(tmp_path):
    soundfile = pytest.importorskip("soundfile")
    stereo = np.stack([np.linspace(-0.5, 0.5, 160), np.zeros(160)], axis=1).astype(np.float32)
    soundfile.write(tmp_path / "clip.wav", stereo, 16000, subtype="FLOAT")
    samples, sampling_rate = load_audio(tmp_path / "clip.wav")
    assert sampling_rate == 16000 and samples.dtype == np.float32 and samples.shape == (160,)
    np.testing.assert_allclose(samples, stereo.mean(axis=1), atol=1e-7)
    (tmp_path / "broken.wav").write_bytes(b"RIFF....not audio")
    with pytest.raises(InputError, match="Cannot read audio file"):
        load_audio(tmp_path / "broken.wav")


def test_load_audio_without_soundfile(monkeypatch):
    monkeypatch.setitem(sys.modules, "soundfile", None)
    with pytest.raises(ImportError, match="distilkit\\[audio\\]"):
        load_audio("clip.wav")
