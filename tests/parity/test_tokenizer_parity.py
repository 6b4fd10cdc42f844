"""Parity of our fast and slow tokenizers with the reference's `DistilBertTokenizer`, computed in the same run.

Corpus: the six Jane Austen novels plus hand-picked multilingual, emoji, control-character, URL, number,
long-word and special-token strings (tests/corpus.py). Compared: input ids, attention masks, type ids, offsets,
special-token masks, word and sequence ids, overflow windows and their sample mapping, and decoded text.
"""

from __future__ import annotations

import random
import sys
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parents[1]))

import corpus  # noqa: E402
from corpus import minilm_vocab_dir  # noqa: E402, F401

from distilkit.errors import InputError  # noqa: E402
from distilkit.tokenization import AddedToken, DistilBertTokenizer, DistilBertTokenizerFast  # noqa: E402

transformers = pytest.importorskip("transformers")
Reference = transformers.DistilBertTokenizer

ALL_OUTPUTS = dict(return_offsets_mapping=True, return_special_tokens_mask=True, return_token_type_ids=True,
                   return_length=True)


@pytest.fixture(scope="module")
def trio(minilm_vocab_dir):  # noqa: F811
    """(reference, ours fast, ours slow), all loaded from the same all-MiniLM-L6-v2 directory."""
    return (Reference.from_pretrained(minilm_vocab_dir), DistilBertTokenizerFast.from_pretrained(minilm_vocab_dir),
            DistilBertTokenizer.from_pretrained(minilm_vocab_dir))


def outputs(tokenizer, *args, **kwargs):
    """Everything a call returns, plus each row's word and sequence ids, as plain comparable values."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        encoded = tokenizer(*args, **kwargs)
    rows = [(list(encoding.word_ids), list(encoding.sequence_ids), list(encoding.tokens))
            for encoding in encoded.encodings]
    return dict(encoded), rows


def assert_same(reference, ours, label):
    (ref_data, ref_rows), (our_data, our_rows) = reference, ours
    assert list(our_data) == list(ref_data), f"{label}: keys differ"
    for key in ref_data:
        if our_data[key] != ref_data[key]:
            rows = ref_data[key] if isinstance(ref_data[key][0], list) else [ref_data[key]]
            theirs = our_data[key] if isinstance(our_data[key][0], list) else [our_data[key]]
            first = next(index for index, (a, b) in enumerate(zip(rows, theirs, strict=False)) if a != b)
            pytest.fail(f"{label}: '{key}' differs first in row {first}:\nref  {rows[first][:60]}\nours {theirs[first][:60]}")
    assert our_rows == ref_rows, f"{label}: word ids / sequence ids / tokens differ"


def test_documented_example_ids(trio):
    expected = [101, 2057, 2024, 2200, 3407, 2000, 2265, 2017, 1996, 100, 19081, 3075, 1012, 102]
    text = "We are very happy to show you the 🤗 Transformers library."
    for tokenizer in trio:
        assert tokenizer(text)["input_ids"] == expected


def test_single_texts_over_the_corpus(trio):
    reference, fast, slow = trio
    texts = list(corpus.EDGE_CASES) + list(corpus.austen_paragraphs(2500))
    expected = outputs(reference, texts, **ALL_OUTPUTS)
    assert_same(expected, outputs(fast, texts, **ALL_OUTPUTS), "fast")
    assert_same(expected, outputs(slow, texts, **ALL_OUTPUTS), "slow")


def test_pairs_over_the_corpus(trio):
    reference, fast, slow = trio
    texts = list(corpus.EDGE_CASES) + list(corpus.austen_sentences(600))
    firsts, seconds = texts, texts[7:] + texts[:7]
    expected = outputs(reference, firsts, seconds, **ALL_OUTPUTS)
    assert_same(expected, outputs(fast, firsts, seconds, **ALL_OUTPUTS), "fast")
    assert_same(expected, outputs(slow, firsts, seconds, **ALL_OUTPUTS), "slow")
    as_tuples = list(zip(firsts, seconds, strict=True))
    assert_same(expected, outputs(fast, as_tuples, **ALL_OUTPUTS), "fast, pairs as tuples")


def test_unbatched_calls(trio):
    reference, fast, slow = trio
    for args in [("Hello there!",), ("Hello there!", "General Kenobi."), ("a b", ""), ("",)]:
        expected = outputs(reference, *args, **ALL_OUTPUTS)
        assert_same(expected, outputs(fast, *args, **ALL_OUTPUTS), f"fast {args}")
        assert_same(expected, outputs(slow, *args, **ALL_OUTPUTS), f"slow {args}")


# Settings where we raise InputError and the reference does not (or panics later): documented in base.py.
def _stricter_than_reference(kwargs, pairs, error):
    message = str(error)
    return ("only_second" in message and not pairs) or "stride=" in message


def test_truncation_padding_overflow_sweep(trio):
    """Random batches x every truncation strategy x padding mode x stride x side: identical outputs or errors."""
    reference, fast, slow = trio
    rng = random.Random(1234)
    texts = list(corpus.EDGE_CASES) + list(corpus.austen_sentences(300))
    compared = 0
    for _ in range(250):
        pairs = rng.random() < 0.6
        size = rng.randint(1, 4)
        firsts = [rng.choice(texts) for _ in range(size)]
        seconds = [rng.choice(texts) for _ in range(size)] if pairs else None
        max_length = rng.randint(3, 40)
        padding = rng.choice([False, True, "longest", "max_length"])
        kwargs = dict(
            truncation=rng.choice([True, "longest_first", "only_first", "only_second"]),
            max_length=max_length, stride=rng.choice([0, 0, 1, 2, 5]), padding=padding,
            pad_to_multiple_of=rng.choice([None, 4]) if padding is False or max_length % 4 == 0 else None,
            padding_side=rng.choice(["left", "right"]), return_overflowing_tokens=rng.random() < 0.7, **ALL_OUTPUTS,
        )
        side = rng.choice(["left", "right"])
        results = []
        for tokenizer in trio:
            tokenizer.truncation_side = side
            try:
                results.append(outputs(tokenizer, firsts, seconds, **kwargs))
            except BaseException as error:  # the reference may raise a Rust PanicException (a BaseException)
                results.append(error)
        for tokenizer in trio:
            tokenizer.truncation_side = "right"
        expected, *ours = results
        for label, result in zip(("fast", "slow"), ours, strict=True):
            if isinstance(result, BaseException):
                assert isinstance(result, InputError), f"{label}: {type(result).__name__}: {result}"
                assert isinstance(expected, BaseException) or _stricter_than_reference(kwargs, pairs, result), (
                    f"{label} raised but the reference did not: {kwargs}: {result}")
            else:
                assert not isinstance(expected, BaseException), f"{label} accepted what the reference rejects: {kwargs}"
                assert_same(expected, result, f"{label} {kwargs}")
                compared += 1
    assert compared > 150


def test_longest_first_tie_breaking(trio):
    """Equal lengths, odd budget: the first sequence gets the floor (spec 5.5); the longer one the ceiling."""
    reference, fast, slow = trio
    for first, second in [("one two three four", "five six seven eight"), ("one two three four five six", "a b")]:
        for max_length in range(5, 12):
            expected = outputs(reference, first, second, truncation="longest_first", max_length=max_length)
            for tokenizer in (fast, slow):
                assert_same(expected, outputs(tokenizer, first, second, truncation="longest_first",
                                              max_length=max_length), f"max_length={max_length}")


def test_split_into_words(trio):
    reference, fast, slow = trio
    words = [sentence.split() for sentence in corpus.austen_sentences(200)] + [
        text.split(" ") for text in corpus.EDGE_CASES if text.strip()]
    for args in [(words,), (words, words[3:] + words[:3]), (words[5],)]:
        expected = outputs(reference, *args, is_split_into_words=True, **ALL_OUTPUTS)
        for tokenizer in (fast, slow):
            assert_same(expected, outputs(tokenizer, *args, is_split_into_words=True, **ALL_OUTPUTS),
                        type(tokenizer).__name__)


def test_special_tokens_typed_in_text(trio):
    reference, fast, slow = trio
    texts = ["hello [SEP] world [MASK] and [CLS] [PAD] [UNK] but [mask] [Sep]", "[SEP][SEP]x[MASK]y"]
    for split in (False, True):
        expected = outputs(reference, texts, split_special_tokens=split, **ALL_OUTPUTS)
        for tokenizer in (fast, slow):
            assert_same(expected, outputs(tokenizer, texts, split_special_tokens=split, **ALL_OUTPUTS), f"split={split}")


def test_no_special_tokens(trio):
    reference, fast, slow = trio
    texts = list(corpus.austen_sentences(50))
    expected = outputs(reference, texts, texts[::-1], add_special_tokens=False, **ALL_OUTPUTS)
    for tokenizer in (fast, slow):
        assert_same(expected, outputs(tokenizer, texts, texts[::-1], add_special_tokens=False, **ALL_OUTPUTS), "pairs")


@pytest.mark.parametrize("options", [
    dict(do_lower_case=False),
    dict(do_lower_case=False, strip_accents=True),
    dict(do_lower_case=True, strip_accents=False),
    dict(tokenize_chinese_chars=False),
])
def test_normaliser_options(minilm_vocab_dir, options):  # noqa: F811
    reference = Reference.from_pretrained(minilm_vocab_dir, **options)
    texts = list(corpus.EDGE_CASES) + list(corpus.austen_paragraphs(300))
    expected = outputs(reference, texts, **ALL_OUTPUTS)
    for cls in (DistilBertTokenizerFast, DistilBertTokenizer):
        assert_same(expected, outputs(cls.from_pretrained(minilm_vocab_dir, **options), texts, **ALL_OUTPUTS), cls.__name__)


def test_small_cased_vocabulary():
    """A random cased vocabulary built here: many [UNK]s, continuation pieces, accents kept."""
    rng = random.Random(7)
    words = sorted({word for sentence in corpus.austen_sentences(300) for word in sentence.split()})
    pieces = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "!", "?", ";", "é", "##é", "ö", "中"}
    for word in rng.sample(words, 400):
        pieces.add(word[: rng.randint(1, 4)])
        pieces.add("##" + word[rng.randint(1, 3):][:3])
    vocab = {token: index for index, token in enumerate(sorted(pieces))}
    reference = Reference(vocab=vocab, do_lower_case=False)
    texts = list(corpus.austen_sentences(400)) + list(corpus.EDGE_CASES)
    expected = outputs(reference, texts, **ALL_OUTPUTS)
    for cls in (DistilBertTokenizerFast, DistilBertTokenizer):
        assert_same(expected, outputs(cls(vocab=vocab, do_lower_case=False), texts, **ALL_OUTPUTS), cls.__name__)


def test_combining_marks_are_aligned_by_position():
    """NFD reorders combining marks; offsets of sub-word pieces inside such a cluster follow the reference."""
    vocab = {token: index for index, token in enumerate(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "e", "x", "##\u0316", "##\u0301", "##\U0001d165", "##x"])}
    texts = ["e\u0301\u0316", "x\u0316\u0301x", "e\U0001d165\u0316x", "xe\u0301\u0316\U0001d165"]
    for options in (dict(do_lower_case=False), dict(do_lower_case=False, strip_accents=True)):
        expected = outputs(Reference(vocab=vocab, **options), texts, **ALL_OUTPUTS)
        for cls in (DistilBertTokenizerFast, DistilBertTokenizer):
            assert_same(expected, outputs(cls(vocab=vocab, **options), texts, **ALL_OUTPUTS), f"{cls.__name__} {options}")


def test_added_tokens(minilm_vocab_dir):  # noqa: F811
    from tokenizers import AddedToken as RustAddedToken

    reference = Reference.from_pretrained(minilm_vocab_dir)
    ours = [DistilBertTokenizerFast.from_pretrained(minilm_vocab_dir), DistilBertTokenizer.from_pretrained(minilm_vocab_dir)]
    steps = [
        ("add_tokens", (["FooBar", "hello", "new_tok"],), {}),
        ("add_tokens", (["<keep>"],), {"special_tokens": True}),
        ("add_special_tokens", ({"additional_special_tokens": ["<ent>", "</ent>"]},), {}),
    ]
    for name, args, kwargs in steps:
        count = getattr(reference, name)(*args, **kwargs)
        for tokenizer in ours:
            assert getattr(tokenizer, name)(*args, **kwargs) == count
    flagged = [("<l>", dict(lstrip=True)), ("<r>", dict(rstrip=True)), ("word", dict(single_word=True))]
    reference.add_tokens([RustAddedToken(content, **flags) for content, flags in flagged])
    for tokenizer in ours:
        tokenizer.add_tokens([AddedToken(content, **flags) for content, flags in flagged])
    texts = ["xfoobarx FOOBAR hello <keep> a<ent>b</ent> New_Tok", "  <l>  x <r>   y sword word words _word",
             "<KEEP> <ent>"]
    expected = outputs(reference, texts, **ALL_OUTPUTS)
    for tokenizer in ours:
        assert len(tokenizer) == len(reference)
        assert tokenizer.get_vocab() == reference.get_vocab()
        assert tokenizer.all_special_ids == [reference.convert_tokens_to_ids(token) for token in tokenizer.all_special_tokens]
        assert_same(expected, outputs(tokenizer, texts, **ALL_OUTPUTS), type(tokenizer).__name__)
        ids = expected[0]["input_ids"]
        for skip in (False, True):
            assert tokenizer.batch_decode(ids, skip_special_tokens=skip) == reference.batch_decode(ids, skip_special_tokens=skip)


def test_decode(trio):
    reference, fast, slow = trio
    texts = list(corpus.EDGE_CASES) + list(corpus.austen_paragraphs(400))
    ids = reference(texts)["input_ids"]
    for skip in (False, True):
        for cleanup in (False, True):
            expected = reference.batch_decode(ids, skip_special_tokens=skip, clean_up_tokenization_spaces=cleanup)
            for tokenizer in (fast, slow):
                assert tokenizer.batch_decode(ids, skip_special_tokens=skip, clean_up_tokenization_spaces=cleanup) == expected
    pieces = ["##ing", "hello", ",", "wor", "##ld", "it", "'", "s", "[SEP]"]
    assert fast.convert_tokens_to_string(pieces) == slow.convert_tokens_to_string(pieces) == \
        reference.convert_tokens_to_string(pieces)


def test_files_cross_load(minilm_vocab_dir, tmp_path):  # noqa: F811
    """Ours loads what the reference saves, and the reference loads what we save, with identical encodings."""
    reference = Reference.from_pretrained(minilm_vocab_dir)
    reference.add_special_tokens({"additional_special_tokens": ["<ent>"]})
    texts = ["Hello <ent> world, naïve café!", *corpus.austen_sentences(30)]
    expected = outputs(reference, texts, **ALL_OUTPUTS)
    reference.save_pretrained(tmp_path / "ref")
    for cls in (DistilBertTokenizerFast, DistilBertTokenizer):
        loaded = cls.from_pretrained(tmp_path / "ref")
        assert_same(expected, outputs(loaded, texts, **ALL_OUTPUTS), f"{cls.__name__} loading the reference's files")
        loaded.save_pretrained(tmp_path / cls.__name__)
        for reloaded in (Reference.from_pretrained(tmp_path / cls.__name__),
                         transformers.AutoTokenizer.from_pretrained(tmp_path / cls.__name__)):
            assert type(reloaded).__name__ == "DistilBertTokenizer"
            assert reloaded.model_max_length == 512
            assert_same(expected, outputs(reloaded, texts, **ALL_OUTPUTS), f"reference loading {cls.__name__}'s files")


def test_vocab_only_directory(minilm_vocab_dir, tmp_path):  # noqa: F811
    (tmp_path / "vocab.txt").write_bytes((minilm_vocab_dir / "vocab.txt").read_bytes())
    reference = Reference.from_pretrained(tmp_path)
    texts = list(corpus.EDGE_CASES)
    expected = outputs(reference, texts, **ALL_OUTPUTS)
    for cls in (DistilBertTokenizerFast, DistilBertTokenizer):
        loaded = cls.from_pretrained(tmp_path)
        assert loaded.model_max_length == reference.model_max_length
        assert_same(expected, outputs(loaded, texts, **ALL_OUTPUTS), cls.__name__)


def check_code_points(vocab_dir, step):
    """Each code point between two letters: same ids and offsets from slow and fast (the measured tables at work)."""
    codes = [code for code in range(0x110000) if not 0xD800 <= code < 0xE000][::step]
    texts = ["".join(f"x{chr(code)}y " for code in codes[start:start + 2000]) for start in range(0, len(codes), 2000)]
    for options in (dict(), dict(do_lower_case=False)):
        fast = DistilBertTokenizerFast.from_pretrained(vocab_dir, model_max_length=10**6, **options)
        slow = DistilBertTokenizer.from_pretrained(vocab_dir, model_max_length=10**6, **options)
        assert_same(outputs(fast, texts, return_offsets_mapping=True), outputs(slow, texts, return_offsets_mapping=True),
                    f"{options}")


def test_code_points_sample_slow_equals_fast(minilm_vocab_dir):  # noqa: F811
    check_code_points(minilm_vocab_dir, step=37)


@pytest.mark.slow
def test_every_code_point_slow_equals_fast(minilm_vocab_dir):  # noqa: F811
    check_code_points(minilm_vocab_dir, step=1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=60),
       pair=st.one_of(st.none(), st.text(max_size=30, alphabet=st.characters(exclude_categories=["Cs"]))))
def test_random_unicode_slow_equals_fast_equals_reference(trio, text, pair):
    reference, fast, slow = trio
    args = (text,) if pair is None else (text, pair)
    expected = outputs(reference, *args, **ALL_OUTPUTS)
    assert_same(expected, outputs(fast, *args, **ALL_OUTPUTS), "fast")
    assert_same(expected, outputs(slow, *args, **ALL_OUTPUTS), "slow")
