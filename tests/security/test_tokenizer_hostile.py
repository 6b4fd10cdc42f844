"""Hostile input to the tokenizers: wrong types, broken Unicode, huge texts, impossible settings, malformed files.

Each must end in a clear `InputError` / `TokenizerError` / `CheckpointError` naming the value or file — never a
`TypeError` from deep inside, never a Rust `PanicException`, never silently dropped data (checklist B.3, B.6).
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))

from corpus import minilm_vocab_dir  # noqa: E402, F401

from distilkit.errors import CheckpointError, InputError, TokenizerError  # noqa: E402
from distilkit.tokenization import DistilBertTokenizer, DistilBertTokenizerFast  # noqa: E402

CLASSES = [DistilBertTokenizerFast, DistilBertTokenizer]
TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "##a", "!", "[", "]", "sep"]


@pytest.fixture(params=CLASSES, ids=["fast", "slow"])
def tok(request):
    return request.param(vocab={token: index for index, token in enumerate(TOKENS)})


@pytest.fixture(scope="module", params=CLASSES, ids=["fast", "slow"])
def real(request, minilm_vocab_dir):  # noqa: F811
    return request.param.from_pretrained(minilm_vocab_dir)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((None,), {}, "text is None"),
        ((5,), {}, "text must be a str, got int"),
        ((3.5,), {}, "got float"),
        ((b"bytes",), {}, "decode it first"),
        (({"text": "a"},), {}, "got dict"),
        ((["ok", None],), {}, r"text\[1\] must be a str, got NoneType"),
        (([b"x"],), {}, r"text\[0\] is bytes"),
        (("a", 5), {}, "text_pair must be a str, got int"),
        ((["a", "b"], "c"), {}, "text_pair must be a list of the same length"),
        ((["a", "b"], ["c"]), {}, "same length"),
        (([("a", "b", "c")],), {}, "exactly two texts"),
        (("a b",), {"is_split_into_words": True}, "list of words"),
        ((["a"],), {"return_tensors": "jax"}, "return_tensors='jax' is not supported; use 'pt'"),
        ((["a"],), {"return_tensors": "TF"}, "return_tensors='TF' is not supported"),
        ((["a"],), {"padding": "maximum"}, "padding='maximum' is not valid"),
        ((["a"],), {"truncation": "only_third"}, "truncation='only_third'"),
        ((["a"],), {"stride": -1}, "stride must be an int >= 0"),
        ((["a"],), {"max_length": -3}, "max_length must be an int >= 0"),
        ((["a"],), {"padding": True, "padding_side": "up"}, "padding_side='up'"),
    ],
)
def test_wrong_input_types_and_values(tok, args, kwargs, message):
    with pytest.raises(InputError, match=message):
        tok(*args, **kwargs)


def test_lone_surrogates_are_rejected_with_their_position(tok):
    with pytest.raises(InputError, match=r"lone surrogate U\+D800 at index 2"):
        tok("ab\ud800c")
    with pytest.raises(InputError, match=r"text\[1\] holds a lone surrogate U\+DFFF"):
        tok(["fine", "\udfff"])
    with pytest.raises(InputError, match=r"text\[0\]\[1\]"):
        tok([["a", "\udc00"]], is_split_into_words=True)


@pytest.mark.parametrize(
    ("text", "expected_length"),
    [("a" * 1_000_000, 3), ("word " * 200_000, 200_002), ("Héllo wörld 中文 😀 " * 55_556, None)],
    ids=["1M chars, one word", "200k words", "1M mixed chars"],
)
@pytest.mark.filterwarnings("ignore:a sequence of .* tokens is longer than model_max_length")
def test_a_million_characters_finish_in_seconds(real, text, expected_length):
    start = time.perf_counter()
    ids = real(text)["input_ids"] if len(text) < 2_000_000 else None
    elapsed = time.perf_counter() - start
    assert elapsed < 10, f"{len(text)} characters took {elapsed:.1f} s"
    if expected_length is not None:
        assert len(ids) == expected_length
    assert ids[0] == real.cls_token_id and ids[-1] == real.sep_token_id


def test_stride_not_smaller_than_the_window_is_an_input_error(tok, capfd):
    with pytest.raises(InputError, match="stride=3 must be smaller than the 3 tokens"):
        tok("a b c a b c", truncation=True, max_length=5, stride=3, return_overflowing_tokens=True)
    # Whether a pair's window is too small depends on both lengths; the reference panics inside Rust here.
    with pytest.raises(InputError, match="stride=2 must be smaller than the 2 tokens kept of the first sequence"):
        tok("a b c a b c", "a", truncation="only_first", max_length=6, stride=2, return_overflowing_tokens=True)
    with pytest.raises(InputError, match="max_length=1 leaves no room"):
        tok("a b", truncation=True, max_length=1)
    assert "panicked" not in capfd.readouterr().err


def test_random_truncation_settings_never_panic(capfd):
    """A fuzz loop over stride/max_length/strategy on pairs: results or InputError, no Rust panic on stderr."""
    tok = DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(TOKENS)})
    rng = random.Random(5)
    outcomes = {"ok": 0, "InputError": 0}
    for _ in range(300):
        first = " ".join(rng.choice("abc") for _ in range(rng.randint(0, 12)))
        second = " ".join(rng.choice("abc") for _ in range(rng.randint(0, 12)))
        try:
            tok(first, second, truncation=rng.choice(["longest_first", "only_first", "only_second"]),
                max_length=rng.randint(0, 14), stride=rng.randint(0, 6), return_overflowing_tokens=True)
            outcomes["ok"] += 1
        except InputError:
            outcomes["InputError"] += 1
    assert outcomes["ok"] > 50 and outcomes["InputError"] > 50
    assert "panicked" not in capfd.readouterr().err


@pytest.mark.parametrize("bad", [len(TOKENS), 10**12, -1, -(10**12)])
def test_decoding_ids_outside_the_vocabulary_is_an_error_not_a_silent_drop(tok, bad):
    with pytest.raises(InputError, match=f"token id {bad} at position 2 is not in the vocabulary"):
        tok.decode([2, 5, bad, 3])
    with pytest.raises(InputError, match="of sequence 1"):
        tok.batch_decode([[5], [bad]])


@pytest.mark.parametrize("bad", [None, 1.5, "5", True])
def test_decoding_non_integer_ids(tok, bad):
    with pytest.raises(InputError, match="token ids are ints|token ids must be"):
        tok.decode([5, bad])


def test_special_tokens_typed_in_text(real):
    """Documented default (as the reference): typed [SEP]/[MASK] are the special tokens; split_special_tokens=True
    treats them as plain text."""
    ids = real("hello [SEP] [MASK]")["input_ids"]
    assert ids == [101, 7592, 102, 103, 102]
    as_text = real("hello [SEP] [MASK]", split_special_tokens=True)["input_ids"]
    assert as_text[1:-1] == [7592, 1031, 19802, 1033, 1031, 7308, 1033]
    assert 102 not in as_text[1:-1] and 103 not in as_text[1:-1]


# ---- malformed files -------------------------------------------------------------------------------------------


def _write(directory: Path, name: str, content: str | bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nhello\n", "lists the token 'hello' twice"),
        (b"[PAD]\n\xff\xfe\n", "not UTF-8"),
        ("[PAD]\n[CLS]\n[SEP]\n[MASK]\nhello\n", "unk_token"),
        ("[PAD]\n[UNK]\n[SEP]\n[MASK]\nhello\n", "cls_token"),
    ],
    ids=["empty", "duplicate", "not utf-8", "no [UNK]", "no [CLS]"],
)
@pytest.mark.parametrize("cls", CLASSES, ids=["fast", "slow"])
def test_malformed_vocab_txt(tmp_path, cls, content, message):
    path = _write(tmp_path, "vocab.txt", content)
    with pytest.raises(TokenizerError, match=message) as raised:
        cls.from_pretrained(tmp_path)
    assert str(path) in str(raised.value)


GOOD_MODEL = {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 100, "vocab": {token: index for index, token in enumerate(TOKENS)}}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "not valid JSON"),
        ("{\"model\": ", "not valid JSON"),
        ("[1, 2]", "no 'model' object"),
        (json.dumps({"model": {**GOOD_MODEL, "type": "BPE"}}), "'BPE' model"),
        (json.dumps({"model": {**GOOD_MODEL, "vocab": []}}), "non-empty mapping"),
        (json.dumps({"model": {**GOOD_MODEL, "vocab": {"[UNK]": -1}}}), "invalid"),
        (json.dumps({"model": {**GOOD_MODEL, "vocab": {"[UNK]": 0, "x": 0}}}), "share the id 0"),
        (json.dumps({"model": GOOD_MODEL, "added_tokens": [{"id": "x", "content": "<a>"}]}), "invalid id"),
        (json.dumps({"model": GOOD_MODEL, "added_tokens": [{"id": 1, "content": "<a>"}]}), "already gives to '\\[UNK\\]'"),
        (json.dumps({"model": GOOD_MODEL, "added_tokens": [{"id": 99, "content": ""}]}), "non-empty 'content'"),
        (json.dumps({"model": {**GOOD_MODEL, "max_input_chars_per_word": "100"}}), "must be a int"),
    ],
    ids=["empty", "truncated", "array", "bpe", "vocab list", "negative id", "shared id", "bad added id",
         "added id clash", "empty added", "bad setting"],
)
@pytest.mark.parametrize("cls", CLASSES, ids=["fast", "slow"])
def test_malformed_tokenizer_json(tmp_path, cls, content, message):
    path = _write(tmp_path, "tokenizer.json", content)
    with pytest.raises(TokenizerError, match=message) as raised:
        cls.from_pretrained(tmp_path)
    assert str(path) in str(raised.value)


def test_malformed_tokenizer_config(tmp_path):
    _write(tmp_path, "vocab.txt", "".join(token + "\n" for token in TOKENS))
    path = _write(tmp_path, "tokenizer_config.json", "{not json")
    with pytest.raises(TokenizerError, match="not valid JSON") as raised:
        DistilBertTokenizerFast.from_pretrained(tmp_path)
    assert str(path) in str(raised.value)
    _write(tmp_path, "tokenizer_config.json", json.dumps({"cls_token": 5}))
    with pytest.raises(TokenizerError, match="cls_token must be a string"):
        DistilBertTokenizer.from_pretrained(tmp_path)


@pytest.mark.parametrize("cls", CLASSES, ids=["fast", "slow"])
def test_untrusted_split_regex_is_never_compiled(tmp_path, cls):
    """A catastrophic-backtracking `Split` pattern makes the raw Rust tokenizer slow and then panic; we rebuild
    the DistilBERT pipeline as the reference does, so the pattern is reported and ignored."""
    data = {"model": GOOD_MODEL,
            "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(a+)+$"}, "behavior": "Isolated", "invert": False}}
    _write(tmp_path, "tokenizer.json", json.dumps(data))
    with pytest.warns(UserWarning, match="pre_tokenizer of type 'Split' is ignored"):
        tok = cls.from_pretrained(tmp_path)
    start = time.perf_counter()
    ids = tok("a" * 101 + "!" + " a" * 10_000)["input_ids"]
    assert time.perf_counter() - start < 5
    assert ids[1:4] == [1, 9, 5]  # the 101-character word is unknown, then "!", "a"
    if cls is DistilBertTokenizerFast:
        assert type(tok.backend_tokenizer.pre_tokenizer).__name__ == "BertPreTokenizer"


def test_missing_files_and_unknown_arguments(tmp_path):
    with pytest.raises(CheckpointError, match="neither tokenizer.json nor vocab.txt"):
        DistilBertTokenizerFast.from_pretrained(tmp_path)
    _write(tmp_path, "vocab.txt", "".join(token + "\n" for token in TOKENS))
    with pytest.raises(InputError, match="trust_remote_code"):
        DistilBertTokenizer.from_pretrained(tmp_path, trust_remote_code=True)
