"""Default-model cache: built once, reused, damaged copies detected and rebuilt, interrupted builds leave nothing."""

import hashlib
import shutil

import pytest
import torch
from safetensors.torch import save_file

from distilkit.errors import CheckpointError, DistilkitError
from distilkit.models import assets, recipes, registry
from distilkit.models.registry import Recipe


@pytest.fixture
def counting_recipe(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILKIT_MODELS", str(tmp_path / "models"))
    builds = []

    def build(folder):
        builds.append(folder)
        (folder / "weights.bin").write_bytes(b"\x00" * 100)
        (folder / "sub").mkdir()
        (folder / "sub" / "notes.txt").write_text("hello")
        return {"recipe": "toy"}

    monkeypatch.setitem(recipes.RECIPES, "toy", Recipe("toy", "a toy model", build))
    return builds


def test_built_once_then_reused(counting_recipe, tmp_path):
    first = registry.ensure("toy")
    assert first == tmp_path / "models" / "toy" and registry.is_built("toy")
    assert registry.ensure("toy") == first
    assert len(counting_recipe) == 1


@pytest.mark.parametrize("damage", ["edit", "delete", "manifest"])
def test_damaged_copy_is_detected_and_rebuilt(damage, counting_recipe):
    folder = registry.ensure("toy")
    if damage == "edit":
        (folder / "weights.bin").write_bytes(b"\x01" * 100)
    elif damage == "delete":
        (folder / "sub" / "notes.txt").unlink()
    else:
        (folder / registry.MANIFEST).write_text("{broken")
    assert not registry.is_built("toy")
    assert registry.ensure("toy") == folder and registry.is_built("toy")
    assert len(counting_recipe) == 2


def test_failed_build_leaves_no_partial_model(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILKIT_MODELS", str(tmp_path / "models"))

    def build(folder):
        (folder / "half.bin").write_bytes(b"x")
        raise DistilkitError("download failed")

    monkeypatch.setitem(recipes.RECIPES, "broken", Recipe("broken", "fails", build))
    with pytest.raises(DistilkitError, match="download failed"):
        registry.ensure("broken")
    assert [path.name for path in (tmp_path / "models").iterdir()] == [".broken.lock"]  # only the build lock


def test_unknown_name(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILKIT_MODELS", str(tmp_path))
    with pytest.raises(DistilkitError, match="unknown default model"):
        registry.model_dir("nope")


# -- issue 12, item 3: damaged assets and non-finite weights never become a cached default model ---------------------

def test_a_build_whose_weights_hold_nan_is_refused_and_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILKIT_MODELS", str(tmp_path / "models"))

    def build(folder):
        save_file({"encoder.weight": torch.tensor([[0.5, float("nan")], [1.0, 2.0]])}, folder / "model.safetensors")
        return {"recipe": "diverged"}

    monkeypatch.setitem(recipes.RECIPES, "diverged", Recipe("diverged", "NaN weights", build))
    with pytest.raises(CheckpointError, match=r"'diverged' just built \(model.safetensors\).*encoder.weight"):
        registry.ensure("diverged")
    assert [path.name for path in (tmp_path / "models").iterdir()] == [".diverged.lock"]  # only the build lock


def test_a_damaged_cached_minilm_stops_the_embeddings_build(tmp_path, monkeypatch):
    """Before: 0xff over part of the cached model.safetensors built an embeddings model that returned NaN."""
    source = assets.minilm_dir()
    monkeypatch.setenv("DISTILKIT_CACHE", str(tmp_path / "assets"))
    monkeypatch.setenv("DISTILKIT_MODELS", str(tmp_path / "models"))
    shutil.copytree(source, tmp_path / "assets" / "minilm-l6-v2")
    weights = tmp_path / "assets" / "minilm-l6-v2" / "model.safetensors"
    expected = hashlib.sha256(weights.read_bytes()).hexdigest()
    with open(weights, "r+b") as handle:
        handle.seek(1_000_000)
        handle.write(b"\xff" * 4096)
    found = hashlib.sha256(weights.read_bytes()).hexdigest()
    with pytest.raises(DistilkitError, match=f"minilm-l6-v2/model.safetensors .* expected {expected}, found {found}"):
        registry.build("embeddings")
    assert not (tmp_path / "models" / "embeddings").exists()
