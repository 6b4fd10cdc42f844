"""Datasets as the Trainer sees them: rows by index, unused columns dropped, labels checked up front, and the
per-epoch batch plan that makes runs reproducible.

A dataset is anything with `len()` and integer indexing that returns a dict: a list of feature dicts, a map-style
`torch.utils.data.Dataset`, or a Hugging Face `datasets.Dataset` (duck-typed; `datasets` is not a dependency).
Each epoch's order is a permutation drawn from `seed + epoch` (`DistributedSampler`'s rule, also with one
process), so a resumed run re-creates the order and skips the batches already consumed; the global RNG is never
touched by data loading.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, IterableDataset

from ..errors import InputError
from .collators import LABEL_ALIASES, to_python


class Rows(torch.utils.data.Dataset):
    """Index -> feature dict of a user dataset, keeping only `keep` columns (all when None)."""

    def __init__(self, dataset: Any, name: str, keep: set[str] | None) -> None:
        self.dataset = dataset
        self.name = name
        self.keep = keep

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.dataset[index]
        if not isinstance(row, Mapping):
            raise InputError(f"{self.name}[{index}] is a {type(row).__name__}; the Trainer needs each example as a "
                             "dict of features (e.g. {'input_ids': [...], 'labels': 1})")
        if self.keep is None:
            return dict(row)
        return {key: value for key, value in row.items() if key in self.keep}


def as_rows(dataset: Any, name: str, keep: set[str] | None, labels: set[str] = frozenset()) -> Rows:
    """Check a dataset's shape (map-style, non-empty, dict rows, some input besides the `labels` columns among
    the `keep` columns) and wrap it."""
    if dataset is None:
        raise InputError(f"{name} is None; pass a dataset")
    if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
        raise InputError(f"{name} is a {type(dataset).__name__}; the Trainer needs a map-style dataset with len() "
                         "and indexing (a list of dicts, a torch Dataset, or a datasets.Dataset), so runs can be "
                         "resumed exactly")
    if len(dataset) == 0:
        raise InputError(f"{name} is empty; there is nothing to train or evaluate on")
    rows = Rows(dataset, name, keep)
    first = dataset[0]
    if not isinstance(first, Mapping):
        raise InputError(f"{name}[0] is a {type(first).__name__}; the Trainer needs each example as a dict of "
                         "features (e.g. {'input_ids': [...], 'labels': 1})")
    if keep is not None and not set(rows[0]) - labels:
        raise InputError(f"none of {name}'s columns {sorted(first)} is a model input ({sorted(keep - labels)}); "
                         "tokenize the data first, or pass a collator that reads these columns and "
                         "remove_unused_columns=False")
    return rows


def model_input_names(model: torch.nn.Module) -> set[str]:
    """The keyword arguments of `model.forward` (the columns worth keeping)."""
    parameters = inspect.signature(model.forward).parameters
    return {name for name, parameter in parameters.items()
            if parameter.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)}


# -- label checks -----------------------------------------------------------------------------------------------

def _column(dataset: Any, names: Sequence[str]) -> tuple[str, list[Any]] | None:
    """The first of `names` present in the dataset, with all its values (column access when the dataset has it)."""
    column_names = getattr(dataset, "column_names", None)
    if isinstance(column_names, list):  # a datasets.Dataset: read the column at once instead of row by row
        for name in names:
            if name in column_names:
                return name, list(dataset[name])
        return None
    first = dataset[0]
    for name in names:
        if name in first:
            return name, [dataset[index][name] for index in range(len(dataset))]
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_labels(model: torch.nn.Module, dataset: Any, name: str) -> None:
    """Scan the label column once, before any compute: right type for the head, values in range.

    Catches what would otherwise fail deep inside a loss at some later step: class ids outside
    [0, num_labels), float labels for classification, vectors of the wrong length for multi-label heads.
    """
    config = getattr(model, "config", None)
    kind = type(model).__name__
    if config is None:
        return
    found = _column(dataset, ("labels", *LABEL_ALIASES))
    if found is None:
        return
    column, labels = found
    labels = [to_python(label) for label in labels]
    num_labels = config.num_labels

    def fail(index: int, problem: str) -> InputError:
        return InputError(f"{name}[{index}]['{column}'] = {labels[index]!r}: {problem}")

    if kind.endswith("ForSequenceClassification"):
        problem_type = config.problem_type
        for index, label in enumerate(labels):
            vector = isinstance(label, (list, tuple))
            kind_now = problem_type or ("regression" if num_labels == 1 else
                                        "multi_label_classification" if vector else "single_label_classification")
            if kind_now == "single_label_classification":
                if not _is_int(label):
                    raise fail(index, f"single-label classification needs an integer class id in [0, {num_labels}) "
                                      "(for float targets use num_labels=1 for regression, or float vectors with "
                                      "problem_type='multi_label_classification')")
                if not (0 <= label < num_labels or label == -100):
                    raise fail(index, f"the class id is outside [0, {num_labels}); the model has "
                                      f"num_labels={num_labels}")
            elif kind_now == "multi_label_classification":
                if not vector or len(label) != num_labels or not all(_is_number(v) for v in label):
                    raise fail(index, f"multi-label classification needs a list of {num_labels} numbers (0.0/1.0 "
                                      "per label)")
                if problem_type is None and all(_is_int(v) for v in label):
                    raise fail(index, "integer vectors would be read as class ids; write the targets as floats "
                                      "(1.0 / 0.0) or set problem_type='multi_label_classification' in the config")
            else:
                values = label if isinstance(label, (list, tuple)) else [label]
                if len(values) != num_labels or not all(_is_number(v) for v in values):
                    raise fail(index, f"regression with num_labels={num_labels} needs "
                                      f"{'a number' if num_labels == 1 else f'{num_labels} numbers'} per example")
    elif kind.endswith("ForTokenClassification"):
        for index, label in enumerate(labels):
            if not isinstance(label, (list, tuple)):
                raise fail(index, "token classification needs one label per token (or per word) as a list")
            bad = [value for value in label if not isinstance(value, str)
                   and not (_is_int(value) and (0 <= value < num_labels or value == -100))]
            if bad:
                raise fail(index, f"labels {bad[:5]} are not class ids in [0, {num_labels}) or -100")
    elif kind.endswith("ForMultipleChoice"):
        for index, label in enumerate(labels):
            if not _is_int(label) or label < 0:
                raise fail(index, "multiple choice needs the index of the right choice (an int >= 0)")


# -- batch plan -------------------------------------------------------------------------------------------------

MEGABATCH = 50  # group_by_length sorts windows of this many batches, as the reference does


def epoch_batches(length: int, batch_size: int, *, seed: int, epoch: int, shuffle: bool, rank: int = 0,
                  world_size: int = 1, drop_last: bool = False,
                  lengths: Sequence[int] | None = None) -> list[list[int]]:
    """This process's batches of indices for one epoch.

    The permutation is `DistributedSampler`'s (seeded with `seed + epoch`); with several processes each takes every
    `world_size`-th index, so the union of the ranks' i-th batches is the single-process i-th batch of
    `world_size` times the size (exactly so when `length` divides evenly). With `lengths` (group_by_length), each
    window of `MEGABATCH` batches of the permutation is sorted by length, longest first, before it is cut into
    batches: examples of similar length share a batch, so little compute goes to padding, while the order of the
    windows stays random.
    """
    sampler = DistributedSampler(range(length), num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed)
    sampler.set_epoch(epoch)
    indices = list(sampler)
    if lengths is not None:
        window = batch_size * MEGABATCH
        indices = [index for start in range(0, len(indices), window)
                   for index in sorted(indices[start:start + window], key=lambda item: -lengths[item])]
    batches = [indices[start:start + batch_size] for start in range(0, len(indices), batch_size)]
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches.pop()
    return batches


def example_lengths(rows: Rows, column: str) -> list[int]:
    """Each example's length for group_by_length: its `column` value, else the length of its input_ids."""
    lengths = []
    for index in range(len(rows)):
        row = rows.dataset[index]
        if column in row:
            lengths.append(int(row[column]))
        elif "input_ids" in row:
            lengths.append(len(row["input_ids"]))
        else:
            raise InputError(f"group_by_length needs a '{column}' column or tokenized 'input_ids' in each example; "
                             f"example {index} has {sorted(row)}")
    return lengths


def batches_per_epoch(length: int, batch_size: int, world_size: int, drop_last: bool) -> int:
    per_rank = math.ceil(length / world_size)
    return per_rank // batch_size if drop_last else math.ceil(per_rank / batch_size)


def shard_batches(length: int, batch_size: int, rank: int, world_size: int) -> list[list[int]]:
    """Evaluation batches: a contiguous shard per process, in order, so gathering the ranks' results in rank order
    gives the dataset's order with no duplicates."""
    shard = np.array_split(np.arange(length), world_size)[rank].tolist()
    return [shard[start:start + batch_size] for start in range(0, len(shard), batch_size)]


def loader(rows: Rows, batches: list[list[int]], collate: Any, num_workers: int, seed: int) -> DataLoader:
    """A DataLoader over a fixed batch plan; its own generator keeps the global RNG untouched."""
    return DataLoader(rows, batch_sampler=batches, collate_fn=collate, num_workers=num_workers,
                      generator=torch.Generator().manual_seed(seed))
