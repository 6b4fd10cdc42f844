"""DistilBertConfig: defaults, aliases, labels, validation and the JSON round trip."""

import json

import pytest

from distilkit.configuration import DistilBertConfig
from distilkit.errors import ConfigError


def test_defaults_and_aliases():
    config = DistilBertConfig()
    assert (config.vocab_size, config.dim, config.n_layers, config.n_heads, config.hidden_dim) == \
        (30522, 768, 6, 12, 3072)
    assert (config.dropout, config.attention_dropout, config.seq_classif_dropout, config.qa_dropout) == \
        (0.1, 0.1, 0.2, 0.1)
    assert config.activation == "gelu" and config.pad_token_id == 0 and config.tie_word_embeddings
    assert config.hidden_size == 768 and config.num_attention_heads == 12 and config.num_hidden_layers == 6
    config.hidden_size = 384
    assert config.dim == 384
    assert DistilBertConfig(num_hidden_layers=3).n_layers == 3
    assert "hidden_size" not in json.loads(config.to_json_string())


def test_docs_snippets():
    assert DistilBertConfig(n_heads=8, dim=512, hidden_dim=4 * 512).hidden_dim == 2048
    config = DistilBertConfig(activation="relu", attention_dropout=0.4)
    assert config.activation == "relu" and config.attention_dropout == 0.4
    assert str(config).startswith("DistilBertConfig {")


def test_labels():
    config = DistilBertConfig()
    assert config.num_labels == 2 and config.id2label == {0: "LABEL_0", 1: "LABEL_1"}
    config.num_labels = 4
    assert config.label2id == {f"LABEL_{i}": i for i in range(4)}
    named = DistilBertConfig(id2label={"0": "NEGATIVE", "1": "POSITIVE"})
    assert named.id2label == {0: "NEGATIVE", 1: "POSITIVE"} and named.label2id["POSITIVE"] == 1
    # the reference's rule when they disagree: num_labels wins
    assert DistilBertConfig(num_labels=3, id2label={0: "a", 1: "b"}).num_labels == 3


def test_round_trip_keeps_everything(tmp_path):
    config = DistilBertConfig(dim=64, n_heads=4, id2label={0: "NEG", 1: "NEU", 2: "POS"},
                              problem_type="single_label_classification", finetuning_task="sst2",
                              output_past=True)
    config.save_pretrained(save_directory=tmp_path)
    loaded = DistilBertConfig.from_pretrained(tmp_path / "config.json")
    assert loaded == config
    assert loaded.finetuning_task == "sst2" and loaded.output_past is True
    data = json.loads((tmp_path / "config.json").read_text())
    assert list(data) == sorted(data)
    assert data["model_type"] == "distilbert" and data["finetuning_task"] == "sst2"
    assert "return_dict" not in data and "output_hidden_states" not in data


def test_from_pretrained_keyword_overrides(tmp_path):
    DistilBertConfig().save_pretrained(tmp_path)
    config = DistilBertConfig.from_pretrained(tmp_path, activation="relu", attention_dropout=0.4)
    assert config.activation == "relu" and config.attention_dropout == 0.4
    config, unused = DistilBertConfig.from_pretrained(tmp_path, return_unused_kwargs=True, foo=1)
    assert unused == {"foo": 1}
    with pytest.raises(ConfigError, match="foo"):
        DistilBertConfig.from_pretrained(tmp_path, foo=1)


def test_torch_dtype_is_read_as_dtype_and_generation_keys_dropped():
    config = DistilBertConfig(torch_dtype="float16", max_length=20, num_beams=4)
    assert config.dtype == "float16"
    assert not hasattr(config, "num_beams")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"dim": 100}, "n_heads"),
        ({"dim": "768"}, "dim"),
        ({"dim": 768.0}, "dim"),
        ({"n_layers": True}, "n_layers"),
        ({"n_layers": 0}, "n_layers"),
        ({"vocab_size": -5}, "vocab_size"),
        ({"vocab_size": 10**12}, "vocab_size"),
        ({"hidden_dim": 10**9, "n_layers": 1000}, "hidden_dim"),
        ({"dropout": 1.5}, "dropout"),
        ({"activation": "os.system"}, "activation"),
        ({"problem_type": "ranking"}, "problem_type"),
        ({"problem_type": "single_label_classification", "num_labels": 1}, "num_labels"),
        ({"num_labels": 0}, "num_labels"),
        ({"pad_token_id": 30522}, "pad_token_id"),
        ({"dtype": "int8"}, "dtype"),
        ({"id2label": {"a": "x"}}, "id2label"),
    ],
)
def test_invalid_values_name_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        DistilBertConfig(**kwargs)


def test_bad_files_get_clear_errors(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        DistilBertConfig.from_pretrained(path)
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        DistilBertConfig.from_pretrained(path)
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="UTF-8"):
        DistilBertConfig.from_pretrained(path)
