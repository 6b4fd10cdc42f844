"""Turn a "name or path" into local files: a local directory, the Hugging Face cache, or a Hub download.

Follows the reference: an existing local directory wins; anything else is a Hub id resolved through
`huggingface_hub.hf_hub_download` (cache first; `local_files_only` / `HF_HUB_OFFLINE` honoured). Every failure
is a `CheckpointError` naming the id or directory, the file, where it was looked for, and the fix. File names
are checked so that nothing resolves outside the model directory (`..`, absolute paths, symlinks). Unlike the
reference, the Hub gets one short connection attempt first (`hub_reachable`): a name that is neither a local
folder nor cached fails within a second when the Hub cannot be reached, naming close local folders, instead of
after half a minute of retries.
"""

from __future__ import annotations

import difflib
import os
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath, PureWindowsPath

from huggingface_hub import constants as hub_constants
from huggingface_hub import hf_hub_download, try_to_load_from_cache
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from distilkit._io import recover
from distilkit.errors import CheckpointError, InputError

__all__ = ["is_local", "resolve_file", "resolve_repo_files", "hub_cache_dir", "hub_reachable"]

# One segment of a Hub id: ASCII letters, digits, '-', '_', '.', not starting or ending with '-' or '.'
# (the Hub's own rules, made ASCII-only so an id can never smuggle in path syntax).
_REPO_SEGMENT = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?")
_MAX_REPO_ID_LENGTH = 96
_COMMIT_HASH = re.compile(r"[0-9a-f]{40}")
_TRUE_VALUES = {"1", "on", "yes", "true"}
# One connection attempt to the Hub, answer kept for a minute: every file of a model (config, tokenizer,
# weights) then fails or succeeds at once instead of retrying the network per file.
_PROBE_TIMEOUT_S = 0.8
_PROBE_TTL_S = 60.0
_probes: dict[str, tuple[float, bool]] = {}


def is_local(name_or_path: str | os.PathLike) -> bool:
    """True when `name_or_path` names an existing local directory or file (then it is never a Hub id)."""
    return os.path.exists(_as_str(name_or_path))


def hub_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The HF cache for Hub ids: `cache_dir`, else `HF_HUB_CACHE`, else `HF_HOME/hub`, else the default.

    Read at call time (huggingface_hub reads its environment once, at import), so later changes count.
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(variable):
            return Path(os.path.expandvars(os.environ[variable])).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.path.expandvars(os.environ["HF_HOME"])).expanduser() / "hub"
    return Path(hub_constants.HF_HUB_CACHE)


def resolve_file(
    name_or_path: str | os.PathLike,
    filename: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    revision: str | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    required: bool = True,
) -> Path | None:
    """Return the local path of `filename` inside the model `name_or_path`.

    `name_or_path` is an existing local directory (`cache_dir`, `revision`, `token` then unused) or a Hub id
    (`"name"` or `"owner/name"`). With `required=False` a file the model does not have gives None, but a Hub
    model that is neither reachable nor cached is an error either way: "absent" is never confused with
    "unknown". When the Hub is not asked (`local_files_only=True`, `HF_HUB_OFFLINE=1`) or does not answer, the
    cached snapshot of that revision is taken as the model's list of files.

    >>> resolve_file("/models/tiny", "config.json")        # doctest: +SKIP
    PosixPath('/models/tiny/config.json')
    """
    name = _as_str(name_or_path)
    _check_relative_filename(filename, name)
    if os.path.isdir(name):
        return _resolve_local(Path(name), filename, required)
    if os.path.exists(name):
        raise CheckpointError(
            f"'{name}' is a file, but a model directory or Hub id was expected (looking for '{filename}'). "
            "Pass the directory that holds the model files."
        )
    _check_repo_id(name)
    return _resolve_from_hub(name, filename, cache_dir, revision, local_files_only, token, required)


def resolve_repo_files(
    name_or_path: str | os.PathLike,
    filenames: list[str],
    *,
    cache_dir: str | os.PathLike | None = None,
    revision: str | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    required: bool = True,
) -> dict[str, Path]:
    """Resolve several files of one model; the result maps each found filename to its path.

    With `required=True` every file must exist (else `CheckpointError`); with `required=False` absent files
    are left out of the result.
    """
    found = {}
    for filename in filenames:
        path = resolve_file(
            name_or_path,
            filename,
            cache_dir=cache_dir,
            revision=revision,
            local_files_only=local_files_only,
            token=token,
            required=required,
        )
        if path is not None:
            found[filename] = path
    return found


def _as_str(name_or_path: str | os.PathLike) -> str:
    if isinstance(name_or_path, (str, os.PathLike)):
        return os.fspath(name_or_path)
    raise InputError(
        "Expected a model name or a path (str or os.PathLike), "
        f"got {type(name_or_path).__name__}: {name_or_path!r}."
    )


def _check_relative_filename(filename: str, model: str) -> None:
    """Reject names that would point outside the model directory, under POSIX or Windows rules."""
    if not isinstance(filename, str) or not filename or "\x00" in filename:
        raise CheckpointError(
            f"Invalid file name {filename!r} for model '{model}': expected a non-empty relative name."
        )
    segments = filename.replace("\\", "/").split("/")
    anchored = PurePosixPath(filename).is_absolute() or any(
        PureWindowsPath(segment).drive or PureWindowsPath(segment).root for segment in segments
    )
    if ".." in segments or anchored:
        raise CheckpointError(
            f"Refusing file name '{filename}' for model '{model}': it points outside the model directory "
            "(absolute path or '..'). Files must be named relative to the model directory."
        )


def _resolve_local(directory: Path, filename: str, required: bool) -> Path | None:
    recover(directory)  # a save killed after its commit point is finished first, so files never mix versions
    candidate = directory / filename
    if not candidate.is_file():
        if candidate.is_symlink():
            raise CheckpointError(
                f"'{candidate}' is a dangling symlink (its target is missing). "
                f"Copy the model files into '{directory}' again."
            )
        if required:
            raise CheckpointError(
                f"'{directory}' has no file '{filename}'. Pass a directory written by save_pretrained, "
                "or check the path."
            )
        return None
    target = candidate.resolve()
    allowed = [directory.resolve()]
    # A snapshot folder of the HF cache links into its repo's blobs/ folder: the cache's own storage.
    if directory.resolve().parent.name == "snapshots":
        allowed.append(directory.resolve().parent.parent / "blobs")
    if not any(target.is_relative_to(root) for root in allowed):
        raise CheckpointError(
            f"Refusing '{candidate}': it links to '{target}', outside the model directory '{directory}'. "
            "Copy the real file into the directory instead of linking to it."
        )
    return candidate


def _check_repo_id(repo_id: str) -> None:
    segments = repo_id.split("/")
    valid = (
        0 < len(repo_id) <= _MAX_REPO_ID_LENGTH
        and len(segments) <= 2
        and all(_REPO_SEGMENT.fullmatch(segment) for segment in segments)
        and ".." not in repo_id
        and "--" not in repo_id
    )
    if not valid:
        raise CheckpointError(
            f"'{repo_id}' is not an existing local directory, nor a valid Hub id ('name' or 'owner/name', "
            f"at most {_MAX_REPO_ID_LENGTH} characters from A-Z a-z 0-9 - _ ., no '..' or '--'). "
            "Check the path, or the spelling of the model id."
        )


def hub_reachable(timeout: float = _PROBE_TIMEOUT_S) -> bool:
    """Whether the Hub endpoint (`HF_ENDPOINT`) answers one HTTP HEAD request within `timeout` seconds.

    Any HTTP answer counts (even an error status); proxies from the environment are used as for downloads. The
    request runs in a daemon thread, so a hanging name lookup costs `timeout` too. The answer is remembered for
    a minute per endpoint.
    """
    endpoint = os.environ.get("HF_ENDPOINT") or hub_constants.ENDPOINT
    checked = _probes.get(endpoint)
    if checked is not None and time.monotonic() - checked[0] < _PROBE_TTL_S:
        return checked[1]
    result: list[bool] = []

    def attempt() -> None:
        try:
            with urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout):
                result.append(True)
        except urllib.error.HTTPError:
            result.append(True)  # the Hub answered, with a status
        except (OSError, ValueError):
            result.append(False)

    worker = threading.Thread(target=attempt, name="distilkit-hub-probe", daemon=True)
    worker.start()
    worker.join(timeout)
    reachable = bool(result and result[0])
    _probes[endpoint] = (time.monotonic(), reachable)
    return reachable


def close_local_folders(name: str, limit: int = 3) -> list[str]:
    """Existing folders whose names are close to `name` (in its parent folder, else the working directory)."""
    parent, base = os.path.split(name.rstrip("/"))
    try:
        entries = [entry.name for entry in os.scandir(parent or ".") if entry.is_dir() and entry.name[:1] != "."]
    except OSError:
        return []
    return [os.path.join(parent, match) for match in difflib.get_close_matches(base, entries, n=limit, cutoff=0.6)]


def _offline_by_environment() -> bool:
    values = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return hub_constants.HF_HUB_OFFLINE or any(value.strip().lower() in _TRUE_VALUES for value in values)


def _snapshot_is_cached(cache: Path, repo_id: str, revision: str) -> bool:
    """Whether the cache holds a snapshot of `repo_id` at `revision` (a branch or tag, or a commit hash)."""
    repo_folder = cache / ("models--" + repo_id.replace("/", "--"))
    commit = revision
    if not _COMMIT_HASH.fullmatch(revision):
        ref = repo_folder / "refs" / revision
        if not ref.is_file():
            return False
        commit = ref.read_text().strip()
    return (repo_folder / "snapshots" / commit).is_dir()


def _resolve_from_hub(
    repo_id: str,
    filename: str,
    cache_dir: str | os.PathLike | None,
    revision: str | None,
    local_files_only: bool,
    token: str | bool | None,
    required: bool,
) -> Path | None:
    cache = hub_cache_dir(cache_dir)
    revision = revision or "main"
    offline = local_files_only or _offline_by_environment()
    unreachable = not offline and not hub_reachable()
    where = f"Hub model '{repo_id}' (revision '{revision}')"
    try:
        if offline or unreachable:
            # read the cache directly: even a local-only hf_hub_download may call the network (its user-agent
            # registry), which costs seconds on a machine without it
            cached = try_to_load_from_cache(repo_id, filename, cache_dir=cache, revision=revision)
            if isinstance(cached, str):
                return Path(cached)
            raise LocalEntryNotFoundError(f"'{filename}' is not in the cache")
        return Path(
            hf_hub_download(
                repo_id, filename, revision=revision, cache_dir=cache, local_files_only=offline, token=token
            )
        )
    except LocalEntryNotFoundError as error:
        # Not cached, and the Hub was not asked (offline) or did not answer: a cached snapshot, when there is
        # one, is the best list of the model's files we have; with no snapshot at all nothing is known.
        known_absent = try_to_load_from_cache(repo_id, filename, cache_dir=cache, revision=revision)
        snapshot_cached = _snapshot_is_cached(cache, repo_id, revision)
        if not required and (
            (known_absent is not None and not isinstance(known_absent, str)) or snapshot_cached
        ):
            return None
        if offline:
            why = "offline mode is on (local_files_only=True or HF_HUB_OFFLINE=1), so the Hub was not asked"
        elif unreachable:
            why = f"the Hub ({os.environ.get('HF_ENDPOINT') or hub_constants.ENDPOINT}) could not be reached"
        else:
            why = f"the Hub could not be reached ({_cause(error)})"
        if not snapshot_cached:
            close = close_local_folders(repo_id)
            hint = f"; did you mean the local folder {' or '.join(repr(name) for name in close)}?" if close else "."
            raise CheckpointError(
                f"'{repo_id}' is not a local folder and the model is not cached (looked for '{filename}' at revision "
                f"'{revision}' in '{os.path.abspath(cache)}'); {why}{hint} Pass a model folder, or see `distilkit models pack --help` to carry one over."
            ) from None
        found = (
            "the cached snapshot lacks it (partly downloaded?)"
            if snapshot_cached
            else "the model is not cached"
        )
        raise CheckpointError(
            f"Cannot find '{filename}' of the {where} in the HF cache '{os.path.abspath(cache)}': {found}, "
            f"and {why}. "
            f"Fix: download the model on a machine with Hub access (`hf download {repo_id}`) and copy its "
            "cache folder into that cache (or point HF_HUB_CACHE / cache_dir at a cache that has it), "
            f"or pass a local directory that holds '{filename}'."
        ) from None
    except EntryNotFoundError:
        # The Hub answered: this repo (at this revision) has no such file.
        if not required:
            return None
        raise CheckpointError(f"The {where} has no file '{filename}'.") from None
    except GatedRepoError as error:
        raise CheckpointError(
            f"The {where} is gated: accept its terms on the Hub and pass a token with access "
            f"({_cause(error)})."
        ) from None
    except RepositoryNotFoundError as error:
        raise CheckpointError(
            f"The {where} does not exist or is private ({_cause(error)}). Check the id, pass `token=` for a "
            "private model, or pass a local directory."
        ) from None
    except RevisionNotFoundError as error:
        raise CheckpointError(f"The {where} has no revision '{revision}' ({_cause(error)}).") from None
    except Exception as error:
        # Network, proxy, TLS or disk trouble: never let a raw HTTP-client traceback reach the user.
        raise CheckpointError(
            f"Could not fetch '{filename}' of the {where} into the HF cache '{os.path.abspath(cache)}': "
            f"{_cause(error)}. "
            "Check the connection, or set HF_HUB_OFFLINE=1 to use only cached files."
        ) from None


def _cause(error: BaseException) -> str:
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
