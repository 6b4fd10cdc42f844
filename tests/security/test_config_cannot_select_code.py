"""A config file can never choose code to import (CVE-2026-4372-style attacks): such keys are refused."""

import json
import sys

import pytest

from distilkit.auto import AutoConfig, AutoModel
from distilkit.configuration import DistilBertConfig
from distilkit.errors import ConfigError


@pytest.mark.parametrize("key", ["auto_map", "trust_remote_code", "_attn_implementation_internal",
                                 "_attn_implementation", "custom_pipelines"])
def test_code_selecting_keys_are_refused(key, tmp_path):
    sentinel = "distilkit_sentinel_module_never_imported"
    data = DistilBertConfig(n_layers=1, dim=32, n_heads=4, hidden_dim=37, vocab_size=99).to_dict()
    data[key] = {"AutoModel": f"{sentinel}.Model"} if key in ("auto_map", "custom_pipelines") else sentinel
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=key):
        AutoConfig.from_pretrained(tmp_path)
    with pytest.raises(ConfigError, match=key):
        AutoModel.from_pretrained(tmp_path)
    assert sentinel not in sys.modules


def test_unknown_model_type_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "evil.module.Class"}))
    with pytest.raises(ConfigError, match="not registered"):
        AutoConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"dim": 32}))
    with pytest.raises(ConfigError, match="model_type"):
        AutoModel.from_pretrained(tmp_path)
