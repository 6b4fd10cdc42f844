"""group_by_length: every example once per epoch, similar lengths share a batch, the plan is seeded."""

import random

import pytest

from distilkit.errors import InputError
from distilkit.training import TrainingArguments
from distilkit.training.data import MEGABATCH, Rows, epoch_batches, example_lengths


def test_batches_cover_everything_once_and_group_lengths():
    generator = random.Random(0)
    lengths = [generator.randint(3, 64) for _ in range(1000)]
    plain = epoch_batches(1000, 8, seed=1, epoch=0, shuffle=True)
    grouped = epoch_batches(1000, 8, seed=1, epoch=0, shuffle=True, lengths=lengths)
    assert sorted(index for batch in grouped for index in batch) == list(range(1000))

    def padding(batches):
        return sum(max(lengths[i] for i in batch) * len(batch) - sum(lengths[i] for i in batch) for batch in batches)

    assert padding(grouped) < padding(plain) / 5
    assert grouped == epoch_batches(1000, 8, seed=1, epoch=0, shuffle=True, lengths=lengths)
    assert grouped != epoch_batches(1000, 8, seed=1, epoch=1, shuffle=True, lengths=lengths)
    # the sort stays inside windows of MEGABATCH batches: the first window holds the permutation's first indices
    window = 8 * MEGABATCH
    assert {i for batch in grouped[:MEGABATCH] for i in batch} == \
        {i for batch in plain[:MEGABATCH] for i in batch} and len(grouped[0]) == 8 and window == 400


def test_lengths_come_from_the_column_or_input_ids():
    rows = Rows([{"input_ids": [1, 2, 3]}, {"input_ids": [1], "length": 9}], "train", None)
    assert example_lengths(rows, "length") == [3, 9]
    with pytest.raises(InputError, match="group_by_length"):
        example_lengths(Rows([{"text": "x"}], "train", None), "length")


def test_argument_defaults():
    arguments = TrainingArguments(output_dir="x", group_by_length=True)
    assert arguments.group_by_length and arguments.length_column_name == "length"
