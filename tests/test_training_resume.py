"""Exact resume: a run killed after step k and resumed from its checkpoint ends with bitwise the same weights and
the same logged losses as the uninterrupted run (CPU; dropout, MLM masking, accumulation, evaluation and warmup all
in play). Checkpoints hold only safetensors and JSON, and a missing or damaged one fails before any compute."""

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from training_fixtures import (
    config,
    one_torch_thread,  # noqa: F401 (autouse fixture)
    sentiment_examples,
    tokenized,
    tokenizer,
)

from distilkit import DistilBertForMaskedLM, DistilBertForSequenceClassification
from distilkit.errors import CheckpointError
from distilkit.training import DataCollatorForLanguageModeling, Trainer, TrainingArguments


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return tokenizer(tmp_path_factory.mktemp("vocab"))


class Killed(Exception):
    """Stands in for the process dying mid-run."""


def dying_collator(collator, after_batches):
    """`collator` that dies after some batches; it also draws from python's and numpy's global RNGs (row order in
    the batch), so their restored states matter too."""
    calls = []

    def collate(features):
        calls.append(1)
        if after_batches is not None and len(calls) > after_batches:
            raise Killed
        features = list(features)
        random.shuffle(features)
        if np.random.rand() < 0.5:
            features.reverse()
        return collator(features)

    return collate


def timeless(log):
    """The log without wall-clock values, as JSON text (so a NaN loss compares equal to itself)."""
    return json.dumps([{key: value for key, value in entry.items() if "runtime" not in key and "per_second" not in key}
                       for entry in log], sort_keys=True)


SCENARIOS = {
    # killed mid-epoch, several steps after the last checkpoint; resume=True picks it
    "mid-epoch": dict(args=dict(max_steps=14, save_strategy="steps", save_steps=3, eval_strategy="steps",
                                eval_steps=2, lr_scheduler_type="cosine", warmup_steps=3),
                      kill_after=22, resume=True),
    # killed just after an epoch-end checkpoint; resumed from an explicit folder
    "epoch-end": dict(args=dict(num_train_epochs=3, save_strategy="epoch", eval_strategy="epoch",
                                lr_scheduler_type="linear", warmup_ratio=0.2),
                      kill_after=14, resume="checkpoint-4"),
}


def run(tmp_path, tok, scenario, kill_after=None, resume=None):
    """Train an MLM (random masks, dropout 0.1, accumulation 2) and return (final weights, log history)."""
    torch.manual_seed(0)
    model = DistilBertForMaskedLM(config())  # dropout and attention dropout on, as by default
    examples = [{"input_ids": row["input_ids"]} for row in tokenized(sentiment_examples(30), tok)]
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=4, per_device_eval_batch_size=4,
                             gradient_accumulation_steps=2, learning_rate=5e-3, logging_steps=1, seed=3,
                             disable_tqdm=True, **SCENARIOS[scenario]["args"])
    collator = dying_collator(DataCollatorForLanguageModeling(tok), kill_after)
    trainer = Trainer(model, args, train_dataset=examples, eval_dataset=examples[:6], data_collator=collator,
                      processing_class=tok)
    if isinstance(resume, str):
        resume = str(tmp_path / resume)
    trainer.train(resume_from_checkpoint=resume)
    return model.state_dict(), trainer.state.log_history


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_resume_reproduces_the_uninterrupted_run_bit_for_bit(tmp_path, tok, scenario):
    weights, log = run(tmp_path / "straight", tok, scenario)

    interrupted = tmp_path / "interrupted"
    with pytest.raises(Killed):
        run(interrupted, tok, scenario, kill_after=SCENARIOS[scenario]["kill_after"])
    killed_log = [json.loads(line) for line in (interrupted / "trainer_log.jsonl").read_text().splitlines()]
    last_saved = max(int(path.name.removeprefix("checkpoint-")) for path in interrupted.glob("checkpoint-*"))
    # the killed run had trained and logged past its last checkpoint: those steps are redone
    assert max(entry["step"] for entry in killed_log) > last_saved
    resumed_weights, resumed_log = run(interrupted, tok, scenario, resume=SCENARIOS[scenario]["resume"])

    assert all(torch.equal(weights[key], resumed_weights[key]) for key in weights)
    assert timeless(resumed_log) == timeless(log)  # losses, eval losses, learning rates, grad norms: exactly
    losses = [entry["loss"] for entry in log if "loss" in entry]
    assert len(losses) == log[-2]["step"] and len(set(losses)) > 1
    # the log file holds each step exactly once, as in the uninterrupted run
    resumed_file = [json.loads(line) for line in (interrupted / "trainer_log.jsonl").read_text().splitlines()]
    assert timeless(resumed_file) == timeless(log)


def test_a_different_seed_changes_the_run(tmp_path, tok):
    """The bitwise test above could pass if randomness played no part; it does."""
    weights, _ = run(tmp_path / "a", tok, "mid-epoch")
    torch.manual_seed(0)
    model = DistilBertForMaskedLM(config())
    examples = [{"input_ids": row["input_ids"]} for row in tokenized(sentiment_examples(30), tok)]
    args = TrainingArguments(output_dir=str(tmp_path / "b"), per_device_train_batch_size=4, max_steps=14,
                             gradient_accumulation_steps=2, learning_rate=5e-3, seed=4, save_strategy="no",
                             lr_scheduler_type="cosine", warmup_steps=3, disable_tqdm=True)
    Trainer(model, args, train_dataset=examples, data_collator=DataCollatorForLanguageModeling(tok)).train()
    assert not all(torch.equal(weights[key], value) for key, value in model.state_dict().items())


# -- checkpoint files and damage --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tok):
    """A classifier run that saved checkpoint-2 and checkpoint-4."""
    directory = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    model = DistilBertForSequenceClassification(config())
    Trainer(model, arguments(directory), train_dataset=tokenized(sentiment_examples(16), tok),
            processing_class=tok).train()
    return directory / "checkpoint-2"


def arguments(output_dir, **overrides):
    settings = dict(output_dir=str(output_dir), max_steps=4, per_device_train_batch_size=4, save_steps=2,
                    learning_rate=1e-3, disable_tqdm=True)
    return TrainingArguments(**{**settings, **overrides})


def test_checkpoints_hold_only_safetensors_and_json_and_resume_without_torch_load(tmp_path, tok, checkpoint,
                                                                                  monkeypatch):
    names = sorted(path.name for path in checkpoint.iterdir())
    assert {"model.safetensors", "config.json", "optimizer.safetensors", "optimizer.json", "scheduler.json",
            "rng_state.safetensors", "rng_state.json", "trainer_state.json", "training_args.json"} <= set(names)
    assert all(name.endswith((".safetensors", ".json", ".txt")) for name in names), names
    assert json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] == 2

    def refuse(*args, **kwargs):
        raise AssertionError("torch.load (pickle) was called")

    monkeypatch.setattr(torch, "load", refuse)
    model = DistilBertForSequenceClassification(config())
    trainer = Trainer(model, arguments(tmp_path), train_dataset=tokenized(sentiment_examples(16), tok),
                      processing_class=tok)
    assert trainer.train(resume_from_checkpoint=str(checkpoint)).global_step == 4


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


DAMAGE = {
    "trainer state garbled": (lambda folder: (folder / "trainer_state.json").write_text("{not json"),
                              "cannot be read as JSON"),
    "trainer state emptied": (lambda folder: (folder / "trainer_state.json").write_text("{}"), "lacks"),
    "optimizer truncated": (lambda folder: truncate(folder / "optimizer.safetensors"), "optimizer.safetensors"),
    "optimizer missing": (lambda folder: (folder / "optimizer.safetensors").unlink(), "optimizer.safetensors"),
    "optimizer groups changed": (lambda folder: (folder / "optimizer.json").write_text('{"param_groups": []}'),
                                 "parameter groups"),
    "weights missing": (lambda folder: (folder / "model.safetensors").unlink(), "No weights found"),
    "weights truncated": (lambda folder: truncate(folder / "model.safetensors"), "model.safetensors"),
    "scheduler missing": (lambda folder: (folder / "scheduler.json").unlink(), "scheduler.json"),
    "scheduler of another kind": (lambda folder: (folder / "scheduler.json").write_text('{"last_epoch": 2}'),
                                  "does not fit"),
    "rng settings missing": (lambda folder: (folder / "rng_state.json").unlink(), "rng_state.json"),
    "rng state damaged": (lambda folder: (folder / "rng_state.json").write_text('{"0": {"python": [3, [1], null]}}'),
                          "RNG states"),
}


def tamper(name, change):
    """Edit one JSON file of a checkpoint folder in place: `change(data)` mutates the parsed JSON."""

    def spoil(folder):
        data = json.loads((folder / name).read_text())
        change(data)
        (folder / name).write_text(json.dumps(data))

    return spoil


def set_group(key, value):
    return tamper("optimizer.json", lambda data: data["param_groups"][0].__setitem__(key, value))


def spoil_tensor(name, key, value):
    def spoil(folder):
        tensors = load_file(folder / name)
        tensors[key] = torch.full_like(tensors[key], value)
        save_file(tensors, folder / name, metadata={"format": "pt"})

    return spoil


# Values a hand edit or a damaged disk can put into a checkpoint: each is refused with the file, the key and the value
# before anything is applied (issue 12, item 4; before, NaN resumed and poisoned every weight, "x" raised a raw
# TypeError and betas [2, 2] a raw RuntimeError).
TAMPERED = {
    "lr NaN": (set_group("lr", float("nan")), r"optimizer.json': param_groups\[0\].lr = nan must be a finite"),
    "lr a string": (set_group("lr", "x"), r"optimizer.json': param_groups\[0\].lr = 'x' must be a finite number"),
    "lr negative": (set_group("lr", -1.0), r"param_groups\[0\].lr = -1.0 must be a finite number >= 0.0"),
    "betas out of range": (set_group("betas", [2, 2]), r"param_groups\[0\].betas\[0\] = 2 must be .* < 1.0"),
    "betas too short": (set_group("betas", [0.9]), r"param_groups\[0\].betas = \[0.9\] must be a list of 2"),
    "eps infinite": (set_group("eps", float("inf")), r"param_groups\[0\].eps = inf"),
    "amsgrad a number": (set_group("amsgrad", 3), r"param_groups\[0\].amsgrad = 3 must be true, false or null"),
    "unknown optimizer key": (set_group("momentum", 0.9), "does not have"),
    "params reordered": (tamper("optimizer.json", lambda data: data["param_groups"][0]["params"].reverse()),
                         r"param_groups\[0\].params"),
    "exp_avg NaN": (spoil_tensor("optimizer.safetensors", "state.0.exp_avg", float("nan")), "state.0.exp_avg"),
    "exp_avg_sq negative": (spoil_tensor("optimizer.safetensors", "state.0.exp_avg_sq", -1.0), "negative"),
    "weights NaN": (spoil_tensor("model.safetensors", "distilbert.embeddings.word_embeddings.weight", float("inf")),
                    "NaN or infinite"),
    "scheduler lr NaN": (tamper("scheduler.json", lambda data: data.__setitem__("base_lrs", [float("nan")] * 2)),
                         r"scheduler.json': base_lrs\[0\] = nan"),
    "scheduler epoch a string": (tamper("scheduler.json", lambda data: data.__setitem__("last_epoch", "x")),
                                 r"scheduler.json': last_epoch = 'x' must be a whole number"),
    "trainer epoch NaN": (tamper("trainer_state.json", lambda data: data.__setitem__("epoch", float("nan"))),
                          r"trainer_state.json': epoch = nan"),
    "rng position out of range": (tamper("rng_state.json", lambda data: data["0"]["numpy"].__setitem__("pos", 9999)),
                                  "RNG states"),
}
DAMAGE.update(TAMPERED)


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_checkpoints_fail_before_any_compute(tmp_path, tok, checkpoint, damage):
    folder = tmp_path / "checkpoint-2"
    shutil.copytree(checkpoint, folder)
    spoil, message = DAMAGE[damage]
    spoil(folder)
    model = DistilBertForSequenceClassification(config())
    before = {key: value.clone() for key, value in model.state_dict().items()}
    calls = []
    model.register_forward_pre_hook(lambda module, inputs: calls.append(1))
    trainer = Trainer(model, arguments(tmp_path / "out"), train_dataset=tokenized(sentiment_examples(16), tok),
                      processing_class=tok)
    with pytest.raises(CheckpointError, match=message):
        trainer.train(resume_from_checkpoint=str(folder))
    assert not calls
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())  # nothing applied


def test_resume_needs_a_checkpoint_that_fits(tmp_path, tok, checkpoint):
    examples = tokenized(sentiment_examples(16), tok)
    trainer = Trainer(DistilBertForSequenceClassification(config()), arguments(tmp_path / "fresh"),
                      train_dataset=examples, processing_class=tok)
    with pytest.raises(CheckpointError, match="is not a directory"):
        trainer.train(resume_from_checkpoint=str(tmp_path / "nowhere"))
    with pytest.raises(CheckpointError, match="holds no 'checkpoint-<step>' folder"):
        trainer.train(resume_from_checkpoint=True)
    bigger = Trainer(DistilBertForSequenceClassification(config(num_labels=3)), arguments(tmp_path / "other"),
                     train_dataset=examples, processing_class=tok)
    with pytest.raises(CheckpointError, match="do not fit this model"):
        bigger.train(resume_from_checkpoint=str(checkpoint))
    shorter = Trainer(DistilBertForSequenceClassification(config()), arguments(tmp_path / "short", max_steps=1),
                      train_dataset=examples, processing_class=tok)
    with pytest.raises(CheckpointError, match="past this run's 1 steps"):
        shorter.train(resume_from_checkpoint=str(checkpoint))


def test_resuming_a_finished_run_trains_no_further(tmp_path, tok, checkpoint):
    model = DistilBertForSequenceClassification(config())
    calls = []
    model.register_forward_pre_hook(lambda module, inputs: calls.append(1))
    trainer = Trainer(model, arguments(tmp_path), train_dataset=tokenized(sentiment_examples(16), tok),
                      processing_class=tok)
    assert trainer.train(resume_from_checkpoint=str(checkpoint.parent / "checkpoint-4")).global_step == 4
    assert not calls
    final = DistilBertForSequenceClassification.from_pretrained(checkpoint.parent / "checkpoint-4")
    assert all(torch.equal(value, model.state_dict()[key]) for key, value in final.state_dict().items())
