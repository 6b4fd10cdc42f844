"""Issue 12 item 6: unbounded files and sizes end in a clear error naming the limit (a setting), never a raw
`RecursionError` / `MemoryError` or minutes of work."""

import json
import time

import numpy as np
import pytest

from distilkit import AutoConfig, Wav2Vec2FeatureExtractor
from distilkit.errors import ConfigError, InputError, TokenizerError
from distilkit.limits import check_json_depth
from distilkit.processors import ViTImageProcessor
from distilkit.tokenization import DistilBertTokenizerFast

TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]


def tokenizer_json(vocab, **extra):
    return {"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": vocab}, "added_tokens": [], **extra}


def write(directory, name, text):
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")
    return directory


def test_an_oversized_tokenizer_json_is_refused_before_it_is_read(tmp_path):
    directory = tmp_path / "tok"
    directory.mkdir()
    with open(directory / "tokenizer.json", "wb") as handle:  # sparse: 101 MB on paper, nothing on disk
        handle.truncate(101_000_000)
    started = time.perf_counter()
    with pytest.raises(TokenizerError, match="DISTILKIT_MAX_JSON_BYTES"):
        DistilBertTokenizerFast.from_pretrained(directory)
    assert time.perf_counter() - started < 1


def test_too_many_vocabulary_entries(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILKIT_MAX_VOCAB_SIZE", "1000")
    vocab = {token: index for index, token in enumerate(TOKENS + [f"w{number}" for number in range(2000)])}
    directory = write(tmp_path / "tok", "tokenizer.json", json.dumps(tokenizer_json(vocab)))
    with pytest.raises(TokenizerError, match="2,007 tokens, over the limit of 1,000"):
        DistilBertTokenizerFast.from_pretrained(directory)
    write(directory, "vocab.txt", "\n".join(vocab) + "\n")
    (directory / "tokenizer.json").unlink()
    with pytest.raises(TokenizerError, match="DISTILKIT_MAX_VOCAB_SIZE"):
        DistilBertTokenizerFast.from_pretrained(directory)


@pytest.mark.parametrize("where", ["vocab", "added_tokens"])
def test_a_vocabulary_id_of_a_billion_is_refused(tmp_path, where):
    vocab = {token: index for index, token in enumerate(TOKENS)}
    data = tokenizer_json(vocab)
    if where == "vocab":
        vocab["huge"] = 10**9
    else:
        data["added_tokens"] = [{"id": 10**9, "content": "<huge>", "special": True}]
    directory = write(tmp_path / "tok", "tokenizer.json", json.dumps(data))
    with pytest.raises(TokenizerError, match="1,000,000,000, over the limit"):
        DistilBertTokenizerFast.from_pretrained(directory)


@pytest.mark.parametrize("depth", [100, 100_000])
@pytest.mark.parametrize("name", ["config.json", "tokenizer.json"])
def test_deeply_nested_json_is_a_clear_error(tmp_path, name, depth):
    nested = "[" * depth + "]" * depth
    if name == "config.json":
        directory = write(tmp_path / "model", name, '{"model_type": "distilbert", "notes": ' + nested + "}")
        with pytest.raises(ConfigError, match="nest"):
            AutoConfig.from_pretrained(directory)
    else:
        vocab = json.dumps({token: index for index, token in enumerate(TOKENS)})
        text = '{"model": {"type": "WordPiece", "vocab": ' + vocab + '}, "truncation": ' + nested + "}"
        directory = write(tmp_path / "tok", name, text)
        with pytest.raises(TokenizerError, match="nest"):
            DistilBertTokenizerFast.from_pretrained(directory)


def test_an_oversized_config_json_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILKIT_MAX_JSON_BYTES", "1000")
    directory = write(tmp_path / "model", "config.json",
                      json.dumps({"model_type": "distilbert", "notes": "x" * 2000}))
    with pytest.raises(ConfigError, match="over the limit of 1,000"):
        AutoConfig.from_pretrained(directory)


def test_a_vit_size_of_100000_squared_is_refused():
    with pytest.raises(ConfigError, match="DISTILKIT_MAX_IMAGE_PIXELS"):
        ViTImageProcessor(size=100_000)
    processor = ViTImageProcessor(size=8)
    with pytest.raises(ConfigError, match="DISTILKIT_MAX_IMAGE_PIXELS"):
        processor(np.zeros((3, 8, 8), dtype=np.uint8), size={"height": 100_000, "width": 100_000})


def test_a_wav2vec2_max_length_of_1e10_is_refused():
    extractor = Wav2Vec2FeatureExtractor()
    with pytest.raises(InputError, match="DISTILKIT_MAX_AUDIO_SAMPLES"):
        extractor(np.zeros(100, dtype=np.float32), sampling_rate=16000, padding="max_length",
                  max_length=10**10)


def test_a_bad_setting_is_named(monkeypatch):
    monkeypatch.setenv("DISTILKIT_MAX_JSON_DEPTH", "-3")
    with pytest.raises(ConfigError, match="DISTILKIT_MAX_JSON_DEPTH='-3'"):
        check_json_depth([[]], "a list")
