"""Wav2Vec2CTCTokenizer, Wav2Vec2Processor and AutoProcessor: encoding, CTC decoding, offsets, files."""

import json

import numpy as np
import pytest
import torch

from distilkit.errors import ConfigError, InputError
from distilkit.processors import (
    AutoProcessor,
    Wav2Vec2CTCTokenizer,
    Wav2Vec2CTCTokenizerOutput,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2Processor,
)

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
PAD, BOS, EOS, UNK, BAR, E, T, A, OH, H, L = range(11)


@pytest.fixture
def tokenizer():
    return Wav2Vec2CTCTokenizer(vocab=VOCAB)


def test_encode_maps_spaces_to_the_delimiter_and_unknown_characters_to_unk(tokenizer):
    assert tokenizer.tokenize("HE LO") == ["H", "E", "|", "L", "O"]
    assert tokenizer("HELLO THAT")["input_ids"] == [H, E, L, L, OH, BAR, T, H, A, T]
    assert tokenizer("hex")["input_ids"] == [UNK, UNK, UNK]
    assert tokenizer("HE <s> LO")["input_ids"] == [
        H,
        E,
        BOS,
        L,
        OH,
    ]  # multi-character entries eat nearby spaces
    lower = Wav2Vec2CTCTokenizer(vocab=VOCAB, do_lower_case=True)
    assert lower("hello")["input_ids"] == [H, E, L, L, OH]
    assert lower.decode([H, E, L, PAD, L, OH]) == "hello"


def test_batch_encoding_padding_and_truncation(tokenizer):
    batch = tokenizer(["HE", "HELLO"], padding=True, return_tensors="pt")
    assert batch["input_ids"].tolist() == [[H, E, PAD, PAD, PAD], [H, E, L, L, OH]]
    assert batch["attention_mask"].tolist() == [[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]]
    assert tokenizer(["HE"], padding="max_length", max_length=4)["input_ids"] == [[H, E, PAD, PAD]]
    assert tokenizer(["HE", "A"], padding=True, pad_to_multiple_of=3)["input_ids"] == [
        [H, E, PAD],
        [A, PAD, PAD],
    ]
    assert tokenizer("HELLO", truncation=True, max_length=3)["input_ids"] == [H, E, L]
    assert "attention_mask" not in tokenizer("HE", return_attention_mask=False)


def test_ctc_decode_merges_repeats_and_drops_blanks(tokenizer):
    assert tokenizer.decode([H, H, E, L, L, PAD, L, OH, OH, BAR, BAR, T, H, A, PAD, PAD, T]) == "HELLO THAT"
    assert tokenizer.decode([BAR, H, E, BAR]) == "HE"  # leading/trailing delimiters are stripped
    assert tokenizer.decode([H, H, E], group_tokens=False) == "HHE"
    assert tokenizer.decode([BOS, H, UNK, E, EOS]) == "<s>H<unk>E</s>"
    assert tokenizer.decode([BOS, H, UNK, E, EOS], skip_special_tokens=True) == "HE"
    assert tokenizer.decode([H, E, BAR, A], spaces_between_special_tokens=True) == "H E   A"
    assert tokenizer.decode([]) == "" and tokenizer.decode(np.int64(H)) == "H"
    assert tokenizer.decode(torch.tensor([H, E])) == tokenizer.decode(np.array([H, E])) == "HE"


def test_skip_special_tokens_keeps_blank_separated_repeats(tokenizer):
    hello = [H, E, L, PAD, L, OH, EOS]
    assert tokenizer.decode(hello, skip_special_tokens=True) == "HELLO"
    assert tokenizer.decode([L, BOS, L], skip_special_tokens=True) == "LL"  # two emitted L's stay two


def test_offsets_count_frames(tokenizer):
    ids = [BAR, H, H, E, PAD, BAR, BAR, A, PAD, BAR]
    output = tokenizer.decode(ids, output_char_offsets=True, output_word_offsets=True)
    assert isinstance(output, Wav2Vec2CTCTokenizerOutput) and output.text == "HE A"
    assert output["char_offsets"] == [
        {"char": " ", "start_offset": 0, "end_offset": 1},
        {"char": "H", "start_offset": 1, "end_offset": 3},
        {"char": "E", "start_offset": 3, "end_offset": 4},
        {"char": " ", "start_offset": 5, "end_offset": 7},
        {"char": "A", "start_offset": 7, "end_offset": 8},
        {"char": " ", "start_offset": 9, "end_offset": 10},
    ]
    assert output.word_offsets == [
        {"word": "HE", "start_offset": 1, "end_offset": 4},
        {"word": "A", "start_offset": 7, "end_offset": 8},
    ]
    skipped = tokenizer.decode([BOS, H, E], skip_special_tokens=True, output_char_offsets=True)
    assert skipped.char_offsets[0] == {"char": "H", "start_offset": 1, "end_offset": 2}  # frames of the input
    assert tokenizer.decode([H], output_word_offsets=True).char_offsets is None


def test_batch_decode(tokenizer):
    predicted = torch.tensor([[H, E, E, PAD], [A, A, PAD, T]])
    assert tokenizer.batch_decode(predicted) == ["HE", "AT"]
    assert tokenizer.batch_decode([[H], [T, PAD, T]]) == ["H", "TT"]
    with_words = tokenizer.batch_decode(predicted.numpy(), output_word_offsets=True)
    assert with_words.text == ["HE", "AT"] and with_words.char_offsets is None
    assert with_words.word_offsets == [
        [{"word": "HE", "start_offset": 0, "end_offset": 3}],
        [{"word": "AT", "start_offset": 0, "end_offset": 4}],
    ]


def test_clean_up_tokenization_spaces():
    vocab = {**VOCAB, ".": 12}
    tokenizer = Wav2Vec2CTCTokenizer(vocab=vocab)
    assert tokenizer.decode([H, E, BAR, 12]) == "HE ."
    assert tokenizer.decode([H, E, BAR, 12], clean_up_tokenization_spaces=True) == "HE."


def test_vocabulary_accessors(tokenizer):
    assert (
        tokenizer.pad_token_id,
        tokenizer.unk_token_id,
        tokenizer.bos_token_id,
        tokenizer.eos_token_id,
        tokenizer.word_delimiter_token_id,
    ) == (PAD, UNK, BOS, EOS, BAR)
    assert len(tokenizer) == tokenizer.vocab_size == 12
    assert tokenizer.all_special_tokens == ["<s>", "</s>", "<unk>", "<pad>"]
    assert tokenizer.convert_ids_to_tokens([BAR, PAD, H], skip_special_tokens=True) == ["|", "H"]
    assert tokenizer.convert_tokens_to_ids(["H", "Z"]) == [H, UNK]


def test_missing_bos_eos_are_appended_and_round_trip(tmp_path):
    vocab = {"[PAD]": 0, "[UNK]": 1, "|": 2, "A": 3, "B": 4, "ab": 5}
    tokenizer = Wav2Vec2CTCTokenizer(vocab=vocab, pad_token="[PAD]", unk_token="[UNK]")
    assert tokenizer.get_vocab()["<s>"] == 6 and tokenizer.get_vocab()["</s>"] == 7 and len(tokenizer) == 8
    assert tokenizer("xab <s> A")["input_ids"] == [1, 5, 6, 2, 3]
    tokenizer.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "added_tokens.json").read_text()) == {"<s>": 6, "</s>": 7}
    loaded = Wav2Vec2CTCTokenizer.from_pretrained(tmp_path)
    assert (
        loaded.get_vocab() == tokenizer.get_vocab()
        and loaded.tokenizer_config() == tokenizer.tokenizer_config()
    )


def test_legacy_files_and_overrides(tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps(VOCAB))
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "do_lower_case": True,
                "return_attention_mask": False,
                "unk_token": {"content": "<unk>", "lstrip": False},
            }
        )
    )
    (tmp_path / "special_tokens_map.json").write_text(json.dumps({"pad_token": "<pad>", "bos_token": "<s>"}))
    loaded = Wav2Vec2CTCTokenizer.from_pretrained(tmp_path)
    assert loaded.do_lower_case is True and loaded.unk_token == "<unk>"
    assert loaded.tokenizer_config()["return_attention_mask"] is False  # unknown keys are written back
    assert Wav2Vec2CTCTokenizer.from_pretrained(tmp_path, do_lower_case=False).do_lower_case is False
    with pytest.raises(ConfigError, match="no setting"):
        Wav2Vec2CTCTokenizer.from_pretrained(tmp_path, lowercase=True)


def test_multilingual_vocabulary_needs_target_lang(tmp_path):
    nested = {"eng": VOCAB, "fra": {**VOCAB, "É": 12}}
    tokenizer = Wav2Vec2CTCTokenizer(vocab=nested, target_lang="fra")
    assert tokenizer("É")["input_ids"] == [12]
    tokenizer.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8")) == nested
    assert Wav2Vec2CTCTokenizer.from_pretrained(tmp_path).target_lang == "fra"


@pytest.fixture
def processor():
    return Wav2Vec2Processor(
        Wav2Vec2FeatureExtractor(return_attention_mask=True), Wav2Vec2CTCTokenizer(vocab=VOCAB)
    )


def test_processor_call_returns_input_values_and_labels(processor):
    audio = [np.linspace(-1, 1, 8), np.array([0.5, -0.5, 0.25])]
    batch = processor(
        audio=audio, text=["HELLO", "A"], sampling_rate=16000, padding=True, return_tensors="pt"
    )
    assert sorted(batch) == ["attention_mask", "input_values", "labels"]
    assert batch["input_values"].shape == (2, 8)
    assert batch["labels"].tolist() == [[H, E, L, L, OH], [A, PAD, PAD, PAD, PAD]]
    assert sorted(processor(audio[0], sampling_rate=16000)) == ["attention_mask", "input_values"]
    assert processor(text="HE")["input_ids"] == [H, E]
    assert processor.batch_decode([[H, E, PAD, E]]) == ["HEE"] and processor.decode([A]) == "A"
    assert processor.model_input_names == ["input_values", "attention_mask", "labels"]
    with pytest.raises(InputError, match="audio= .*text="):
        processor()
    with pytest.raises(InputError, match="Unknown argument"):
        processor(text="HE", paddding=True)


def test_processor_pad_for_ctc_collators(processor):
    features = [{"input_values": [0.1, 0.2, 0.3]}, {"input_values": [0.4]}]
    labels = [{"input_ids": [H, E]}, {"input_ids": [A]}]
    batch = processor.pad(features, labels=labels, return_tensors="pt")
    assert batch["input_values"].shape == (2, 3) and batch["labels"].tolist() == [[H, E], [A, PAD]]


def test_processor_save_load_round_trip(processor, tmp_path):
    written = processor.save_pretrained(tmp_path)
    assert sorted(path.rsplit("/", 1)[-1] for path in written) == [
        "processor_config.json",
        "tokenizer_config.json",
        "vocab.json",
    ]
    saved = json.loads((tmp_path / "processor_config.json").read_text())
    assert (
        saved["processor_class"] == "Wav2Vec2Processor"
        and saved["feature_extractor"]["return_attention_mask"]
    )
    assert (
        json.loads((tmp_path / "tokenizer_config.json").read_text())["processor_class"] == "Wav2Vec2Processor"
    )
    for loaded in (Wav2Vec2Processor.from_pretrained(tmp_path), AutoProcessor.from_pretrained(tmp_path)):
        assert isinstance(loaded, Wav2Vec2Processor)
        assert loaded.feature_extractor == processor.feature_extractor
        assert loaded.tokenizer.tokenizer_config() == processor.tokenizer.tokenizer_config()
    assert (
        Wav2Vec2Processor.from_pretrained(tmp_path, do_normalize=False).feature_extractor.do_normalize
        is False
    )


def test_auto_processor_on_the_older_layout(tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps(VOCAB))
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "feature_extractor_type": "Wav2Vec2FeatureExtractor",
                "processor_class": "Wav2Vec2Processor",
                "sampling_rate": 16000,
            }
        )
    )
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded, Wav2Vec2Processor) and loaded.tokenizer.vocab_size == 12
    del_processor_class = tmp_path / "preprocessor_config.json"
    del_processor_class.write_text(json.dumps({"feature_extractor_type": "Wav2Vec2FeatureExtractor"}))
    assert isinstance(AutoProcessor.from_pretrained(tmp_path), Wav2Vec2FeatureExtractor)
    del_processor_class.write_text(json.dumps({"processor_class": "WhisperProcessor"}))
    with pytest.raises(ConfigError, match="not registered"):
        AutoProcessor.from_pretrained(tmp_path)
