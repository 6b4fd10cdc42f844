"""Carry a built default model to a machine without network access: `pack` and `unpack` a verified archive.

An archive is a plain tar file: first `distilkit-pack.json` (format, model name, and the size and SHA-256 of every
file), then the model folder's files under `model/`. `unpack` trusts nothing in it: only regular files the manifest
lists, with safe relative names, each exactly its recorded size and SHA-256, and the model's own `manifest.json`
must match too; anything else (a link, a device, `..`, an absolute name, an extra or missing file) refuses the
whole archive and installs nothing. The hashes catch damage in transit; to catch a deliberate edit, compare the
archive's SHA-256 that `pack` prints with `unpack --sha256`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from .._io import file_sha256, replace_into_place, swap_in_directory, temporary_path
from .._version import __version__
from ..errors import CheckpointError
from . import registry
from .recipes import RECIPES

PACK_MANIFEST = "distilkit-pack.json"
PACK_FORMAT = "distilkit-model-pack"
MODEL_PREFIX = "model/"
# A manifest of a real model is a few kB; a pack's total is a few hundred MB. Far beyond either is not a pack.
MAX_MANIFEST_BYTES = 1 << 20
MAX_PACK_FILES = 10_000
MAX_PACK_BYTES = 16 << 30
_SHA256 = re.compile(r"[0-9a-f]{64}")


def pack(name: str, file: str | os.PathLike) -> tuple[Path, str]:
    """Write the default model `name` (built first if needed) into the archive `file`; returns the archive's path
    and SHA-256 (to give `unpack(..., sha256=)` on the other machine).

    >>> pack("sentiment", "sentiment.dkpack")     # doctest: +SKIP
    (PosixPath('sentiment.dkpack'), '3f1c...')
    """
    folder = registry.ensure(name)
    destination = Path(file)
    if destination.is_dir():
        raise CheckpointError(f"{str(destination)!r} is a folder; pass the archive's file name, e.g. "
                              f"{str(destination / (name + '.dkpack'))!r}")
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    manifest = {"format": PACK_FORMAT, "format_version": 1, "name": name, "distilkit_version": __version__,
                "files": {path.relative_to(folder).as_posix(): {"size": path.stat().st_size,
                                                                "sha256": file_sha256(path)} for path in files}}
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = temporary_path(destination.parent, destination.name)
    try:
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as archive:
            body = json.dumps(manifest, indent=2, sort_keys=True).encode()
            archive.addfile(_member(PACK_MANIFEST, len(body)), io.BytesIO(body))
            for path in files:
                with open(path, "rb") as content:
                    member = _member(MODEL_PREFIX + path.relative_to(folder).as_posix(), path.stat().st_size)
                    archive.addfile(member, content)
        replace_into_place(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return destination, file_sha256(destination)


def unpack(file: str | os.PathLike, *, sha256: str | None = None) -> Path:
    """Verify the archive `file` and install the model it holds as that default model; returns its folder.

    Any failed check raises `CheckpointError` naming the archive and the problem, and installs nothing.
    """
    path = Path(file)
    if not path.is_file():
        raise CheckpointError(f"{str(path)!r} is not a file; pass the archive written by `distilkit models pack`")
    if sha256 is not None:
        found = file_sha256(path)
        if found != sha256.strip().lower():
            raise CheckpointError(f"{path} has SHA-256 {found}, not the expected {sha256}: the archive was altered "
                                  "or damaged on the way; copy it again")
    try:
        with tarfile.open(path, "r:*") as archive:
            return _install(archive, path)
    except tarfile.TarError as error:
        raise CheckpointError(f"{path} is not a readable model archive ({error}); pack it again") from None


def _install(archive: tarfile.TarFile, path: Path) -> Path:
    first = archive.next()
    if first is None or first.name != PACK_MANIFEST or not first.isreg() or first.size > MAX_MANIFEST_BYTES:
        raise CheckpointError(f"{path} does not start with {PACK_MANIFEST}; it is not written by "
                              "`distilkit models pack`")
    manifest = _read_manifest(archive.extractfile(first).read(), path)
    name, expected = manifest["name"], manifest["files"]
    target = registry.model_dir(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    with registry.build_lock(name):
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
        try:
            seen: set[str] = set()
            while (member := archive.next()) is not None:  # streaming on from the manifest
                relative = member.name.removeprefix(MODEL_PREFIX)
                if not member.isreg() or not member.name.startswith(MODEL_PREFIX) or relative not in expected \
                        or relative in seen:
                    kind = "a regular file" if member.isreg() else "a link or special file"
                    raise CheckpointError(f"{path} holds {member.name!r} ({kind}), which its manifest does not list; "
                                          "refusing the archive")
                seen.add(relative)
                try:
                    _extract(archive, member, staging / relative, expected[relative], path)
                except CheckpointError:
                    raise
                except OSError as error:  # e.g. 'a' and 'a/b' both listed
                    raise CheckpointError(f"cannot write {relative!r} from {path} ({error}); the archive's file "
                                          "list is inconsistent, refusing it") from None
            missing = sorted(set(expected) - seen)
            if missing:
                raise CheckpointError(f"{path} lacks {missing[:5]} listed in its manifest; the archive is cut off, "
                                      "copy it again")
            found = registry.problems(staging)
            if found:
                raise CheckpointError(f"the model in {path} fails its own manifest ({'; '.join(found[:3])}); pack it "
                                      "again on the source machine")
            registry.check_finite_build(staging, name)
            swap_in_directory(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return target


def _read_manifest(body: bytes, path: Path) -> dict:
    try:
        manifest = json.loads(body)
        files = manifest["files"]
        valid = manifest.get("format") == PACK_FORMAT and isinstance(manifest.get("name"), str) \
            and isinstance(files, dict) and 0 < len(files) <= MAX_PACK_FILES
    except (ValueError, KeyError, TypeError, RecursionError):
        valid = False
    if not valid:
        raise CheckpointError(f"{path} has no valid {PACK_MANIFEST} (format {PACK_FORMAT!r}, a model name and its "
                              "files); it is not written by `distilkit models pack`")
    if manifest["name"] not in RECIPES:
        raise CheckpointError(f"{path} holds a model named {manifest['name']!r}, which is not a default model "
                              f"({', '.join(RECIPES)}); this distilkit cannot install it")
    total = 0
    for relative, facts in files.items():
        parts = PurePosixPath(relative).parts
        safe = isinstance(relative, str) and relative and "\\" not in relative and "\x00" not in relative \
            and not relative.startswith("/") and ".." not in parts and "." not in parts \
            and relative == "/".join(parts)
        if not safe:
            raise CheckpointError(f"{path} lists the file name {relative!r}, which would land outside the model "
                                  "folder; refusing the archive")
        if not (isinstance(facts, dict) and isinstance(facts.get("size"), int) and facts["size"] >= 0
                and isinstance(facts.get("sha256"), str) and _SHA256.fullmatch(facts["sha256"])):
            raise CheckpointError(f"{path} records no valid size and SHA-256 for {relative!r}; refusing the archive")
        total += facts["size"]
    if total > MAX_PACK_BYTES:
        raise CheckpointError(f"{path} claims {total:,} bytes of model files, over {MAX_PACK_BYTES:,}; refusing it")
    return manifest


def _extract(archive: tarfile.TarFile, member: tarfile.TarInfo, destination: Path, facts: dict,
             path: Path) -> None:
    """Copy one member to `destination`, checking its size and SHA-256 as it streams."""
    if member.size != facts["size"]:
        raise CheckpointError(f"{member.name!r} in {path} has {member.size:,} bytes, its manifest says "
                              f"{facts['size']:,}: the archive was altered or damaged; refusing it")
    destination.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    source = archive.extractfile(member)
    with open(destination, "xb") as output:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
            output.write(block)
    if digest.hexdigest() != facts["sha256"]:
        raise CheckpointError(f"{member.name!r} in {path} does not match its SHA-256 in the manifest: the archive "
                              "was altered or damaged; nothing was installed. Pack it again on the source machine")


def _member(name: str, size: int) -> tarfile.TarInfo:
    """A tar entry without the packing machine's owner, mode or time: the same model gives the same archive."""
    member = tarfile.TarInfo(name)
    member.size, member.mode, member.mtime = size, 0o644, 0
    return member
