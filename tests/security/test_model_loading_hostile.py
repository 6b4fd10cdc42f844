"""Hostile checkpoints through the model API: pickle refused (and never executed), corrupt files reported,
paths kept inside the model directory."""

import pickle

import pytest
import torch

from distilkit import DistilBertConfig, DistilBertModel
from distilkit.auto import AutoModel
from distilkit.errors import CheckpointError


class WritesMarker:
    """Unpickling this runs `open(marker, "w")` — what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def pickle_only_dir(tmp_path, tiny_kwargs):
    directory = tmp_path / "model"
    DistilBertConfig(**tiny_kwargs).save_pretrained(directory)
    with open(directory / "pytorch_model.bin", "wb") as handle:
        pickle.dump({"weights": WritesMarker(tmp_path / "pwned")}, handle)
    return directory


def test_pickle_checkpoint_is_refused_and_never_run(tmp_path, tiny_kwargs):
    directory = pickle_only_dir(tmp_path, tiny_kwargs)
    with pytest.raises(CheckpointError, match="allow_pickle"):
        DistilBertModel.from_pretrained(directory)
    with pytest.raises(CheckpointError):
        AutoModel.from_pretrained(directory, allow_pickle=True)  # weights_only=True refuses the payload
    assert not (tmp_path / "pwned").exists()


def test_safe_pickle_checkpoint_loads_on_opt_in(tmp_path, tiny_kwargs):
    model = DistilBertModel(DistilBertConfig(**tiny_kwargs)).eval()
    directory = tmp_path / "model"
    model.config.save_pretrained(directory)
    torch.save(model.state_dict(), directory / "pytorch_model.bin")
    loaded = DistilBertModel.from_pretrained(directory, allow_pickle=True)
    ids = torch.randint(1, 99, (1, 5))
    assert torch.equal(loaded(input_ids=ids)[0], model(input_ids=ids)[0])


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "header"])
def test_corrupt_safetensors_name_the_file(damage, tmp_path, tiny_kwargs):
    DistilBertModel(DistilBertConfig(**tiny_kwargs)).save_pretrained(tmp_path)
    path = tmp_path / "model.safetensors"
    data = path.read_bytes()
    corrupted = {"truncate": data[: len(data) // 2], "garbage": bytes(range(256)) * 4, "empty": b"",
                 "header": (10**12).to_bytes(8, "little") + data[8:]}[damage]
    path.write_bytes(corrupted)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        DistilBertModel.from_pretrained(tmp_path)


@pytest.mark.parametrize("name", ["../../etc", "a/b/c/d", "..", "/absolute/../x", "name with spaces"])
def test_model_ids_cannot_escape(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError):
        DistilBertModel.from_pretrained(name, cache_dir=tmp_path)


def test_index_shard_names_cannot_escape(tmp_path, tiny_kwargs):
    DistilBertModel(DistilBertConfig(**tiny_kwargs)).save_pretrained(tmp_path / "model", max_shard_size="20KB")
    index = tmp_path / "model" / "model.safetensors.index.json"
    index.write_text(index.read_text().replace("model-00001", "../outside/model-00001", 1))
    with pytest.raises(CheckpointError):
        DistilBertModel.from_pretrained(tmp_path / "model")
