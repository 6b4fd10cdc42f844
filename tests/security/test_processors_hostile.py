"""Hostile input to the preprocessors: every bad image, waveform, id sequence or file gets a clear
InputError / TokenizerError / ConfigError naming the problem — never a deep numpy/PIL traceback, never code
chosen by a file."""

import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from distilkit.errors import CheckpointError, ConfigError, DistilkitError, InputError, TokenizerError
from distilkit.processors import (
    AutoFeatureExtractor,
    AutoImageProcessor,
    AutoProcessor,
    ViTImageProcessor,
    Wav2Vec2CTCTokenizer,
    Wav2Vec2FeatureExtractor,
)
from distilkit.processors import base as processors_base

VOCAB = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "A": 5, "B": 6}


@pytest.mark.parametrize(
    "image,message",
    [
        (np.zeros((0, 5, 3), dtype=np.uint8), "empty"),
        (np.zeros((3, 0, 0), dtype=np.float32), "empty"),
        (Image.new("RGB", (0, 4)), "empty"),
        (np.zeros((6, 6, 2), dtype=np.uint8), "neither its first nor its last axis"),
        (np.zeros((5, 6, 7), dtype=np.uint8), "neither its first nor its last axis"),
        (np.zeros((5, 6), dtype=np.complex64), "dtype complex64"),
        (np.zeros((5, 6, 3), dtype=bool), "dtype bool"),
        (np.array([["a"]]), "dtype <U1"),
        (np.full((5, 6, 3), np.nan, dtype=np.float32), "NaN"),
        (np.full((5, 6, 3), 2.5, dtype=np.float32), "float values in"),
        (np.full((5, 6, 3), 300, dtype=np.int64), "outside 0..255"),
        (np.full((5, 6, 4), 2.0, dtype=np.float32), "alpha channel"),
        (np.zeros((1, 2, 3, 4, 5)), "must have 2"),
        ([], "empty list"),
        ("cat.png", "got str"),
        ([np.zeros((4, 4, 3)), "x"], "images\\[1\\]"),
        (torch.zeros(2, 3, 4, 4, dtype=torch.complex64), "complex64"),
    ],
)
def test_bad_images_raise_input_error(image, message):
    with pytest.raises(InputError, match=message):
        ViTImageProcessor()(image)


def test_bad_image_options_raise():
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    with pytest.raises(InputError, match="return_tensors"):
        ViTImageProcessor()(image, return_tensors="tf")
    with pytest.raises(InputError, match="input_data_format"):
        ViTImageProcessor()(image, input_data_format="NHWC")
    with pytest.raises(ConfigError, match="resample"):
        ViTImageProcessor()(image, resample="fast")
    with pytest.raises(InputError, match="has 2 channels"):
        ViTImageProcessor(do_resize=False)(
            np.zeros((2, 5, 4), dtype=np.uint8), input_data_format="channels_first"
        )


@pytest.mark.parametrize(
    "audio,message",
    [
        (np.zeros(0, dtype=np.float32), "empty"),
        ([np.zeros(3), np.zeros(0)], "audio 1 is empty"),
        ([], "empty list"),
        (np.array([0.1, np.nan, 0.2]), "NaN or infinite samples \\(first at position 1\\)"),
        (np.array([0.1, np.inf]), "NaN or infinite"),
        (np.zeros(10, dtype=np.int16), "divide by 32768"),
        (np.zeros(10, dtype=np.complex64), "must be floats"),
        (np.array(["a", "b"]), "must be floats"),
        (["a", "b"], "non-numeric"),
        ([[0.1, 0.2], [[0.3]]], "1-d"),
        (np.zeros((2, 3, 4)), "only mono audio"),
        ("speech.wav", "got str"),
        (torch.zeros(4, dtype=torch.int32), "int32"),
    ],
)
def test_bad_audio_raises_input_error(audio, message):
    with pytest.raises(InputError, match=message):
        Wav2Vec2FeatureExtractor()(audio, sampling_rate=16000)


def test_mismatched_sampling_rate_and_bad_padding_raise():
    with pytest.raises(InputError, match="44100 Hz"):
        Wav2Vec2FeatureExtractor()(np.zeros(4), sampling_rate=44100)
    with pytest.raises(ConfigError, match="max_length"):
        Wav2Vec2FeatureExtractor()(np.zeros(4), sampling_rate=16000, padding=True, max_length=-1)
    with pytest.raises(InputError, match="marks no real samples"):
        Wav2Vec2FeatureExtractor().pad(
            {"input_values": [[1.0, 2.0]], "attention_mask": [[0, 0]]}, normalize=True
        )


@pytest.mark.parametrize(
    "vocab,message",
    [
        ({"<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "A": 5}, "no pad_token '<pad>'"),
        ({"<pad>": 0, "<s>": 1, "</s>": 2, "|": 4, "A": 5}, "no unk_token '<unk>'"),
        ({"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "A": 5}, "no word_delimiter_token '\\|'"),
        ({"<pad>": 0, "<unk>": 0, "|": 4}, "gives id 0 to both"),
        ({"<pad>": -1, "<unk>": 3, "|": 4}, "non-negative integers"),
        ({"<pad>": "0", "<unk>": 3, "|": 4}, "non-negative integers"),
        ({"<pad>": 0, "<unk>": 3, "|": 4, "": 5}, "empty token"),
        ({}, "non-empty JSON object"),
        (["<pad>", "<unk>"], "non-empty JSON object"),
        ({"eng": VOCAB, "fra": VOCAB}, "pass target_lang="),
    ],
)
def test_bad_vocabulary_raises_tokenizer_error(tmp_path, vocab, message):
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(TokenizerError, match=message):
        Wav2Vec2CTCTokenizer(tmp_path / "vocab.json")
    with pytest.raises(TokenizerError, match=message):
        Wav2Vec2CTCTokenizer.from_pretrained(tmp_path)


def test_broken_tokenizer_files_raise(tmp_path):
    (tmp_path / "vocab.json").write_bytes(b'{"<pad>": 0,')
    with pytest.raises(TokenizerError, match="not valid JSON"):
        Wav2Vec2CTCTokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(TokenizerError, match="not UTF-8"):
        Wav2Vec2CTCTokenizer(tmp_path / "vocab.json")
    (tmp_path / "vocab.json").write_text(json.dumps(VOCAB))
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"added_tokens_decoder": {"5": {"content": "Z"}}})
    )
    with pytest.raises(TokenizerError, match="already belongs to 'A'"):
        Wav2Vec2CTCTokenizer.from_pretrained(tmp_path)
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"auto_map": {"AutoTokenizer": "evil.Tokenizer"}})
    )
    with pytest.raises(TokenizerError, match="never lets a file choose code"):
        Wav2Vec2CTCTokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.json").unlink()
    with pytest.raises(CheckpointError, match="no file 'vocab.json'"):
        Wav2Vec2CTCTokenizer.from_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="not an existing local directory"):
        Wav2Vec2CTCTokenizer.from_pretrained(tmp_path / "missing")


def test_oversized_json_is_refused_before_parsing(tmp_path, monkeypatch):
    monkeypatch.setattr(processors_base, "MAX_JSON_BYTES", 100)
    (tmp_path / "vocab.json").write_text(json.dumps({f"t{index}": index for index in range(50)}))
    with pytest.raises(TokenizerError, match="over the 100-byte limit"):
        Wav2Vec2CTCTokenizer(tmp_path / "vocab.json")


@pytest.mark.parametrize(
    "ids,message",
    [
        ([0, 1, 99], "Id 99 is not in the vocabulary"),
        ([-1], "Id -1 is not in the vocabulary"),
        ([0.5, 1.0], "must be integers"),
        ([[1, 2], [3, 4]], "use batch_decode"),
        ([[1, 2], [3]], "one flat sequence"),
        (np.zeros((2, 3, 7), dtype=np.float32), "use batch_decode"),
        ("AB", "got str"),
        ([True, False], "must be integers"),
    ],
)
def test_bad_ids_raise_input_error(ids, message):
    with pytest.raises(InputError, match=message):
        Wav2Vec2CTCTokenizer(vocab=VOCAB).decode(ids)


def test_bad_text_and_batches_raise_input_error():
    tokenizer = Wav2Vec2CTCTokenizer(vocab=VOCAB)
    with pytest.raises(InputError, match="pass a str"):
        tokenizer(["A", None])
    with pytest.raises(InputError, match="must be a str"):
        tokenizer.tokenize(b"AB")
    with pytest.raises(InputError, match="2-d"):
        tokenizer.batch_decode(np.zeros((2, 3, 4), dtype=np.int64))
    with pytest.raises(InputError, match="different shapes"):
        tokenizer(["A", "AB"], return_tensors="np")
    assert tokenizer.decode([5, 0, 5]) == "AA"  # lone surrogates and odd text never reach a native library
    assert tokenizer("\ud800 A")["input_ids"] == [3, 4, 5]


@pytest.mark.parametrize(
    "config",
    [
        {"image_processor_type": "ViTImageProcessor", "auto_map": {"AutoImageProcessor": "evil_module.Evil"}},
        {"image_processor_type": "ViTImageProcessor", "trust_remote_code": True},
    ],
)
def test_config_cannot_select_code(tmp_path, config):
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(config))
    for loader in (AutoImageProcessor.from_pretrained, ViTImageProcessor.from_pretrained):
        with pytest.raises(ConfigError, match="never lets a file choose code"):
            loader(tmp_path)


@pytest.mark.parametrize("type_name", ["evil_module.Evil", "os.system", "__import__('evil_module')"])
def test_type_names_are_never_imported(tmp_path, type_name):
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "image_processor_type": type_name,
                "feature_extractor_type": type_name,
                "processor_class": type_name,
            }
        )
    )
    for auto_class in (AutoImageProcessor, AutoFeatureExtractor, AutoProcessor):
        with pytest.raises(ConfigError, match="not registered"):
            auto_class.from_pretrained(tmp_path)
    assert "evil_module" not in sys.modules


def test_malformed_preprocessor_files_raise_config_error(tmp_path):
    path = tmp_path / "preprocessor_config.json"
    for text, message in (
        ("[1, 2]", "must hold a JSON object"),
        ('{"size": ', "not valid JSON"),
        ('{"size": "big"}', "size="),
        ('{"do_normalize": "yes"}', "do_normalize"),
        ('{"sampling_rate": -5}', "sampling_rate"),
    ):
        path.write_text(text)
        loader = Wav2Vec2FeatureExtractor if "sampling_rate" in text else ViTImageProcessor
        with pytest.raises(ConfigError, match=message):
            loader.from_pretrained(tmp_path)
    (tmp_path / "processor_config.json").write_text(json.dumps({"image_processor": [1]}))
    with pytest.raises(ConfigError, match="must be a JSON object"):
        ViTImageProcessor.from_pretrained(tmp_path)


def test_every_error_is_a_distilkit_error():
    for call in (
        lambda: ViTImageProcessor()(np.zeros((0, 0, 3))),
        lambda: Wav2Vec2FeatureExtractor()(np.zeros(0), sampling_rate=16000),
        lambda: Wav2Vec2CTCTokenizer(vocab={"A": 0}),
    ):
        with pytest.raises(DistilkitError):
            call()
