"""distilkit.hub: local directories, path escapes, Hub ids, a pre-populated HF cache; never the network."""

import os
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub.constants
import pytest
from huggingface_hub.errors import (
    LocalEntryNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
)

from distilkit import hub
from distilkit.errors import CheckpointError, InputError
from distilkit.hub import hub_cache_dir, is_local, resolve_file, resolve_repo_files

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def cache_repo(
    cache: Path, repo_id: str, files: dict[str, bytes], revision: str = "main", commit: str = COMMIT
):
    """Lay out a repo as huggingface_hub stores it: blobs/, refs/<revision>, snapshots/<commit>/ symlinks."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    for number, (name, content) in enumerate(files.items()):
        blob = repo / "blobs" / f"blob{number:04d}{revision}"
        blob.write_bytes(content)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot


# ---------------------------------------------------------------- local directories


def test_local_directory_file_is_returned(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert resolve_file(tmp_path, "config.json") == tmp_path / "config.json"
    assert resolve_file(str(tmp_path), "config.json") == tmp_path / "config.json"


def test_local_directory_subfolder_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "vocab.txt").write_text("[PAD]\n")
    assert resolve_file(tmp_path, "sub/vocab.txt") == tmp_path / "sub" / "vocab.txt"


def test_local_missing_file_required_and_optional(tmp_path):
    with pytest.raises(CheckpointError, match="has no file 'model.safetensors'") as caught:
        resolve_file(tmp_path, "model.safetensors")
    assert str(tmp_path) in str(caught.value)
    assert resolve_file(tmp_path, "model.safetensors", required=False) is None


def test_local_file_given_instead_of_directory(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="is a file"):
        resolve_file(tmp_path / "config.json", "config.json")


def test_is_local(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert is_local(tmp_path)
    assert is_local(str(tmp_path / "config.json"))
    assert not is_local(tmp_path / "absent")
    assert not is_local("distilbert/distilbert-base-uncased")


def test_wrong_type_is_input_error():
    with pytest.raises(InputError, match="NoneType"):
        resolve_file(None, "config.json")


# ---------------------------------------------------------------- path escapes


@pytest.mark.parametrize(
    "filename",
    [
        "../secret.txt",
        "sub/../../secret.txt",
        "/etc/passwd",
        "..",
        "C:\\Windows\\win.ini",
        "a\\..\\..\\b",
        "D:foo",
    ],
)
def test_filenames_escaping_the_directory_are_refused(tmp_path, filename):
    model = tmp_path / "model"
    model.mkdir()
    (tmp_path / "secret.txt").write_text("secret")
    with pytest.raises(CheckpointError, match="outside the model directory"):
        resolve_file(model, filename)


@pytest.mark.parametrize("filename", ["", "a\x00b"])
def test_empty_or_nul_filename_is_refused(tmp_path, filename):
    with pytest.raises(CheckpointError, match="Invalid file name"):
        resolve_file(tmp_path, filename)


def test_symlink_out_of_the_directory_is_refused(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (tmp_path / "secret.txt").write_text("secret")
    (model / "vocab.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(CheckpointError, match="symlink") as caught:
        resolve_file(model, "vocab.txt")
    assert "secret.txt" in str(caught.value)


def test_symlinked_subdirectory_out_of_the_directory_is_refused(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "config.json").write_text("{}")
    (model / "sub").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(CheckpointError, match="outside the model directory"):
        resolve_file(model, "sub/config.json")


def test_symlink_inside_the_directory_is_fine(tmp_path):
    (tmp_path / "real.json").write_text("{}")
    (tmp_path / "config.json").symlink_to("real.json")
    assert resolve_file(tmp_path, "config.json") == tmp_path / "config.json"


def test_dangling_symlink_is_reported(tmp_path):
    (tmp_path / "config.json").symlink_to(tmp_path / "gone.json")
    with pytest.raises(CheckpointError, match="dangling symlink"):
        resolve_file(tmp_path, "config.json", required=False)


def test_cache_snapshot_passed_as_local_directory(tmp_path):
    """Users pass `.../snapshots/<hash>` paths; links into the repo's blobs/ are the cache's own storage."""
    snapshot = cache_repo(tmp_path, "owner/name", {"config.json": b"{}"})
    assert resolve_file(snapshot, "config.json").read_bytes() == b"{}"


# ---------------------------------------------------------------- Hub ids


@pytest.mark.parametrize(
    "name",
    [
        "../../x",
        "../x",
        "/no/such/absolute/path",
        "a/b/c",
        "owner/na me",
        "ow..ner/x",
        "a--b",
        ".hidden",
        "name-",
        "x" * 97,
        "",
        "owner/",
        "ünïcode/model",
    ],
)
def test_invalid_hub_ids_are_refused(tmp_path, name):
    with pytest.raises(
        CheckpointError, match="not an existing local directory, nor a valid Hub id"
    ) as caught:
        resolve_file(name, "config.json", cache_dir=tmp_path)
    assert repr(name)[1:-1] in str(caught.value) or name in str(caught.value)


@pytest.mark.parametrize("name", ["bert-base-uncased", "distilbert/distilbert-base-uncased", "A_b.c-9/x.y_z"])
def test_valid_hub_ids_reach_the_cache(tmp_path, name):
    cache_repo(tmp_path, name, {"config.json": b"{}"})
    assert resolve_file(name, "config.json", cache_dir=tmp_path).read_bytes() == b"{}"


# ---------------------------------------------------------------- pre-populated HF cache, offline


def test_cached_files_are_found_offline(tmp_path):
    snapshot = cache_repo(tmp_path, "owner/tiny", {"config.json": b'{"dim": 32}', "sub/vocab.txt": b"a\n"})
    path = resolve_file("owner/tiny", "config.json", cache_dir=tmp_path)
    assert path == snapshot / "config.json"
    assert path.read_bytes() == b'{"dim": 32}'
    assert resolve_file("owner/tiny", "sub/vocab.txt", cache_dir=tmp_path).read_bytes() == b"a\n"


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    cache_repo(tmp_path / "hub-cache", "owner/tiny", {"config.json": b"{}"})
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    assert hub_cache_dir() == tmp_path / "hub-cache"
    assert resolve_file("owner/tiny", "config.json").read_bytes() == b"{}"


def test_cache_dir_from_hf_home(tmp_path, monkeypatch):
    cache_repo(tmp_path / "home" / "hub", "owner/tiny", {"config.json": b"{}"})
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert resolve_file("owner/tiny", "config.json").read_bytes() == b"{}"


def test_revisions_by_branch_and_by_commit(tmp_path):
    other = "f" * 40
    cache_repo(tmp_path, "owner/tiny", {"config.json": b"main"})
    cache_repo(tmp_path, "owner/tiny", {"config.json": b"dev"}, revision="dev", commit=other)
    assert resolve_file("owner/tiny", "config.json", cache_dir=tmp_path).read_bytes() == b"main"
    assert (
        resolve_file("owner/tiny", "config.json", cache_dir=tmp_path, revision="dev").read_bytes() == b"dev"
    )
    assert (
        resolve_file("owner/tiny", "config.json", cache_dir=tmp_path, revision=other).read_bytes() == b"dev"
    )
    with pytest.raises(CheckpointError, match="revision 'v2'"):
        resolve_file("owner/tiny", "config.json", cache_dir=tmp_path, revision="v2")


def test_missing_cached_file_error_names_id_file_cache_and_fix(tmp_path):
    cache_repo(tmp_path, "owner/tiny", {"config.json": b"{}"})
    with pytest.raises(CheckpointError) as caught:
        resolve_file("owner/tiny", "model.safetensors", cache_dir=tmp_path)
    message = str(caught.value)
    for expected in (
        "owner/tiny",
        "model.safetensors",
        str(tmp_path),
        "offline",
        "hf download",
        "local directory",
    ):
        assert expected in message


def test_optional_file_absent_from_cached_snapshot_is_none(tmp_path):
    cache_repo(tmp_path, "owner/tiny", {"config.json": b"{}"})
    assert resolve_file("owner/tiny", "model.safetensors", cache_dir=tmp_path, required=False) is None


def test_uncached_repo_is_an_error_even_for_optional_files(tmp_path):
    """'Not known' must not read as 'absent': an uncached model offline is an error, not None."""
    with pytest.raises(CheckpointError, match="the model is not cached") as caught:
        resolve_file("owner/never-downloaded", "model.safetensors", cache_dir=tmp_path, required=False)
    assert "owner/never-downloaded" in str(caught.value)


def test_cached_no_exist_marker_means_absent(tmp_path):
    repo = tmp_path / "models--owner--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    (repo / ".no_exist" / COMMIT).mkdir(parents=True)
    (repo / ".no_exist" / COMMIT / "pytorch_model.bin").touch()
    assert resolve_file("owner/tiny", "pytorch_model.bin", cache_dir=tmp_path, required=False) is None


def test_local_files_only_is_honoured_without_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    cache_repo(tmp_path, "owner/tiny", {"config.json": b"{}"})
    assert (
        resolve_file("owner/tiny", "config.json", cache_dir=tmp_path, local_files_only=True).read_bytes()
        == b"{}"
    )
    with pytest.raises(CheckpointError, match="local_files_only=True"):
        resolve_file("owner/tiny", "model.safetensors", cache_dir=tmp_path, local_files_only=True)


def test_resolve_repo_files(tmp_path):
    cache_repo(tmp_path, "owner/tiny", {"config.json": b"{}", "vocab.txt": b"a\n"})
    names = ["config.json", "vocab.txt", "tokenizer.json"]
    found = resolve_repo_files("owner/tiny", names, cache_dir=tmp_path, required=False)
    assert sorted(found) == ["config.json", "vocab.txt"]
    assert found["vocab.txt"].read_bytes() == b"a\n"
    with pytest.raises(CheckpointError, match="tokenizer.json"):
        resolve_repo_files("owner/tiny", names, cache_dir=tmp_path)


# ---------------------------------------------------------------- Hub answers, simulated (no network)


def _http_error(kind, message):
    return kind(message, response=SimpleNamespace(headers={}, request=None))


@pytest.fixture
def online(monkeypatch):
    """Pretend the Hub is reachable: offline mode off, `hf_hub_download` replaced by the given behaviour."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "hub_reachable", lambda: True)

    def install(error):
        def fake_download(repo_id, filename, **kwargs):
            assert kwargs["local_files_only"] is False
            raise error

        monkeypatch.setattr(hub, "hf_hub_download", fake_download)

    return install


def test_file_absent_on_the_hub(tmp_path, online):
    online(_http_error(RemoteEntryNotFoundError, "404 Client Error: Entry Not Found"))
    assert resolve_file("owner/tiny", "pytorch_model.bin", cache_dir=tmp_path, required=False) is None
    with pytest.raises(CheckpointError, match="has no file 'pytorch_model.bin'"):
        resolve_file("owner/tiny", "pytorch_model.bin", cache_dir=tmp_path)


def test_repository_not_found(tmp_path, online):
    online(_http_error(RepositoryNotFoundError, "401 Client Error: Repository Not Found"))
    with pytest.raises(CheckpointError, match="does not exist or is private"):
        resolve_file("owner/typo", "config.json", cache_dir=tmp_path, required=False)


def test_unreachable_hub_with_nothing_cached(tmp_path, online):
    online(LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub"))
    with pytest.raises(CheckpointError, match="could not be reached") as caught:
        resolve_file("owner/tiny", "config.json", cache_dir=tmp_path, required=False)
    assert "owner/tiny" in str(caught.value) and "config.json" in str(caught.value)


def test_unreachable_hub_with_a_cached_snapshot(tmp_path, online):
    cache_repo(tmp_path, "owner/tiny", {"config.json": b"{}"})
    online(LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub"))
    assert resolve_file("owner/tiny", "model.safetensors", cache_dir=tmp_path, required=False) is None


@pytest.mark.parametrize(
    "error",
    [ConnectionResetError("Connection reset by peer"), TimeoutError("timed out"), RuntimeError("proxy")],
)
def test_raw_network_failures_become_checkpoint_errors(tmp_path, online, error):
    online(error)
    with pytest.raises(CheckpointError, match=type(error).__name__) as caught:
        resolve_file("owner/tiny", "config.json", cache_dir=tmp_path)
    assert str(error) in str(caught.value)
    assert caught.value.__suppress_context__ and caught.value.__cause__ is None
