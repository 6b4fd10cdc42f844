"""Default-model cache: built once, reused, damaged copies detected and rebuilt, interrupted builds leave nothing."""

import pytest

from distilkit.errors import DistilkitError
from distilkit.models import recipes, registry
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

    monkeypatch.setitem(recipes.RECIPES, "toy", Recipe("toy", "a toy model", 1, build))
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

    monkeypatch.setitem(recipes.RECIPES, "broken", Recipe("broken", "fails", 1, build))
    with pytest.raises(DistilkitError, match="download failed"):
        registry.ensure("broken")
    assert list((tmp_path / "models").iterdir()) == []


def test_unknown_name(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILKIT_MODELS", str(tmp_path))
    with pytest.raises(DistilkitError, match="unknown default model"):
        registry.model_dir("nope")
