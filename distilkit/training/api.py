"""`train(...)`: fine-tune a text classifier from a CSV or JSON-lines file in one call (what `distilkit train` runs).

Rows need a text column and a label column. String labels become class ids in sorted order and are stored as the
model's `id2label`; integer labels are used as they are. The result is a model folder (weights, config, tokenizer)
that `from_pretrained` loads.

Without `epochs`, the number of epochs is chosen from the data: 3 (the reference's default) when that already makes
`MIN_STEPS` optimizer steps, else enough epochs for `MIN_STEPS` (at most `MAX_EPOCHS`). A fresh classification head
on a pretrained encoder needs on the order of a hundred steps at learning rate 5e-5 before it predicts better than
chance: 40 rows at batch 16 make 9 steps in 3 epochs, measured to leave the loss at ln 2; 120 steps learned them.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import InputError
from .arguments import TrainingArguments
from .metrics import classification_metrics
from .trainer import Trainer

DEFAULT_EPOCHS = 3  # the reference's num_train_epochs: what data with enough rows gets
MIN_STEPS = 120  # optimizer steps the chosen schedule makes at least
MAX_EPOCHS = 100  # the most epochs chosen for tiny data (a few rows)


def read_examples(path: str | os.PathLike, text_column: str = "text", label_column: str = "label"
                  ) -> list[tuple[str, Any]]:
    """(text, label) pairs from a .csv / .tsv file with a header row, or a .jsonl / .json file of one object per
    line. Errors name the file and the line."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".jsonl", ".json"):
        raise InputError(f"'{path}' must be a .csv, .tsv or .jsonl file (got '{suffix or 'no extension'}')")
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            if suffix in (".csv", ".tsv"):
                reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
                records = [(number, row) for number, row in enumerate(reader, start=2)]
                columns = reader.fieldnames or []
            else:
                records = []
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as error:
                        raise InputError(f"'{path}' line {number} is not valid JSON ({error.msg})") from None
                    if not isinstance(record, dict):
                        raise InputError(f"'{path}' line {number} is not a JSON object")
                    records.append((number, record))
                columns = sorted({key for _, record in records for key in record})
    except UnicodeDecodeError as error:
        raise InputError(f"'{path}' is not UTF-8 text ({error})") from None
    except csv.Error as error:
        raise InputError(f"'{path}' is not a valid CSV file ({error})") from None
    if not records:
        raise InputError(f"'{path}' holds no examples")
    missing = [column for column in (text_column, label_column) if column not in columns]
    if missing:
        raise InputError(f"'{path}' has no column {missing} (columns: {list(columns)}); pass text_column= / "
                         "label_column= to name them")
    examples = []
    for number, record in records:
        text, label = record.get(text_column), record.get(label_column)
        if not isinstance(text, str) or label is None or label == "":
            raise InputError(f"'{path}' line {number}: needs a text in '{text_column}' and a label in "
                             f"'{label_column}', got {text!r} and {label!r}")
        examples.append((text, label))
    return examples


def label_vocabulary(labels: list[Any]) -> tuple[list[int], dict[int, str] | None]:
    """Class ids for raw labels: integers (or integer strings, as CSV gives them) as they are; other strings in
    sorted order, with their names as id2label."""
    def as_int(value: Any) -> int | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        return None

    ids = [as_int(label) for label in labels]
    if all(value is not None for value in ids):
        negative = sorted({value for value in ids if value < 0})
        if negative:
            raise InputError(f"labels {negative} are negative; class ids must be 0, 1, 2, ...")
        return ids, None
    names = sorted({str(label) for label in labels})
    index = {name: position for position, name in enumerate(names)}
    return [index[str(label)] for label in labels], dict(enumerate(names))


def default_epochs(rows: int, batch_size: int) -> int:
    """The epochs `train` runs when none are given: `DEFAULT_EPOCHS`, or more on small data so that training makes
    at least `MIN_STEPS` optimizer steps, capped at `MAX_EPOCHS`.

    >>> default_epochs(5000, 16), default_epochs(800, 16), default_epochs(40, 16), default_epochs(5, 16)
    (3, 3, 40, 100)
    """
    steps_per_epoch = math.ceil(rows / batch_size)
    return max(DEFAULT_EPOCHS, min(MAX_EPOCHS, math.ceil(MIN_STEPS / steps_per_epoch)))


def train(data: str | os.PathLike, output_dir: str | os.PathLike, *, model: str | os.PathLike | None = None,
          epochs: float | None = None, learning_rate: float = 5e-5, batch_size: int = 16, text_column: str = "text",
          label_column: str = "label", seed: int = 42, max_length: int = 128,
          eval_data: str | os.PathLike | None = None, disable_tqdm: bool = False) -> Path:
    """Fine-tune `DistilBertForSequenceClassification` from `model` (a model folder) on `data`, evaluate on
    `eval_data` after each epoch when given (keeping the best epoch), and save model + tokenizer into `output_dir`,
    which is returned. `epochs=None` chooses them from the data (`default_epochs`); unless `disable_tqdm`, the
    plan (rows, batch size, epochs, optimizer steps) is printed to stderr before training starts."""
    from ..auto import AutoTokenizer
    from ..modeling import DistilBertForSequenceClassification

    texts, raw_labels = zip(*read_examples(data, text_column, label_column), strict=True)
    labels, id2label = label_vocabulary(list(raw_labels))
    evaluation = None
    if eval_data is not None:
        eval_texts, eval_raw = zip(*read_examples(eval_data, text_column, label_column), strict=True)
        eval_labels, eval_names = label_vocabulary(list(eval_raw))
        if id2label is not None:  # map through the training names, so ids agree
            unknown = sorted({str(label) for label in eval_raw} - set(id2label.values()))
            if unknown:
                raise InputError(f"eval_data has labels {unknown} that the training data does not have")
            lookup = {name: index for index, name in id2label.items()}
            eval_labels = [lookup[str(label)] for label in eval_raw]
        elif eval_names is not None:
            raise InputError("the training labels are integers but eval_data's are names; use the same kind")
        evaluation = (list(eval_texts), eval_labels)
    num_labels = len(id2label) if id2label is not None else max(labels + (evaluation[1] if evaluation else [])) + 1
    if num_labels < 2:
        raise InputError(f"the data has a single class ({num_labels} label); a classifier needs at least two")

    if model is None:
        raise InputError("train() needs model=: a model folder to start from (the `distilkit train` command "
                         "defaults it to the embedded 'embeddings' encoder)")
    steps_per_epoch = math.ceil(len(texts) / batch_size)
    chosen = epochs is None
    if chosen:
        epochs = default_epochs(len(texts), batch_size)
    if not disable_tqdm:
        why = (f" (chosen for at least {MIN_STEPS} optimizer steps; set epochs to change it)"
               if chosen and epochs > DEFAULT_EPOCHS else "")
        print(f"training on {len(texts)} rows, batch size {batch_size} ({steps_per_epoch} steps per epoch): "
              f"{epochs:g} epochs{why}, {math.ceil(steps_per_epoch * epochs)} optimizer steps, learning rate "
              f"{learning_rate:g}", file=sys.stderr)
    base = model
    tokenizer = AutoTokenizer.from_pretrained(base)
    # both maps: a loaded config's label2id is not rebuilt from an id2label override (as in the reference)
    label_options = ({"id2label": id2label, "label2id": {name: index for index, name in id2label.items()}}
                     if id2label is not None else {"num_labels": num_labels})
    classifier = DistilBertForSequenceClassification.from_pretrained(
        base, problem_type="single_label_classification", **label_options)

    def features(texts: list[str], ids: list[int]) -> list[dict[str, Any]]:
        encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
        return [{"input_ids": encoded["input_ids"][i], "attention_mask": encoded["attention_mask"][i],
                 "labels": ids[i]} for i in range(len(ids))]

    args = TrainingArguments(
        output_dir=str(output_dir), num_train_epochs=float(epochs), learning_rate=learning_rate,
        per_device_train_batch_size=batch_size, per_device_eval_batch_size=batch_size, seed=seed,
        warmup_ratio=0.1, weight_decay=0.01, logging_steps=10, disable_tqdm=disable_tqdm,
        eval_strategy="epoch" if evaluation else "no", save_strategy="epoch" if evaluation else "no",
        save_total_limit=1 if evaluation else None, load_best_model_at_end=evaluation is not None,
        metric_for_best_model="accuracy" if evaluation else None)
    trainer = Trainer(classifier, args, train_dataset=features(texts, labels),
                      eval_dataset=features(*evaluation) if evaluation else None, processing_class=tokenizer,
                      compute_metrics=classification_metrics)
    trainer.train()
    trainer.save_model(output_dir)
    return Path(output_dir)
