"""The `distilkit` command: usage errors, inspect, convert (run/train/models are tested with their layers)."""

import json
import subprocess
import sys

import pytest

from distilkit import DistilBertConfig, DistilBertForSequenceClassification
from distilkit.cli import main


def run_cli(*arguments):
    return subprocess.run([sys.executable, "-m", "distilkit.cli", *arguments], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("arguments", [["bogus"], ["run"], ["inspect"], ["models", "build"],
                                       ["run", "sentiment-analysis", "--batch-size", "x"], ["--nope", "models"]])
def test_usage_errors_exit_2_with_one_line(arguments, capsys):
    assert main(arguments) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("distilkit: error:") and "\n" not in error


def test_failures_exit_1_and_debug_shows_traceback(tmp_path):
    missing = str(tmp_path / "no-such-model")
    result = run_cli("inspect", missing)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    result = run_cli("--debug", "inspect", missing)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_unreadable_file_is_a_usage_error(tmp_path, capsys):
    assert main(["run", "sentiment-analysis", "--file", str(tmp_path / "absent.txt")]) == 2
    assert "cannot read --file" in capsys.readouterr().err


def test_inspect_shows_tree_counts_and_config(tiny_kwargs, tmp_path, capsys):
    model = DistilBertForSequenceClassification(DistilBertConfig(**tiny_kwargs, num_labels=3))
    model.save_pretrained(tmp_path)
    assert main(["inspect", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    assert str(model) in output
    assert main(["inspect", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["class"] == "DistilBertForSequenceClassification"
    assert report["parameters"]["total"] == model.num_parameters()
    assert report["parameters"]["classifier"] == 32 * 3 + 3
    assert report["config"]["n_layers"] == 2


def test_convert_command(tmp_path, capsys):
    transformers = pytest.importorskip("transformers")
    transformers.BertModel(transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1,
                                                   num_attention_heads=4, intermediate_size=37)
                           ).save_pretrained(tmp_path / "bert")
    assert main(["convert", str(tmp_path / "bert"), str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "model.safetensors").is_file()
    assert main(["convert", str(tmp_path / "missing"), str(tmp_path / "out2")]) == 2


@pytest.fixture
def tiny_classifier_dir(tiny_kwargs, tmp_path):
    from distilkit import DistilBertTokenizerFast

    words = "[PAD] [UNK] [CLS] [SEP] [MASK] good bad movie the".split()
    tokenizer = DistilBertTokenizerFast(vocab={word: index for index, word in enumerate(words)})
    model = DistilBertForSequenceClassification(DistilBertConfig(**dict(tiny_kwargs, vocab_size=len(words)),
                                                                 id2label={0: "NEG", 1: "POS"}))
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def test_run_with_options_after_texts(tiny_classifier_dir, capsys):
    assert main(["run", "sentiment-analysis", "good movie", "bad movie", "--model", str(tiny_classifier_dir),
                 "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["input"] for line in lines] == ["good movie", "bad movie"]
    assert all(line["output"]["label"] in ("NEG", "POS") for line in lines)  # top-1 dict per input, as the reference
    assert main(["run", "sentiment-analysis", "--model", str(tiny_classifier_dir), "--top-k", "2", "good"]) == 0
    table = capsys.readouterr().out
    assert "label=NEG" in table and "label=POS" in table


def test_run_reads_a_file(tiny_classifier_dir, tmp_path, capsys):
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("good movie\n\nbad\n")
    assert main(["run", "sentiment-analysis", "--model", str(tiny_classifier_dir), "--file", str(inputs)]) == 0
    output = capsys.readouterr().out
    assert "good movie" in output and "bad" in output


def test_models_list_and_path(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DISTILKIT_MODELS", str(tmp_path))
    assert main(["models", "list"]) == 0
    listing = capsys.readouterr().out
    for name in ("sentiment", "ner", "embeddings", "fill-mask"):
        assert name in listing
    assert main(["models", "path", "sentiment"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "sentiment")
    assert main(["models", "build", "nope"]) == 2
