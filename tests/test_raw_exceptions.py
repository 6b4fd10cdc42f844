"""Issue 12 item 7: inputs that used to reach the user as raw exceptions (TypeError, IndexError, a 31-line
traceback) or pass silently now end in a `DistilkitError` naming the value and the fix.

Header dtypes (F16 converted with a report, I64/BOOL refused) are covered in tests/security/test_config_bombs.py.
"""

import io
import json
import math

import pytest
import torch

from distilkit import DistilBertConfig, DistilBertForSequenceClassification, DistilBertModel, cli
from distilkit.errors import ConfigError, InputError
from distilkit.pipelines import pipeline
from distilkit.tokenization import DistilBertTokenizerFast

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "is", "a", "yes", "no"]
SIZES = dict(vocab_size=len(VOCAB), dim=32, n_layers=1, n_heads=4, hidden_dim=37, max_position_embeddings=16)


def tokenizer(vocab=None):
    return DistilBertTokenizerFast(vocab=vocab or {token: index for index, token in enumerate(VOCAB)})


@pytest.mark.parametrize("key", ["validate", "to_dict", "to_json_string", "_extra_keys"])
def test_config_keys_that_shadow_its_methods_are_refused(tmp_path, key):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "distilbert", key: {"x": 1}}))
    with pytest.raises(ConfigError, match=f"'{key}'"):
        DistilBertConfig.from_pretrained(tmp_path)


@pytest.mark.parametrize("value", [math.inf, math.nan, -0.1])
def test_initializer_range_must_be_finite(value):
    with pytest.raises(ConfigError, match="initializer_range"):
        DistilBertConfig(initializer_range=value)


@pytest.mark.parametrize("positions", [[[0, 1, 16]], [[-1, 0, 1]], [[0.0, 1.0, 2.0]]])
def test_position_ids_outside_the_table_are_an_input_error(positions):
    model = DistilBertModel(DistilBertConfig(**SIZES)).eval()
    with pytest.raises(InputError, match="position_ids"):
        model(input_ids=torch.tensor([[2, 5, 3]]), position_ids=torch.tensor(positions))
    assert model(input_ids=torch.tensor([[2, 5, 3]]), position_ids=torch.tensor([[0, 1, 15]])) is not None


@pytest.mark.parametrize("template", ["{} {}", "{1}", "{label}", "no slot", "{", "{0} and {}"])
def test_zero_shot_templates_need_exactly_one_label_slot(template):
    classifier = pipeline("zero-shot-classification", model=DistilBertForSequenceClassification(
        DistilBertConfig(**SIZES, id2label={0: "entailment", 1: "neutral", 2: "contradiction"})),
        tokenizer=tokenizer())
    with pytest.raises(InputError, match="hypothesis_template"):
        classifier("the cat sat", candidate_labels=["yes", "no"], hypothesis_template=template)
    assert classifier("the cat sat", candidate_labels=["yes", "no"], hypothesis_template="{0}, is it {0}?")


def test_a_sparse_id_tokenizer_larger_than_the_model_vocabulary_fails_at_build():
    sparse = {token: index for index, token in enumerate(VOCAB[:-1])}
    sparse[VOCAB[-1]] = 500  # 12 tokens, but ids up to 500
    model = DistilBertForSequenceClassification(DistilBertConfig(**SIZES))
    with pytest.raises(ConfigError, match="ids up to 500 .* holds 12"):
        pipeline("text-classification", model=model, tokenizer=tokenizer(sparse))


# -- the command line ------------------------------------------------------------------------------------------


def test_an_unexpected_error_is_one_line_with_a_hint(monkeypatch, capsys):
    def broken(arguments):
        raise RuntimeError("something deep broke")

    monkeypatch.setitem(cli.COMMANDS, "inspect", broken)
    monkeypatch.delenv("DISTILKIT_DEBUG", raising=False)
    assert cli.main(["inspect", "x"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "RuntimeError: something deep broke" in error and "--debug" in error
    with pytest.raises(RuntimeError):
        cli.main(["--debug", "inspect", "x"])
    monkeypatch.setenv("DISTILKIT_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli.main(["inspect", "x"])


def test_an_unknown_task_is_a_usage_error(capsys):
    assert cli.main(["run", "summarization", "some text"]) == 2
    assert "unknown task 'summarization'" in capsys.readouterr().err


def test_empty_stdin_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("\n  \n"))
    assert cli.main(["run", "sentiment-analysis", "--model", "unused"]) == 2
    assert "stdin held no text" in capsys.readouterr().err


def test_run_refuses_a_config_asking_for_more_labels_than_the_head_has(tmp_path, capsys):
    DistilBertForSequenceClassification(DistilBertConfig(**SIZES)).save_pretrained(tmp_path)
    tokenizer().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["id2label"] = {str(index): f"L{index}" for index in range(5)}
    config["label2id"] = {f"L{index}": index for index in range(5)}
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert cli.main(["run", "text-classification", "the cat", "--model", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "classifier.weight" in error and "more labels than the saved head" in error
