"""Issue 12 item 5: a config must not take the machine's memory. Every tensor (heads and `num_labels` included)
counts towards `DISTILKIT_MAX_PARAMETERS`, label tables are bounded before they are built, and a checkpoint's
header shapes are compared with the config before the model is allocated."""

import json
import resource
import time

import pytest
import torch
from safetensors.torch import save_file

from distilkit import AutoConfig, DistilBertConfig, DistilBertForMaskedLM, DistilBertForSequenceClassification
from distilkit.auto import AutoModelForSequenceClassification
from distilkit.errors import CheckpointError, ConfigError


def write_config(directory, **fields):
    directory.mkdir(exist_ok=True)
    (directory / "config.json").write_text(json.dumps({"model_type": "distilbert", **fields}), encoding="utf-8")
    return directory


@pytest.mark.parametrize("fields", [
    {"max_position_embeddings": 10**9},
    {"hidden_dim": 2 * 10**8},
    {"n_layers": 9000},
    {"vocab_size": 10**12},
])
def test_oversized_configs_fail_in_autoconfig(tmp_path, fields):
    with pytest.raises(ConfigError, match="DISTILKIT_MAX_PARAMETERS"):
        AutoConfig.from_pretrained(write_config(tmp_path / "model", **fields))


def test_a_huge_num_labels_fails_fast_without_building_label_tables(tmp_path):
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="DISTILKIT_MAX_LABELS"):
        AutoConfig.from_pretrained(write_config(tmp_path / "model", num_labels=100_000_000))
    with pytest.raises(ConfigError, match="DISTILKIT_MAX_LABELS"):
        DistilBertConfig().num_labels = 10**9
    assert time.perf_counter() - started < 1.0


def test_the_head_counts_towards_the_cap(monkeypatch, tiny_kwargs):
    # a classifier of 100k labels on dim 32 is 3.3M parameters: the encoder alone would pass a 1M cap
    monkeypatch.setenv("DISTILKIT_MAX_PARAMETERS", "1000000")
    DistilBertConfig(**tiny_kwargs)
    with pytest.raises(ConfigError, match="num_labels=100000"):
        DistilBertConfig(**tiny_kwargs, num_labels=100_000)


@pytest.mark.parametrize("overrides", [{}, {"tie_word_embeddings": False, "num_labels": 7}])
def test_the_count_is_exact(tiny_kwargs, overrides):
    config = DistilBertConfig(**tiny_kwargs, **overrides)
    sizes = [sum(tensor.numel() for tensor in [*model.parameters(), *model.buffers()])
             for model in (DistilBertForMaskedLM(config), DistilBertForSequenceClassification(config))]
    assert config.largest_model_size() == max(sizes)


def test_the_cap_is_a_setting(monkeypatch, tiny_kwargs):
    monkeypatch.setenv("DISTILKIT_MAX_PARAMETERS", "1000")
    with pytest.raises(ConfigError, match="over the limit of 1,000"):
        DistilBertConfig(**tiny_kwargs)
    monkeypatch.setenv("DISTILKIT_MAX_PARAMETERS", "lots")
    with pytest.raises(ConfigError, match="DISTILKIT_MAX_PARAMETERS='lots'"):
        DistilBertConfig(**tiny_kwargs)


def test_checkpoint_shapes_are_checked_before_the_model_is_allocated(tmp_path, tiny_kwargs):
    directory = tmp_path / "model"
    DistilBertForSequenceClassification(DistilBertConfig(**tiny_kwargs)).save_pretrained(directory)
    # within the parameter cap, but 40M positions x dim 32 would allocate ~10 GB (model and init) for nothing
    config = json.loads((directory / "config.json").read_text())
    config["max_position_embeddings"] = 40_000_000
    (directory / "config.json").write_text(json.dumps(config))
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match=r"position_embeddings.weight: checkpoint \[40, 32\] vs model "
                                              r"\[40000000, 32\]"):
        AutoModelForSequenceClassification.from_pretrained(directory)
    assert time.perf_counter() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 500_000


def test_header_dtypes_are_converted_with_a_report_or_refused(tmp_path, tiny_kwargs, caplog):
    directory = tmp_path / "model"
    model = DistilBertForSequenceClassification(DistilBertConfig(**tiny_kwargs))
    model.save_pretrained(directory)
    state = {key: value.to(torch.float16) for key, value in model.state_dict().items()
             if key != "distilbert.embeddings.position_ids"}
    config = json.loads((directory / "config.json").read_text())
    config.pop("dtype", None)
    (directory / "config.json").write_text(json.dumps(config))
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    with caplog.at_level("WARNING"):
        loaded = DistilBertForSequenceClassification.from_pretrained(directory)
    assert loaded.dtype == torch.float32
    assert "from float16 to float32" in caplog.text
    for bad in (torch.int64, torch.bool):
        state["distilbert.embeddings.word_embeddings.weight"] = torch.ones(99, 32, dtype=bad)
        save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
        with pytest.raises(CheckpointError, match=r"word_embeddings.weight \((I64|BOOL)\)"):
            DistilBertForSequenceClassification.from_pretrained(directory)
