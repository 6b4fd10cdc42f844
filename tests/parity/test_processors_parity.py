"""Parity of the preprocessors with the reference, computed in the same run: identical pixel arrays, input
values, attention masks, CTC decodings and tokenizations; identical JSON files; each side loads the other's
files.

The image reference is `ViTImageProcessorPil`: without torchvision (not installed, by design) Transformers 5.x
falls back to it for `ViTImageProcessor`, and it is the reference's numpy/PIL implementation. Our default
converts greyscale/RGBA to RGB, so it is compared with the reference's `do_convert_rgb=True`.
"""

import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import Wav2Vec2CTCTokenizer as RefTokenizer
from transformers import Wav2Vec2FeatureExtractor as RefExtractor
from transformers import Wav2Vec2Processor as RefProcessor
from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil as RefImageProcessor

from distilkit.processors import (
    AutoImageProcessor,
    AutoProcessor,
    ViTImageProcessor,
    Wav2Vec2CTCTokenizer,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2Processor,
)

TOLERANCE = 1e-6
VOCAB = {
    "<pad>": 0,
    "<s>": 1,
    "</s>": 2,
    "<unk>": 3,
    "|": 4,
    "E": 5,
    "T": 6,
    "A": 7,
    "O": 8,
    "H": 9,
    "L": 10,
    "'": 11,
}
# A community-style vocabulary: [PAD]/[UNK], a multi-character entry, no <s> / </s> (appended as added).
COMMUNITY_VOCAB = {"[PAD]": 0, "[UNK]": 1, "|": 2, "A": 3, "B": 4, "ab": 5, "C": 6}


@pytest.fixture(autouse=True)
def _quiet_reference():
    # The reference warns about torchvision and missing sampling rates on every call; levels are restored after.
    loggers = [logging.getLogger(name) for name in ("transformers", "distilkit")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def _json_files(directory):
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(directory.iterdir())}


# ---------------------------------------------------------------------------------------------------- images


def _images(seed: int):
    rng = np.random.default_rng(seed)
    images = []
    for height, width in [(224, 224), (50, 80), (301, 17), (1, 1)]:
        images += [
            rng.integers(0, 256, (height, width, 3), dtype=np.uint8),  # HWC uint8
            rng.random((3, height, width)).astype(np.float32),  # CHW float in [0, 1]
            rng.integers(0, 256, (height, width, 3)).astype(np.float64),  # whole-number floats
            Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)),
            Image.fromarray(rng.integers(0, 256, (height, width, 4), dtype=np.uint8), mode="RGBA"),
            Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8), mode="L"),
            rng.integers(0, 256, (height, width, 4), dtype=np.uint8),  # RGBA array
            rng.random((height, width, 4)).astype(np.float32),  # RGBA float array
            rng.integers(0, 256, (1, height, width), dtype=np.uint8),  # greyscale CHW
            torch.from_numpy(rng.random((3, height, width)).astype(np.float32)),
        ]
    return images


IMAGE_SETTINGS = [
    {},
    {"resample": 3, "do_normalize": False, "image_mean": [0.3, 0.3, 0.3]},
    {
        "image_mean": [0.3, 0.3, 0.3],
        "image_std": [0.2, 0.25, 0.5],
        "size": {"height": 32, "width": 48},
        "resample": 1,
    },
    {"do_resize": False},
    {"resample": 0, "do_rescale": False},
]


@pytest.mark.parametrize("settings", IMAGE_SETTINGS, ids=lambda settings: ",".join(settings) or "defaults")
def test_pixel_values_match_reference(settings):
    reference = RefImageProcessor(do_convert_rgb=True, **settings)
    ours = ViTImageProcessor(**settings)
    worst = 0.0
    for image in _images(0):
        expected = reference(image, return_tensors="np")["pixel_values"]
        actual = ours(image, return_tensors="np")["pixel_values"]
        assert actual.shape == expected.shape and actual.dtype == expected.dtype
        worst = max(worst, float(np.abs(actual.astype(np.float64) - expected).max()))
    assert worst <= TOLERANCE


def test_batched_torch_output_matches_reference():
    rng = np.random.default_rng(1)
    batch = [rng.integers(0, 256, (40 + 7 * index, 60, 3), dtype=np.uint8) for index in range(3)]
    expected = RefImageProcessor()(batch, return_tensors="pt")["pixel_values"]
    actual = ViTImageProcessor()(batch, return_tensors="pt")["pixel_values"]
    assert actual.shape == expected.shape == (3, 3, 224, 224) and actual.dtype == expected.dtype
    assert torch.equal(actual, expected)
    four_d = rng.random((2, 3, 20, 30)).astype(np.float32)
    np.testing.assert_array_equal(
        ViTImageProcessor()(four_d, return_tensors="np")["pixel_values"],
        RefImageProcessor()(four_d, return_tensors="np")["pixel_values"],
    )


def test_reference_raises_on_greyscale_by_default_and_ours_converts():
    grey = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8), mode="L")
    with pytest.raises(ValueError):
        RefImageProcessor()(grey)
    expected = RefImageProcessor(do_convert_rgb=True)(grey, return_tensors="np")["pixel_values"]
    np.testing.assert_array_equal(ViTImageProcessor()(grey, return_tensors="np")["pixel_values"], expected)


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"resample": 3, "do_normalize": False, "image_mean": [0.3, 0.3, 0.3]},
        {"do_convert_rgb": True, "size": {"height": 384, "width": 384}},
    ],
)
def test_image_processor_files_identical_and_cross_loadable(tmp_path, settings):
    RefImageProcessor(**settings).save_pretrained(tmp_path / "reference")
    ViTImageProcessor(**settings).save_pretrained(tmp_path / "ours")
    assert _json_files(tmp_path / "ours") == _json_files(tmp_path / "reference")
    loaded = ViTImageProcessor.from_pretrained(tmp_path / "reference")
    assert loaded == ViTImageProcessor(**settings)
    assert isinstance(AutoImageProcessor.from_pretrained(tmp_path / "reference"), ViTImageProcessor)
    reference_loaded = RefImageProcessor.from_pretrained(tmp_path / "ours")
    image = np.random.default_rng(2).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    np.testing.assert_array_equal(
        loaded(image, return_tensors="np")["pixel_values"],
        reference_loaded(image, return_tensors="np")["pixel_values"],
    )


# ----------------------------------------------------------------------------------------------------- audio


def _waveforms(rng, count):
    lengths = rng.integers(1, 4000, size=count)
    dtypes = [np.float32, np.float64]
    return [
        (rng.standard_normal(length) * rng.uniform(0.01, 3) + rng.uniform(-1, 1)).astype(dtypes[index % 2])
        for index, length in enumerate(lengths)
    ]


AUDIO_CALLS = [
    {"padding": True},
    {"padding": "max_length", "max_length": 3000, "truncation": True},
    {"padding": True, "pad_to_multiple_of": 128},
    {"padding": "longest", "max_length": 700, "truncation": True, "pad_to_multiple_of": 64},
]


@pytest.mark.parametrize("call", AUDIO_CALLS, ids=lambda call: ",".join(f"{k}={v}" for k, v in call.items()))
@pytest.mark.parametrize("do_normalize", [True, False])
def test_input_values_match_reference_batched_with_padding(call, do_normalize):
    rng = np.random.default_rng(3)
    reference = RefExtractor(return_attention_mask=True, do_normalize=do_normalize)
    ours = Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=do_normalize)
    worst = 0.0
    for count in (1, 2, 5):
        batch = _waveforms(rng, count)
        expected = reference(batch, sampling_rate=16000, return_tensors="np", **call)
        actual = ours(batch, sampling_rate=16000, return_tensors="np", **call)
        assert actual["input_values"].shape == expected["input_values"].shape
        assert actual["input_values"].dtype == expected["input_values"].dtype == np.float32
        worst = max(worst, float(np.abs(actual["input_values"] - expected["input_values"]).max()))
        assert actual["attention_mask"].dtype == expected["attention_mask"].dtype
        np.testing.assert_array_equal(actual["attention_mask"], expected["attention_mask"])
    assert worst <= TOLERANCE


def test_unpadded_lists_and_torch_tensors_match_reference():
    rng = np.random.default_rng(4)
    batch = _waveforms(rng, 4)
    expected = RefExtractor()(batch, sampling_rate=16000)["input_values"]
    actual = Wav2Vec2FeatureExtractor()(batch, sampling_rate=16000)["input_values"]
    assert len(actual) == len(expected)
    for ours_row, reference_row in zip(actual, expected, strict=True):
        assert ours_row.dtype == reference_row.dtype
        assert np.abs(ours_row - reference_row).max() <= TOLERANCE
    equal_length = rng.standard_normal((3, 500)).astype(np.float32)
    np.testing.assert_allclose(
        Wav2Vec2FeatureExtractor()(torch.from_numpy(equal_length), sampling_rate=16000, return_tensors="pt")[
            "input_values"
        ].numpy(),
        RefExtractor()(equal_length, sampling_rate=16000, return_tensors="pt")["input_values"].numpy(),
        rtol=0,
        atol=TOLERANCE,
    )


def test_padding_without_mask_normalises_like_the_reference_does_alone():
    # Deliberate difference: the reference folds padding into the statistics when no mask is asked for; ours
    # uses the real samples only, which is what the reference gives each utterance on its own.
    rng = np.random.default_rng(5)
    batch = _waveforms(rng, 3)
    padded = Wav2Vec2FeatureExtractor()(batch, sampling_rate=16000, padding=True, return_tensors="np")
    for row, waveform in zip(padded["input_values"], batch, strict=True):
        alone = RefExtractor()(waveform, sampling_rate=16000, return_tensors="np")["input_values"][0]
        assert np.abs(row[: len(waveform)] - alone).max() <= TOLERANCE
        assert (row[len(waveform) :] == 0).all()


def test_feature_extractor_files_identical_and_cross_loadable(tmp_path):
    settings = {"return_attention_mask": True, "padding_value": 0.5, "do_normalize": False}
    RefExtractor(**settings).save_pretrained(tmp_path / "reference")
    Wav2Vec2FeatureExtractor(**settings).save_pretrained(tmp_path / "ours")
    assert _json_files(tmp_path / "ours") == _json_files(tmp_path / "reference")
    assert Wav2Vec2FeatureExtractor.from_pretrained(tmp_path / "reference") == Wav2Vec2FeatureExtractor(
        **settings
    )
    assert RefExtractor.from_pretrained(tmp_path / "ours").to_dict() == RefExtractor(**settings).to_dict()


# ---------------------------------------------------------------------------------------------- CTC tokenizer


@pytest.fixture
def tokenizers(tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps(VOCAB), encoding="utf-8")
    return RefTokenizer(str(tmp_path / "vocab.json")), Wav2Vec2CTCTokenizer(tmp_path / "vocab.json")


def _plain_offsets(offsets):
    return [
        {key: value if isinstance(value, str) else int(value) for key, value in entry.items()}
        for entry in offsets
    ]


def test_ctc_decode_matches_reference_on_random_ids(tokenizers):
    reference, ours = tokenizers
    rng = np.random.default_rng(6)
    # Runs of repeated ids, many blanks (0) and delimiters (4), like real CTC output.
    for _ in range(400):
        frames = rng.integers(1, 40)
        ids = np.repeat(
            rng.choice(len(VOCAB), size=frames, p=_ctc_probabilities()), rng.integers(1, 4, frames)
        )
        ids = [int(index) for index in ids]
        for options in ({}, {"group_tokens": False}, {"spaces_between_special_tokens": True}):
            assert ours.decode(ids, **options) == reference.decode(ids, **options)
        expected = reference.decode(ids, output_char_offsets=True, output_word_offsets=True)
        actual = ours.decode(ids, output_char_offsets=True, output_word_offsets=True)
        assert actual.text == expected.text
        assert actual.char_offsets == _plain_offsets(expected.char_offsets)
        assert actual.word_offsets == _plain_offsets(expected.word_offsets)


def _ctc_probabilities():
    weights = np.ones(len(VOCAB))
    weights[0], weights[4] = 8, 3  # blank and delimiter are the most frequent predictions
    return weights / weights.sum()


def test_ctc_batch_decode_of_logits_argmax_matches_reference(tokenizers):
    reference, ours = tokenizers
    logits = torch.randn(4, 50, len(VOCAB), generator=torch.Generator().manual_seed(7))
    logits[..., 0] += 1.5  # make blanks common
    predicted = logits.argmax(-1)
    assert ours.batch_decode(predicted) == reference.batch_decode(predicted)
    expected = reference.batch_decode(predicted, output_word_offsets=True)
    actual = ours.batch_decode(predicted, output_word_offsets=True)
    assert actual.text == expected.text
    assert actual.word_offsets == [_plain_offsets(words) for words in expected.word_offsets]


def test_skip_special_tokens_matches_reference_where_the_blank_separates_nothing(tokenizers):
    reference, ours = tokenizers
    rng = np.random.default_rng(8)
    for _ in range(300):
        ids = [int(index) for index in rng.integers(0, len(VOCAB), size=rng.integers(1, 30))]
        collapsed = [
            index for position, index in enumerate(ids) if position == 0 or ids[position - 1] != index
        ]
        without_specials = [index for index in collapsed if index not in (0, 1, 2, 3)]
        specials_between_repeats = any(
            left == right for left, right in zip(without_specials, without_specials[1:], strict=False)
        )
        if not specials_between_repeats:
            assert ours.decode(ids, skip_special_tokens=True) == reference.decode(
                ids, skip_special_tokens=True
            )


def test_skip_special_tokens_keeps_blank_separated_repeats_unlike_reference(tokenizers):
    reference, ours = tokenizers
    hello = [9, 5, 10, 0, 10, 8]  # H E L _ L O
    assert reference.decode(hello) == ours.decode(hello) == "HELLO"
    assert ours.decode(hello, skip_special_tokens=True) == "HELLO"
    assert reference.decode(hello, skip_special_tokens=True) == "HELO"  # the reference's merge, documented


def test_tokenization_matches_reference(tokenizers, tmp_path):
    reference, ours = tokenizers
    (tmp_path / "community.json").write_text(json.dumps(COMMUNITY_VOCAB), encoding="utf-8")
    community = (
        RefTokenizer(str(tmp_path / "community.json"), unk_token="[UNK]", pad_token="[PAD]"),
        Wav2Vec2CTCTokenizer(tmp_path / "community.json", unk_token="[UNK]", pad_token="[PAD]"),
    )
    rng = np.random.default_rng(9)
    alphabet = list("HELO TA'|xyzabC") + ["<s>", "</s>", "<unk>", "<pad>", "  ", "[PAD]", "ab", "\t"]
    texts = ["".join(rng.choice(alphabet, size=rng.integers(0, 15))) for _ in range(500)]
    for reference_tokenizer, our_tokenizer in (tokenizers, community):
        assert len(our_tokenizer) == len(reference_tokenizer)
        assert our_tokenizer.get_vocab() == reference_tokenizer.get_vocab()
        for text in texts:
            assert our_tokenizer(text)["input_ids"] == reference_tokenizer(text)["input_ids"], text
        assert (
            our_tokenizer(texts[:4], padding=True, return_tensors="np")["input_ids"].tolist()
            == reference_tokenizer(texts[:4], padding=True, return_tensors="np")["input_ids"].tolist()
        )
    lower = RefTokenizer(str(tmp_path / "vocab.json"), do_lower_case=True)
    ours_lower = Wav2Vec2CTCTokenizer(tmp_path / "vocab.json", do_lower_case=True)
    assert ours_lower("hello that <s>")["input_ids"] == lower("hello that <s>")["input_ids"]
    assert ours_lower.decode([9, 5, 10, 0, 10, 8]) == lower.decode([9, 5, 10, 0, 10, 8]) == "hello"


def test_overlapping_multi_character_entries_split_like_reference(tmp_path):
    vocab = {
        "<pad>": 0,
        "<s>": 1,
        "</s>": 2,
        "<unk>": 3,
        "|": 4,
        "a": 5,
        "b": 6,
        "c": 7,
        "d": 8,
        "ab": 9,
        "bcd": 10,
        "abc": 11,
        "cd": 12,
        "bc": 13,
    }
    (tmp_path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    reference, ours = (
        RefTokenizer(str(tmp_path / "vocab.json")),
        Wav2Vec2CTCTokenizer(tmp_path / "vocab.json"),
    )
    rng = np.random.default_rng(12)
    for _ in range(2000):
        text = "".join(rng.choice(list("abcd ") + ["<s>"], size=rng.integers(0, 12)))
        assert ours(text)["input_ids"] == reference(text)["input_ids"], text


@pytest.mark.parametrize(
    "vocab,settings", [(VOCAB, {}), (COMMUNITY_VOCAB, {"unk_token": "[UNK]", "pad_token": "[PAD]"})]
)
def test_tokenizer_files_identical_and_cross_loadable(tmp_path, vocab, settings):
    (tmp_path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    RefTokenizer(str(tmp_path / "vocab.json"), **settings).save_pretrained(tmp_path / "reference")
    Wav2Vec2CTCTokenizer(tmp_path / "vocab.json", **settings).save_pretrained(tmp_path / "ours")
    assert _json_files(tmp_path / "ours") == _json_files(tmp_path / "reference")
    ids = [1, 3, 3, 0, 3, 2, 2, 6, 5]
    ours_from_reference = Wav2Vec2CTCTokenizer.from_pretrained(tmp_path / "reference")
    reference_from_ours = RefTokenizer.from_pretrained(tmp_path / "ours")
    assert ours_from_reference.get_vocab() == reference_from_ours.get_vocab()
    assert ours_from_reference.decode(ids) == reference_from_ours.decode(ids)
    assert ours_from_reference("AB abC")["input_ids"] == reference_from_ours("AB abC")["input_ids"]


# ------------------------------------------------------------------------------------------------- processor


@pytest.fixture
def processors(tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps(VOCAB), encoding="utf-8")
    reference = RefProcessor(
        RefExtractor(return_attention_mask=True), RefTokenizer(str(tmp_path / "vocab.json"))
    )
    ours = Wav2Vec2Processor(
        Wav2Vec2FeatureExtractor(return_attention_mask=True), Wav2Vec2CTCTokenizer(tmp_path / "vocab.json")
    )
    return reference, ours


def test_processor_call_matches_reference(processors):
    reference, ours = processors
    audio = _waveforms(np.random.default_rng(10), 3)
    text = ["HELLO THAT", "A", "TO HALT"]
    for return_tensors in ("np", "pt"):
        expected = reference(
            audio=audio, text=text, sampling_rate=16000, padding=True, return_tensors=return_tensors
        )
        actual = ours(
            audio=audio, text=text, sampling_rate=16000, padding=True, return_tensors=return_tensors
        )
        assert sorted(actual) == sorted(expected) == ["attention_mask", "input_values", "labels"]
        for key in actual:
            ours_array, reference_array = np.asarray(actual[key]), np.asarray(expected[key])
            assert ours_array.shape == reference_array.shape and ours_array.dtype == reference_array.dtype
            assert np.abs(ours_array - reference_array).max() <= TOLERANCE
    predicted = [[9, 9, 5, 0, 10, 10, 0, 10, 8, 4, 6, 9, 7, 0, 6]]
    assert ours.batch_decode(predicted) == reference.batch_decode(predicted)


def test_processor_files_identical_and_cross_loadable(processors, tmp_path):
    reference, ours = processors
    reference.save_pretrained(tmp_path / "reference")
    ours.save_pretrained(tmp_path / "ours")
    assert _json_files(tmp_path / "ours") == _json_files(tmp_path / "reference")
    ours_loaded = AutoProcessor.from_pretrained(tmp_path / "reference")
    assert isinstance(ours_loaded, Wav2Vec2Processor)
    assert ours_loaded.feature_extractor == ours.feature_extractor
    reference_loaded = RefProcessor.from_pretrained(tmp_path / "ours")
    assert reference_loaded.feature_extractor.to_dict() == reference.feature_extractor.to_dict()
    assert reference_loaded.tokenizer.get_vocab() == ours_loaded.tokenizer.get_vocab()
    audio = _waveforms(np.random.default_rng(11), 2)
    expected = reference_loaded(audio=audio, sampling_rate=16000, padding=True, return_tensors="np")
    actual = ours_loaded(audio=audio, sampling_rate=16000, padding=True, return_tensors="np")
    assert np.abs(actual["input_values"] - expected["input_values"]).max() <= TOLERANCE
