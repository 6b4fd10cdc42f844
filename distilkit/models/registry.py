"""The embedded default models: where each is cached, whether a cached copy is sound, and building one.

A default model is built once from packaged assets by its recipe (`recipes.py`), into a temporary folder that is
renamed into `models_root()/<name>` only when complete, under an inter-process lock so that two processes never
build the same model at once (the second waits and reuses the result). Every built folder carries `manifest.json`
with the SHA-256 of each file; a copy whose files do not match (a crash, a disk error, a hand edit) is detected and
rebuilt.
`models_root()` is `$DISTILKIT_MODELS` if set, else `~/.cache/distilkit/models`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .._io import file_sha256, read_json, swap_in_directory, write_json_atomic
from ..checkpoint import check_finite_weights, load_state_dict
from ..errors import DistilkitError
from .assets import FetchError
from .recipes import RECIPES, Recipe

MANIFEST = "manifest.json"


def models_root() -> Path:
    configured = os.environ.get("DISTILKIT_MODELS")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "distilkit" / "models"


def model_dir(name: str) -> Path:
    recipe(name)
    return models_root() / name


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise DistilkitError(f"unknown default model {name!r}; choose from {', '.join(RECIPES)}")
    return RECIPES[name]


def write_manifest(folder: Path, facts: dict) -> None:
    files = {path.relative_to(folder).as_posix(): file_sha256(path)
             for path in sorted(folder.rglob("*")) if path.is_file() and path.name != MANIFEST}
    write_json_atomic(folder / MANIFEST, {"files": files, **facts})


def check_finite_build(folder: Path, name: str) -> None:
    """Refuse to cache a default model whose weights hold NaN or infinity (a damaged asset, a diverged run)."""
    for path in sorted(folder.rglob("*.safetensors")):
        check_finite_weights(load_state_dict([path]), f"the default model {name!r} just built ({path.name})",
                             error=True)


def problems(folder: Path) -> list[str]:
    """What is wrong with a cached model folder (empty when it is sound)."""
    try:
        files = read_json(folder / MANIFEST)["files"]
        if not isinstance(files, dict):
            raise TypeError("'files' is not an object")
    except (DistilkitError, KeyError, TypeError):
        return [f"{folder / MANIFEST} is missing or unreadable"]
    found = []
    for relative, digest in files.items():
        path = folder / relative
        if not path.is_file():
            found.append(f"{relative} is missing")
        elif file_sha256(path) != digest:
            found.append(f"{relative} does not match its recorded SHA-256")
    return found


def is_built(name: str) -> bool:
    folder = model_dir(name)
    return folder.is_dir() and not problems(folder)


@contextlib.contextmanager
def build_lock(name: str) -> Iterator[None]:
    """Hold the inter-process lock of default model `name` (`models_root()/.<name>.lock`); a second process
    asking for the same model says that it waits, then waits for the first one's build."""
    from filelock import FileLock, Timeout

    path = models_root() / f".{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"[distilkit] another process is building the default model {name!r}; waiting for it to finish, "
              f"then reusing its result (lock: {path})", file=sys.stderr, flush=True)
        started = time.monotonic()
        lock.acquire()
        print(f"[distilkit] waited {time.monotonic() - started:.0f} s for the other build of {name!r}",
              file=sys.stderr, flush=True)
    try:
        yield
    finally:
        lock.release()


def remove_stale_staging(name: str) -> None:
    """Delete staging and moved-aside folders (`.<name>.*`) that a killed build left; call with the lock held,
    when no build of `name` can be running."""
    for leftover in sorted(models_root().glob(f".{name}.*")):
        if leftover.is_dir():
            print(f"[distilkit] removing {leftover}, left by an interrupted build", file=sys.stderr)
            shutil.rmtree(leftover, ignore_errors=True)


def build(name: str, force: bool = False) -> Path:
    """Build the default model `name` (unless a sound copy is cached) and return its folder.

    One process builds a given model at a time (`build_lock`); one that waited reuses the sound copy the other
    built (with `force=True` it builds again). Training shows tqdm bars with the measured time left.
    """
    target = model_dir(name)
    if target.is_dir() and not force and not problems(target):
        return target
    chosen = recipe(name)
    with build_lock(name):
        remove_stale_staging(name)
        if target.is_dir() and not force:
            found = problems(target)
            if not found:
                return target
            print(f"[distilkit] the cached default model {name!r} is damaged ({'; '.join(found[:3])}); "
                  "rebuilding it", file=sys.stderr)
        print(f"[distilkit] building the default model {name!r} ({chosen.summary}); this happens once, the result "
              f"is cached in {target}. Progress bars show the measured time left of long steps.", file=sys.stderr,
              flush=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
        started = time.monotonic()
        try:
            try:
                facts = chosen.build(staging)
            except FetchError as error:  # the full message (the tool's log) stays in the cause, for --debug
                raise FetchError(
                    f"cannot build the default model {name!r}: fetching {error.what} failed, and this machine seems "
                    "to have no network access to it.\nOn a machine with access, run:  distilkit models pack "
                    f"{name} {name}.dkpack\nthen copy {name}.dkpack here and run:  distilkit models unpack "
                    f"{name}.dkpack", what=error.what) from error
            check_finite_build(staging, name)
            facts["build_seconds"] = round(time.monotonic() - started, 1)
            write_manifest(staging, facts)
            swap_in_directory(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    print(f"[distilkit] built {name!r} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return target


def ensure(name: str) -> Path:
    """The folder of a sound copy of default model `name`, building it on first use."""
    return build(name, force=False)
