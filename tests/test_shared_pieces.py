"""One home per shared mechanism and constant (issue 12, item 9), checked on the source, and the Auto classes
agreeing on unknown model types.

Before: four "no limit" sentinels, three copies of the decode clean-up table, two HUB_KWARGS, two dtype tables, and
six writers each with their own temporary-file scheme (most with a fixed `.tmp` name and no fsync).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from distilkit import AutoConfig, AutoTokenizer, constants
from distilkit.errors import CheckpointError, ConfigError
from distilkit.tokenization.base import clean_up_tokenization, wordpiece_decode

PACKAGE = Path(__file__).resolve().parent.parent / "distilkit"
SOURCES = {path.relative_to(PACKAGE).as_posix(): path.read_text(encoding="utf-8") for path in PACKAGE.rglob("*.py")}

# Definitions that must appear in one module only.
ONE_HOME = {
    "the no-limit sentinel": (r"int\(1e(20|30)\)", "constants.py"),
    "the clean-up table": (r"""\(\s*" n't",\s*"n't"\s*\)""", "constants.py"),
    "the hub keyword arguments": (r"^\s*HUB_KWARGS\s*=", "constants.py"),
    "the dtype names": (r"""\(\s*"float32",\s*"float16",\s*"bfloat16",\s*"float64"\s*\)""", "constants.py"),
    "unique temporary files": (r"\bmkstemp\(", "_io.py"),
    "a fixed temporary-file name": (r"""with_name\(f?["']\.[^"']*\.tmp["']\)""", None),
    "swapping a finished folder into place": (r"suffix=\".old\"", "_io.py"),
}


@pytest.mark.parametrize("what", ONE_HOME)
def test_each_shared_piece_is_defined_in_one_place(what):
    pattern, home = ONE_HOME[what]
    found = sorted(name for name, text in SOURCES.items() if re.search(pattern, text, re.MULTILINE))
    assert found == ([home] if home else []), f"{what} is defined in {found}; keep it in {home or 'no module'}"


def test_the_shared_clean_up_tables_give_the_reference_results():
    assert clean_up_tokenization("hello , world ! it ' s we 're") == "hello, world! it's we're"
    assert wordpiece_decode(["i", "do", "not", "know", "."]) == "i do not know."  # per token: no " do not" pair
    assert wordpiece_decode(["[CLS]", "hello", ",", "wor", "##ld", "[SEP]"]) == "[CLS] hello, world [SEP]"
    assert (" do not", " don't") in constants.WORDPIECE_DECODER_REPLACEMENTS
    assert constants.is_unlimited(constants.VERY_LARGE_INTEGER) and not constants.is_unlimited(512)


def test_auto_tokenizer_refuses_an_unknown_model_type_as_auto_config_does(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n")
    with pytest.raises(ConfigError, match="model_type='gpt2', which is not registered"):
        AutoConfig.from_pretrained(tmp_path)
    with pytest.raises(ConfigError, match=r"model_type='gpt2', which has no registered tokenizer \(known: distilbert\)"):
        AutoTokenizer.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "distilbert"}))
    assert AutoTokenizer.from_pretrained(tmp_path).convert_tokens_to_ids("hello") == 5
    (tmp_path / "config.json").unlink()  # a tokenizer-only folder still loads as the DistilBERT tokenizer
    assert AutoTokenizer.from_pretrained(tmp_path).convert_tokens_to_ids("hello") == 5


def test_deeply_nested_json_is_a_clear_error_for_processor_configs_and_weight_indexes(tmp_path):
    from distilkit.checkpoint import find_weight_files
    from distilkit.processors import ViTImageProcessor

    nested = '{"a": ' * 100_000 + "1" + "}" * 100_000
    (tmp_path / "preprocessor_config.json").write_text(nested)
    with pytest.raises(ConfigError, match="nested too deeply"):
        ViTImageProcessor.from_pretrained(tmp_path)
    (tmp_path / "model.safetensors.index.json").write_text(nested)
    with pytest.raises(CheckpointError, match="not a valid JSON weight index: RecursionError"):
        find_weight_files(tmp_path)
