"""Behaviour of the tokenizers on a tiny hand-made vocabulary (expected values worked out by hand from the spec),
plus property-based tests on random Unicode with the real 30522-token vocabulary. Every test runs on both classes."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from corpus import minilm_vocab_dir  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distilkit.errors import InputError, TokenizerError
from distilkit.tokenization import (
    AddedToken,
    BatchEncoding,
    CharSpan,
    DistilBertTokenizer,
    DistilBertTokenizerFast,
    TokenSpan,
    tokenizer_class,
)

TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "hello", "world", "!", ",", "a",
          "b", "c", "d", "e", "the", "cat", "sat", "##s", "on", "mat", ".", "中", "naive", "cafe", "##ing", "run", "##n"]
VOCAB = {token: index for index, token in enumerate(TOKENS)}
PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
A, B, C, D, E = 12, 13, 14, 15, 16
CLASSES = [DistilBertTokenizerFast, DistilBertTokenizer]


@pytest.fixture(params=CLASSES, ids=["fast", "slow"])
def tok(request):
    return request.param(vocab=dict(VOCAB))


@pytest.fixture(params=CLASSES, ids=["fast", "slow"])
def cls(request):
    return request.param


# ---- WordPiece and normalisation ------------------------------------------------------------------------------


def test_wordpiece_takes_the_longest_match_first(tok):
    assert tok.tokenize("unaffable") == ["un", "##aff", "##able"]
    assert tok.tokenize("cats running") == ["cat", "##s", "run", "##n", "##ing"]


def test_an_unmatchable_word_becomes_one_unknown_token(tok):
    encoded = tok("unaffablex cat", return_offsets_mapping=True)
    assert encoded["input_ids"] == [CLS, UNK, VOCAB["cat"], SEP]
    assert encoded["offset_mapping"] == [(0, 0), (0, 10), (11, 14), (0, 0)]


def test_words_longer_than_the_limit_become_unknown(cls):
    tok = cls(vocab=dict(VOCAB), max_input_chars_per_word=5)
    assert tok.tokenize("hello world unaffable") == ["hello", "world", "[UNK]"]  # 5 chars still pass


def test_lowercasing_accent_stripping_and_offsets_into_the_original(tok):
    encoded = tok("Café NAÏVE, 中a", return_offsets_mapping=True)
    assert encoded.tokens() == ["[CLS]", "cafe", "naive", ",", "中", "a", "[SEP]"]
    assert encoded["offset_mapping"] == [(0, 0), (0, 4), (5, 10), (10, 11), (12, 13), (13, 14), (0, 0)]


def test_control_characters_vanish_and_whitespace_splits(tok):
    encoded = tok("hel\x00lo\tworld\u00a0!", return_offsets_mapping=True)
    assert encoded.tokens() == ["[CLS]", "hello", "world", "!", "[SEP]"]
    assert encoded["offset_mapping"][1] == (0, 6)


def test_cased_tokenizer_keeps_case(cls):
    tok = cls(vocab=dict(VOCAB), do_lower_case=False)
    assert tok.tokenize("Hello hello Café") == ["[UNK]", "hello", "[UNK]"]


# ---- the encode API -------------------------------------------------------------------------------------------


def test_single_text_defaults(tok):
    encoded = tok("hello world!")
    assert isinstance(encoded, BatchEncoding)
    assert dict(encoded) == {"input_ids": [CLS, 8, 9, 10, SEP], "attention_mask": [1, 1, 1, 1, 1]}
    assert encoded.input_ids == encoded["input_ids"]


def test_pair_layout_type_ids_and_special_mask(tok):
    encoded = tok("a b", "c", return_token_type_ids=True, return_special_tokens_mask=True, return_length=True)
    assert encoded["input_ids"] == [CLS, A, B, SEP, C, SEP]
    assert encoded["token_type_ids"] == [0, 0, 0, 0, 1, 1]
    assert encoded["special_tokens_mask"] == [1, 0, 0, 1, 0, 1]
    assert encoded["length"] == [6]
    assert encoded.sequence_ids() == [None, 0, 0, None, 1, None]
    assert (tok.num_special_tokens_to_add(), tok.num_special_tokens_to_add(pair=True)) == (2, 3)


def test_padding_modes_and_sides(tok):
    batch = ["a", "a b c"]
    assert tok(batch, padding=True)["input_ids"] == [[CLS, A, SEP, PAD, PAD], [CLS, A, B, C, SEP]]
    left = tok(batch, padding="longest", padding_side="left")
    assert left["input_ids"] == [[PAD, PAD, CLS, A, SEP], [CLS, A, B, C, SEP]]
    assert left["attention_mask"] == [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]
    assert tok(batch, padding=True, pad_to_multiple_of=4)["input_ids"][0] == [CLS, A, SEP] + [PAD] * 5
    fixed = tok(batch, padding="max_length", max_length=6, return_special_tokens_mask=True)
    assert fixed["input_ids"][0] == [CLS, A, SEP, PAD, PAD, PAD]
    assert fixed["special_tokens_mask"][0] == [1, 0, 1, 1, 1, 1]
    assert tok(batch, padding=False)["input_ids"] == [[CLS, A, SEP], [CLS, A, B, C, SEP]]


def test_longest_first_cuts_the_longer_sequence_then_splits_evenly(tok):
    # Budget 7 - 3 = 4 tokens of text: (4, 1) -> only the longer is cut, to 3; (3, 3) -> floor to the first.
    assert tok("a b c d", "e", truncation=True, max_length=7)["input_ids"] == [CLS, A, B, C, SEP, E, SEP]
    assert tok("a b c", "c d e", truncation="longest_first", max_length=6)["input_ids"] == [CLS, A, SEP, C, D, SEP]


def test_only_first_and_only_second(tok):
    assert tok("a b c", "d e", truncation="only_first", max_length=6)["input_ids"] == [CLS, A, SEP, D, E, SEP]
    assert tok("a b", "c d e", truncation="only_second", max_length=6)["input_ids"] == [CLS, A, B, SEP, C, SEP]
    with pytest.raises(InputError, match="only_first"):
        tok("a", "b c d e", truncation="only_first", max_length=5)


def test_overflow_windows_overlap_by_stride(tok):
    encoded = tok(["a b c d e", "a"], truncation=True, max_length=5, stride=1, return_overflowing_tokens=True,
                  return_offsets_mapping=True)
    assert encoded["input_ids"] == [[CLS, A, B, C, SEP], [CLS, C, D, E, SEP], [CLS, A, SEP]]
    assert encoded["overflow_to_sample_mapping"] == [0, 0, 1]
    assert encoded["offset_mapping"][1] == [(0, 0), (4, 5), (6, 7), (8, 9), (0, 0)]
    assert encoded.word_ids(1) == [None, 2, 3, 4, None]


def test_truncation_side_left_keeps_the_end(cls):
    tok = cls(vocab=dict(VOCAB), truncation_side="left")
    assert tok("a b c d e", truncation=True, max_length=4)["input_ids"] == [CLS, D, E, SEP]


def test_max_length_alone_turns_truncation_on(tok):
    assert tok("a b c d e", max_length=4)["input_ids"] == [CLS, A, B, SEP]


def test_model_max_length_truncates_and_warns(cls):
    tok = cls(vocab=dict(VOCAB), model_max_length=4)
    assert tok("a b c d e", truncation=True)["input_ids"] == [CLS, A, B, SEP]
    with pytest.warns(UserWarning, match="longer than model_max_length=4"):
        assert len(tok("a b c d e")["input_ids"]) == 7
    assert (tok.max_len_single_sentence, tok.max_len_sentences_pair) == (2, 1)


@pytest.mark.parametrize("kind", ["pt", "np"])
def test_tensors(tok, kind):
    encoded = tok(["a", "a b c"], ["d", "d"], padding=True, return_tensors=kind, return_offsets_mapping=True)
    ids = encoded["input_ids"]
    assert isinstance(ids, torch.Tensor if kind == "pt" else np.ndarray)
    assert tuple(ids.shape) == (2, 7) and str(ids.dtype).endswith("int64")
    assert tuple(encoded["offset_mapping"].shape) == (2, 7, 2)
    single = tok("a b", return_tensors=kind)
    assert tuple(single["input_ids"].shape) == (1, 4)
    with pytest.raises(InputError, match="padding=True"):
        tok(["a", "a b c"], return_tensors=kind)


def test_split_into_words(tok):
    encoded = tok(["hello,", "cats", "a b"], is_split_into_words=True, return_offsets_mapping=True)
    assert encoded.tokens() == ["[CLS]", "hello", ",", "cat", "##s", "a", "b", "[SEP]"]
    assert encoded.word_ids() == [None, 0, 0, 1, 1, 2, 2, None]
    assert encoded["offset_mapping"][1:7] == [(0, 5), (5, 6), (0, 3), (3, 4), (0, 1), (2, 3)]
    batch = tok([["a"], ["b", "c"]], is_split_into_words=True, padding=True)
    assert batch["input_ids"] == [[CLS, A, SEP, PAD], [CLS, B, C, SEP]]


# ---- BatchEncoding --------------------------------------------------------------------------------------------


def test_batch_encoding_alignment_helpers(tok):
    encoded = tok(["hello world!", "cats sat"], ["on the mat"] * 2)
    assert encoded.tokens(1)[:4] == ["[CLS]", "cat", "##s", "sat"]
    assert encoded.word_ids(1)[:5] == [None, 0, 0, 1, None]
    assert encoded.token_to_word(1, 2) == 0 and encoded.token_to_word(0) is None
    assert encoded.token_to_sequence(0, 6) == 1
    assert encoded.word_to_tokens(1, 0) == TokenSpan(1, 3)
    assert encoded.word_to_tokens(0, 2, sequence_index=1) == TokenSpan(7, 8)
    assert encoded.token_to_chars(0, 2) == CharSpan(6, 11) and encoded.token_to_chars(0, 0) is None
    assert encoded.char_to_token(0, 7) == 2 and encoded.char_to_token(0, 5) is None
    assert encoded.char_to_token(0, 3, sequence_index=1) == 6
    assert encoded.word_to_chars(1, 0) == CharSpan(0, 4)
    assert encoded.char_to_word(1, 6) == 1
    assert encoded.token_to_word(1, -2) == 2  # negative positions count from the end
    assert encoded.n_sequences == 2
    assert len(encoded[0].ids) == len(encoded["input_ids"][0])
    assert encoded[:1]["input_ids"] == encoded["input_ids"][:1]


def test_empty_batch_and_float_features(tok):
    assert dict(tok([])) == {"input_ids": [], "attention_mask": []}
    assert tok([], padding=True, return_tensors="pt")["input_ids"].dtype == torch.int64
    padded = tok.pad([{"input_ids": [CLS, SEP], "labels": 0.5}, {"input_ids": [CLS], "labels": 1.25}], return_tensors="pt")
    assert padded["labels"].dtype == torch.float32 and padded["labels"].tolist() == [0.5, 1.25]


def test_tokenizers_pickle_and_deepcopy(tok):
    import copy

    for clone in (pickle.loads(pickle.dumps(tok)), copy.deepcopy(tok)):
        assert dict(clone(["a b", "hello"], padding=True)) == dict(tok(["a b", "hello"], padding=True))
        clone.add_tokens(["brandnew"])
        assert len(clone) == len(tok) + 1


def test_batch_encoding_to_device_and_pickle(tok):
    encoded = tok(["a b", "c"], padding=True, return_tensors="pt")
    moved = encoded.to("cpu")
    assert moved is encoded and moved["input_ids"].device.type == "cpu"
    restored = pickle.loads(pickle.dumps(encoded))
    assert torch.equal(restored["input_ids"], encoded["input_ids"])
    assert restored.word_ids(0) == encoded.word_ids(0)
    with pytest.raises(AttributeError, match="no field"):
        encoded.labels  # noqa: B018
    with pytest.raises(InputError, match="device"):
        encoded.to(3.5)


# ---- pad ------------------------------------------------------------------------------------------------------


def test_pad_a_list_of_features(tok):
    features = [{"input_ids": [CLS, A, SEP], "labels": 1}, {"input_ids": [CLS, SEP], "labels": 0}]
    padded = tok.pad(features, return_tensors="pt")
    assert padded["input_ids"].tolist() == [[CLS, A, SEP], [CLS, SEP, PAD]]
    assert padded["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert padded["labels"].tolist() == [1, 0]
    assert padded.encodings is None


def test_pad_options_and_tensor_inputs(tok):
    rows = {"input_ids": [[CLS, A, SEP], [CLS, SEP]], "token_type_ids": [[0, 0, 0], [0, 0]]}
    padded = tok.pad(rows, padding_side="left", pad_to_multiple_of=4)
    assert padded["input_ids"] == [[PAD, CLS, A, SEP], [PAD, PAD, CLS, SEP]]
    assert padded["token_type_ids"] == [[0, 0, 0, 0], [0, 0, 0, 0]]
    as_tensors = tok.pad([{"input_ids": torch.tensor([CLS, A, SEP])}, {"input_ids": torch.tensor([CLS, SEP])}])
    assert isinstance(as_tensors["input_ids"], torch.Tensor)
    assert tok.pad({"input_ids": [CLS, SEP]}, padding="max_length", max_length=3)["input_ids"] == [CLS, SEP, PAD]
    with pytest.raises(InputError, match="input_ids"):
        tok.pad([{"ids": [1]}])
    with pytest.raises(InputError, match="same keys"):
        tok.pad([{"input_ids": [1]}, {"input_ids": [1], "labels": 0}])


# ---- decoding -------------------------------------------------------------------------------------------------


def test_decode(tok):
    ids = tok("hello, world! cats")["input_ids"]
    assert tok.decode(ids) == "[CLS] hello, world! cats [SEP]"
    assert tok.decode(ids, skip_special_tokens=True) == "hello, world! cats"
    assert tok.decode(torch.tensor(ids)) == tok.decode(np.array(ids)) == tok.decode(ids)
    assert tok.decode(torch.tensor([ids, ids])) == ["[CLS] hello, world! cats [SEP]"] * 2
    assert tok.batch_decode([ids[:2]]) == ["[CLS] hello"]
    assert tok.decode(VOCAB["hello"]) == "hello"
    assert tok.convert_ids_to_tokens(ids[:3]) == ["[CLS]", "hello", ","]
    assert tok.convert_tokens_to_ids(["cat", "dog"]) == [VOCAB["cat"], UNK]


@pytest.mark.parametrize("bad", [len(TOKENS), -1, 10**9])
def test_decode_rejects_ids_outside_the_vocabulary(tok, bad):
    with pytest.raises(InputError, match=f"token id {bad} at position 1"):
        tok.decode([CLS, bad])
    with pytest.raises(InputError, match=str(bad)):
        tok.convert_ids_to_tokens(bad)


# ---- added and special tokens ---------------------------------------------------------------------------------


def test_add_tokens(tok):
    assert tok.add_tokens(["NewWord", "hello"]) == 2
    assert tok.add_tokens("NewWord") == 0  # already there
    assert len(tok) == len(TOKENS) + 1 and tok.vocab_size == len(TOKENS)
    assert tok.convert_tokens_to_ids("NewWord") == len(TOKENS)
    assert tok.convert_tokens_to_ids("hello") == VOCAB["hello"]
    assert tok("a NEWWORDb")["input_ids"] == [CLS, A, len(TOKENS), B, SEP]  # normalised: matched in lowercased text
    assert tok.add_tokens([AddedToken("Verbatim", normalized=False)]) == 1
    assert tok("verbatim Verbatim")["input_ids"][-2:] == [len(TOKENS) + 1, SEP]
    with pytest.raises(InputError, match="empty"):
        tok.add_tokens([""])


def test_add_special_tokens(tok):
    assert tok.add_special_tokens({"additional_special_tokens": ["<ent>"], "cls_token": "<s>"}) == 2
    assert tok.cls_token == "<s>" and tok.cls_token_id == len(TOKENS) + 1
    assert tok.additional_special_tokens == ["<ent>"]
    ids = tok("a<ent>b")["input_ids"]
    assert ids == [len(TOKENS) + 1, A, len(TOKENS), B, SEP]
    assert tok.decode(ids, skip_special_tokens=True) == "a b"
    assert set(tok.all_special_ids) == {len(TOKENS) + 1, len(TOKENS), UNK, SEP, PAD, MASK}
    with pytest.raises(InputError, match="bos"):
        tok.add_special_tokens({"bos": "<b>"})


def test_special_tokens_in_text_and_split_special_tokens(cls):
    assert cls(vocab=dict(VOCAB))("a [SEP] [MASK]")["input_ids"] == [CLS, A, SEP, MASK, SEP]
    splitting = cls(vocab=dict(VOCAB), split_special_tokens=True)
    assert splitting.tokenize("a [SEP]") == ["a", "[UNK]", "[UNK]", "[UNK]"]  # "[", "sep", "]" are not in VOCAB
    assert cls(vocab=dict(VOCAB)).tokenize("a [SEP]", split_special_tokens=True) == ["a", "[UNK]", "[UNK]", "[UNK]"]


# ---- construction, files --------------------------------------------------------------------------------------


def test_reference_docs_constructor_honours_the_vocab_file(cls, tmp_path):
    vocab_file = tmp_path / "my_vocab_file.txt"
    vocab_file.write_text("".join(token + "\n" for token in TOKENS), encoding="utf-8")
    tok = cls(vocab_file=str(vocab_file), do_lower_case=False, padding_side="left")
    assert tok.vocab_size == len(TOKENS)
    assert tok(["hello", "Hello world"], padding=True)["input_ids"] == [[PAD, CLS, 8, SEP], [CLS, UNK, 9, SEP]]


def test_construction_errors(cls):
    with pytest.raises(TokenizerError, match="vocab_file"):
        cls()
    vocab = {token: index for index, token in enumerate(t for t in TOKENS if t != "[CLS]")}
    with pytest.raises(TokenizerError, match="cls_token"):
        cls(vocab=vocab)
    with pytest.raises(InputError, match="padding_side"):
        cls(vocab=dict(VOCAB), padding_side="middle")


def test_save_and_load_round_trip_across_classes(tok, tmp_path):
    tok.add_special_tokens({"additional_special_tokens": ["<ent>"]})
    tok.add_tokens(["NewWord"])
    written = tok.save_pretrained(tmp_path)
    assert sorted(Path(path).name for path in written) == ["tokenizer.json", "tokenizer_config.json", "vocab.txt"]
    assert (tmp_path / "vocab.txt").read_text(encoding="utf-8").split("\n")[:3] == ["[PAD]", "[UNK]", "[CLS]"]
    text = ["a<ent>b newword cats", "Café"]
    expected = tok(text, return_offsets_mapping=True)
    for loader in CLASSES:
        loaded = loader.from_pretrained(tmp_path)
        assert dict(loaded(text, return_offsets_mapping=True)) == dict(expected)
        assert loaded.additional_special_tokens == ["<ent>"] and len(loaded) == len(tok)
    only_vocab = tmp_path / "only_vocab"
    only_vocab.mkdir()
    (only_vocab / "vocab.txt").write_bytes((tmp_path / "vocab.txt").read_bytes())
    assert type(tok).from_pretrained(only_vocab)("cats")["input_ids"] == [CLS, 18, 20, SEP]


def test_from_pretrained_arguments_override_the_files(cls, tmp_path):
    cls(vocab=dict(VOCAB), model_max_length=64).save_pretrained(tmp_path)
    assert cls.from_pretrained(tmp_path).model_max_length == 64
    loaded = cls.from_pretrained(tmp_path, model_max_length=8, do_lower_case=False)
    assert (loaded.model_max_length, loaded.do_lower_case) == (8, False)
    with pytest.raises(InputError, match="use_fsat"):
        cls.from_pretrained(tmp_path, use_fsat=True)


def test_a_cased_tokenizer_json_alone_stays_cased(cls, tmp_path):
    cls(vocab=dict(VOCAB), do_lower_case=False).save_pretrained(tmp_path)
    (tmp_path / "tokenizer_config.json").unlink()
    (tmp_path / "vocab.txt").unlink()
    assert cls.from_pretrained(tmp_path).tokenize("Hello hello") == ["[UNK]", "hello"]


def test_tokenizer_class_factory():
    assert tokenizer_class() is DistilBertTokenizerFast and tokenizer_class(use_fast=False) is DistilBertTokenizer
    assert DistilBertTokenizerFast.slow_tokenizer_class is DistilBertTokenizer
    assert DistilBertTokenizerFast.is_fast and not DistilBertTokenizer.is_fast
    assert DistilBertTokenizer.model_input_names == ["input_ids", "attention_mask"]


# ---- properties on random Unicode, with the real vocabulary ---------------------------------------------------


@pytest.fixture(scope="module")
def real(minilm_vocab_dir):  # noqa: F811
    return [DistilBertTokenizerFast.from_pretrained(minilm_vocab_dir), DistilBertTokenizer.from_pretrained(minilm_vocab_dir)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=80))
def test_random_unicode_gives_valid_ids_and_offsets(real, text):
    for tok in real:
        encoded = tok(text, return_offsets_mapping=True, return_special_tokens_mask=True)
        assert all(0 <= token_id < len(tok) for token_id in encoded["input_ids"])
        assert encoded["attention_mask"] == [1] * len(encoded["input_ids"])
        spans = [span for span, special in zip(encoded["offset_mapping"], encoded["special_tokens_mask"], strict=True)
                 if not special]
        assert all(0 <= start < end <= len(text) for start, end in spans)
        assert [start for start, _ in spans] == sorted(start for start, _ in spans)
        assert [end for _, end in spans] == sorted(end for _, end in spans)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_decode_inverts_encode_for_vocabulary_words(real, data):
    words = [token for token in real[0].get_vocab() if token.isalpha() and token.isascii() and token.islower()]
    chosen = data.draw(st.lists(st.sampled_from(sorted(words)), min_size=1, max_size=12))
    cased = [word.upper() if data.draw(st.booleans()) else word for word in chosen]
    text = " ".join(cased)
    for tok in real:
        # Normalised text: lowercased, with the single spaces decoding puts between whole words.
        assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == " ".join(chosen)


def test_no_warnings_on_ordinary_calls(tok):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tok(["a b", "c"], padding=True, truncation=True, max_length=8, return_tensors="pt")


def test_from_pretrained_reads_a_hub_cache_offline(cls, tmp_path, monkeypatch):
    """A Hub id resolves through distilkit.hub from an HF cache layout, with no network."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "hub" / "models--someone--tiny-distilbert" / "snapshots" / commit
    cls(vocab=dict(VOCAB), model_max_length=32).save_pretrained(snapshot)
    refs = tmp_path / "hub" / "models--someone--tiny-distilbert" / "refs"
    refs.mkdir()
    (refs / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    loaded = cls.from_pretrained("someone/tiny-distilbert", local_files_only=True)
    assert loaded.model_max_length == 32 and loaded("cats")["input_ids"] == [CLS, 18, 20, SEP]
