"""Everyday mistakes and first-use experience (issue 15): config typos, devices, fast failures, model transfer,
build coordination, language coverage warnings, progress, and docstrings."""

import json

import pytest

from distilkit.configuration import DistilBertConfig
from distilkit.errors import ConfigError


@pytest.mark.parametrize("kwargs, typo, field", [
    ({"num_label": 10}, "num_label", "num_labels"),
    ({"hidden_dims": 1024}, "hidden_dims", "hidden_dim"),
    ({"n_head": 8, "dim": 512}, "n_head", "n_heads"),
    ({"n_layer": 3}, "n_layer", "n_layers"),
    ({"hiden_size": 64}, "hiden_size", "hidden_size"),
    ({"activaiton": "relu"}, "activaiton", "activation"),
    ({"max_position_embedings": 64}, "max_position_embedings", "max_position_embeddings"),
    ({"id2labels": {0: "A"}}, "id2labels", "id2label"),
])
def test_config_typo_names_the_field(kwargs, typo, field):
    with pytest.raises(ConfigError, match=f"^{typo}: did you mean {field}\\?"):
        DistilBertConfig(**kwargs)


def test_config_unknown_keys_far_from_any_field_are_kept(tmp_path):
    # keys real hub configs carry: kept and written back, as the reference does
    extra = {"finetuning_task": "sst2", "output_past": True, "tie_weights_": True, "cls_token_id": 101,
             "sep_token_id": 102, "hidden_act": "gelu", "type_vocab_size": 2, "my_note": "x"}
    config = DistilBertConfig(num_labels=10, **extra)
    assert config.num_labels == 10
    config.save_pretrained(tmp_path)
    written = json.loads((tmp_path / "config.json").read_text())
    assert {key: written[key] for key in extra} == extra
    assert DistilBertConfig.from_pretrained(tmp_path).cls_token_id == 101
