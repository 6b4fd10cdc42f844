"""Files written whole or not at all, JSON read with a size bound, and folders saved as one transaction.

Every writer in distilkit goes through here. A single file is written to a unique temporary name in its folder,
flushed to disk (`fsync`) and renamed over the target, so a reader sees the old file or the new one. A *save* that
writes several files (`save_pretrained`: weights, index, `config.json`, tokenizer files) is made all-or-nothing
for the folder by `staged_directory`:

1. Every file is written into a hidden staging folder inside the target (`.distilkit-staging-*`, same file
   system, so the final renames are atomic). Other files of the target are never touched.
2. Commit point: a journal `.distilkit-save.json` listing the staged files and the files of the old version to
   delete is written atomically into the target.
3. The staged files are renamed into the target, the stale files deleted, then the journal removed.

A process killed before step 2 leaves the old version (the staging folder is swept by the next save); killed
after it, the journal lets `recover` finish the renames, which every loader does first (`hub.resolve_file` on a
local folder), so the folder loads as the whole old or the whole new version. Saves into one folder take an
exclusive `flock` on it (POSIX); readers are not locked, so a load *concurrent* with a save is not isolated.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import CheckpointError, DistilkitError

__all__ = [
    "DEFAULT_MAX_JSON_BYTES",
    "JOURNAL_NAME",
    "StagedDirectory",
    "atomic_save",
    "file_sha256",
    "fsync_directory",
    "read_json",
    "recover",
    "staged_directory",
    "swap_in_directory",
    "temporary_path",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

# A JSON settings file (config, tokenizer config, trainer state, index) is kilobytes; 100 MB is far above any
# real one and keeps a hostile file from taking the machine's memory. Callers with bigger files pass their own.
DEFAULT_MAX_JSON_BYTES = 100_000_000
JOURNAL_NAME = ".distilkit-save.json"
STAGING_PREFIX = ".distilkit-staging-"
_STAGING_NAME = re.compile(re.escape(STAGING_PREFIX) + r"[A-Za-z0-9_]+")


# -- single files -------------------------------------------------------------------------------------------------

def default_file_mode() -> int:
    """0o666 minus the umask: the mode a plainly created file gets (mkstemp's files are owner-only)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def temporary_path(directory: str | os.PathLike, name: str) -> Path:
    """A new, unique, empty file `.<name>.<random>.tmp` in `directory` (two writers never share one)."""
    descriptor, path = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    os.close(descriptor)
    return Path(path)


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a file's data to disk, so a crash after a rename cannot leave a renamed empty file."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_directory(path: str | os.PathLike) -> None:
    """Flush a folder's entries (renames, deletions) to disk; a no-op where folders cannot be opened (Windows)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems refuse fsync on a folder; the rename itself is still atomic
    finally:
        os.close(descriptor)


def replace_into_place(temporary: Path, path: Path) -> None:
    """Give a finished temporary file the usual file mode, flush it, and rename it over `path`."""
    os.chmod(temporary, default_file_mode())
    fsync_file(temporary)
    os.replace(temporary, path)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` so that readers see the old file or the new one, never half of one."""
    path = Path(path)
    temporary = temporary_path(path.parent, path.name)
    try:
        with open(temporary, "wb") as stream:
            stream.write(data)
        replace_into_place(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """`write_bytes_atomic` of UTF-8 text (newlines written as given)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, data: Any, *, sort_keys: bool = True,
                      ensure_ascii: bool = False) -> Path:
    """Write `data` as indented JSON ending in a newline, atomically."""
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=sort_keys, ensure_ascii=ensure_ascii) + "\n")


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as lowercase hex, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: str | os.PathLike, *, what: str = "JSON file", error: type[DistilkitError] = DistilkitError,
              max_bytes: int = DEFAULT_MAX_JSON_BYTES, allow_nan: bool = False) -> Any:
    """Parse a JSON file of at most `max_bytes`; every failure is `error` naming the file and the cause.

    The size is checked before anything is read; nesting too deep for the parser is refused, and so are the
    NaN/Infinity constants (not JSON, though Python writes them) unless `allow_nan=True`.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise error(f"{what} '{path}' has {size} bytes, over the {max_bytes}-byte limit for such a file; "
                            "it is damaged or not the file expected")
            raw = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise error(f"{what} '{path}' is missing") from None
    except OSError as problem:
        raise error(f"cannot read {what} '{path}': {problem.strerror or problem}") from None

    def refuse_constant(name: str) -> None:
        raise ValueError(f"the non-JSON constant {name}")

    try:
        return json.loads(raw.decode("utf-8"), parse_constant=None if allow_nan else refuse_constant)
    except UnicodeDecodeError:
        raise error(f"{what} '{path}' is not UTF-8 text") from None
    except RecursionError:
        raise error(f"{what} '{path}' is nested too deeply to be a real file") from None
    except ValueError as problem:  # json.JSONDecodeError is a ValueError
        raise error(f"{what} '{path}' cannot be read as JSON: {problem}") from None


def swap_in_directory(staging: Path, target: Path) -> None:
    """Put the finished folder `staging` at its sibling path `target`, replacing any folder there. The old folder is
    moved aside (`.<name>.*.old`) and deleted only after the switch, so a crash leaves the old or the new one."""
    previous = None
    if target.exists():
        previous = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.replace(target, previous)
    os.replace(staging, target)
    fsync_directory(target.parent)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


# -- folders saved as one transaction -----------------------------------------------------------------------------

@dataclass
class StagedDirectory:
    """A save in progress: write files into `path`; they replace their namesakes in `target` on commit.

    `owned` patterns (full-match regular expressions on file names of `target`) name the files this kind of save
    writes: those the new save does not write again are deleted on commit (old shards, a stale `vocab.txt`), so
    the folder holds the whole new version and nothing of the old one.
    """

    target: Path
    path: Path
    owned: list[re.Pattern] = field(default_factory=list)

    def own(self, patterns: Iterable[str]) -> None:
        self.owned.extend(re.compile(pattern) for pattern in patterns)


# staging folder (absolute path) -> the save writing into it; a save into such a folder joins the outer save
_ACTIVE: contextvars.ContextVar[dict[str, StagedDirectory]] = contextvars.ContextVar("distilkit_staged", default=None)


@contextlib.contextmanager
def staged_directory(target: str | os.PathLike, *, owns: Iterable[str] = ()) -> Iterator[StagedDirectory]:
    """Stage a save into `target` (created if needed) and commit it all at once when the block ends normally.

    An exception inside the block leaves `target` as it was. A save into the staging folder of a save already
    in progress (`model.save_pretrained(stage.path)` inside `Trainer.save_model`) joins that save.
    """
    target = Path(target)
    active = _ACTIVE.get() or {}
    outer = active.get(os.path.abspath(target))
    if outer is not None:
        outer.own(owns)
        yield outer
        return
    if target.exists() and not target.is_dir():
        raise CheckpointError(f"cannot save into '{target}': it is a file, not a directory; pass a directory")
    target.mkdir(parents=True, exist_ok=True)
    with _locked(target):
        _recover_locked(target, sweep=True)
        stage = StagedDirectory(target, Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=target)))
        stage.own(owns)
        token = _ACTIVE.set({**active, os.path.abspath(stage.path): stage})
        try:
            yield stage
        except BaseException:
            shutil.rmtree(stage.path, ignore_errors=True)
            raise
        finally:
            _ACTIVE.reset(token)
        try:
            _commit(stage)
        finally:
            # after the commit point the staged files belong to the journal, which recovery rolls forward
            if not (target / JOURNAL_NAME).is_file():
                shutil.rmtree(stage.path, ignore_errors=True)


def atomic_save(*owned: str) -> Callable:
    """Decorate a `save_pretrained(self, save_directory, ...)` so the whole save is one `staged_directory`.

    `owned` are the file-name patterns this save writes (see `StagedDirectory`). Paths the method returns are
    reported inside the target folder, not the staging one.
    """

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        def save(self: Any, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> Any:
            if os.path.lexists(save_directory) and not os.path.isdir(save_directory):
                return method(self, save_directory, *args, **kwargs)  # the method reports the file in the way
            with staged_directory(save_directory, owns=owned) as stage:
                result = method(self, stage.path, *args, **kwargs)
            return _retarget(result, stage.path, stage.target)

        return save

    return decorate


def recover(directory: str | os.PathLike) -> None:
    """Finish a save into `directory` that was killed after its commit point (a cheap check when there is none)."""
    directory = Path(directory)
    if not (directory / JOURNAL_NAME).is_file():
        return
    try:
        with _locked(directory):
            _recover_locked(directory, sweep=False)
    except OSError as error:
        raise CheckpointError(
            f"'{directory}' holds an interrupted save ({JOURNAL_NAME}) that cannot be finished: {error}. Load it "
            "once with write access to the folder (the save is then completed), or save the model again."
        ) from None


def _retarget(result: Any, staging: Path, target: Path) -> Any:
    if isinstance(result, (list, tuple)):
        return type(result)(_retarget(item, staging, target) for item in result)
    if isinstance(result, (str, Path)):
        path = Path(result)
        if path.is_relative_to(staging):
            moved = target / path.relative_to(staging)
            return str(moved) if isinstance(result, str) else moved
    return result


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; saves into one folder must not overlap
        yield
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _staged_files(staging: Path) -> list[str]:
    names = []
    for path in sorted(staging.rglob("*")):
        if path.is_symlink():
            raise CheckpointError(f"the save wrote a symbolic link '{path.name}'; only regular files are saved")
        if path.is_file():
            names.append(path.relative_to(staging).as_posix())
    # Weights before their index, config.json last: the order a reader that skips recovery would see least mixed.
    return sorted(names, key=lambda name: (name.endswith(".index.json"), name == "config.json", name))


def _commit(stage: StagedDirectory) -> None:
    files = _staged_files(stage.path)
    for name in files:
        fsync_file(stage.path / name)
    fsync_directory(stage.path)
    written = set(files)
    stale = sorted(
        entry.name for entry in stage.target.iterdir()
        if entry.name not in written and any(pattern.fullmatch(entry.name) for pattern in stage.owned)
        and entry.is_file() and not entry.is_symlink()
    )
    journal = {"version": 1, "staging": stage.path.name, "files": files, "remove": stale}
    write_json_atomic(stage.target / JOURNAL_NAME, journal)
    fsync_directory(stage.target)
    _apply(stage.target, journal)


def _check_name(name: Any, journal: Path) -> str:
    parts = PurePosixPath(name).parts if isinstance(name, str) else ()
    if (not parts or "\\" in name or PurePosixPath(name).is_absolute()
            or any(part in ("", ".", "..") for part in parts) or parts[0] == JOURNAL_NAME
            or parts[0].startswith(STAGING_PREFIX)):
        raise CheckpointError(f"'{journal}' names {name!r}, which is not a file of the folder; delete the journal "
                              "and save the model again")
    return name


def _read_journal(directory: Path) -> dict[str, Any]:
    path = directory / JOURNAL_NAME
    journal = read_json(path, what="save journal", error=CheckpointError, max_bytes=10_000_000)
    if (not isinstance(journal, dict) or journal.get("version") != 1
            or not isinstance(journal.get("staging"), str) or not _STAGING_NAME.fullmatch(journal["staging"])
            or not isinstance(journal.get("files"), list) or not isinstance(journal.get("remove"), list)):
        raise CheckpointError(f"'{path}' is not a save journal written by distilkit; delete it and save again")
    for name in journal["files"] + journal["remove"]:
        _check_name(name, path)
    return journal


def _apply(directory: Path, journal: dict[str, Any]) -> None:
    """Roll a committed save forward; every step can be repeated, so a kill during recovery is harmless too."""
    staging = directory / journal["staging"]
    if staging.is_symlink():
        raise CheckpointError(f"'{staging}' is a symbolic link, not a staging folder; delete it and save again")
    for name in journal["files"]:
        source, destination = staging / name, directory / name
        if source.is_file() and not source.is_symlink():
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, destination)
        elif not destination.is_file():
            raise CheckpointError(f"the interrupted save into '{directory}' lost '{name}' (neither staged nor in "
                                  "place); save the model again")
    for name in journal["remove"]:
        (directory / name).unlink(missing_ok=True)
    fsync_directory(directory)
    (directory / JOURNAL_NAME).unlink(missing_ok=True)
    fsync_directory(directory)
    shutil.rmtree(staging, ignore_errors=True)


def _recover_locked(directory: Path, *, sweep: bool) -> None:
    """With the folder's lock held: finish a committed save; with `sweep`, delete staging folders of saves that
    were killed before committing (only savers hold the lock, so none of them is still being written)."""
    if (directory / JOURNAL_NAME).is_file():
        _apply(directory, _read_journal(directory))
    if sweep:
        for entry in directory.iterdir():
            if _STAGING_NAME.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
