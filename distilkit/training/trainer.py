"""`Trainer`: fine-tune any distilkit head (or any module that returns a loss) with the reference's call shapes.

`Trainer(model, args, train_dataset, eval_dataset, data_collator, compute_metrics, processing_class).train()`
runs AdamW (no decay on biases and LayerNorm weights) with a warmup schedule, gradient accumulation and clipping,
evaluates, logs (progress bars, `log_history`, and `trainer_log.jsonl` in output_dir), saves `checkpoint-<step>`
folders (rotated; the best kept), tracks the best model and stops early. Resuming restores the data order, the
optimizer, scheduler and RNG states, so on CPU a resumed run equals the uninterrupted one bit for bit. Under
`torchrun` the same code trains with DistributedDataParallel; only rank 0 writes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .._io import staged_directory, write_text_atomic
from ..errors import CheckpointError, ConfigError, InputError
from . import data, distributed, state
from .arguments import TrainingArguments
from .collators import DataCollatorWithPadding, default_data_collator
from .optimization import create_optimizer, get_scheduler

logger = logging.getLogger(__name__)
LOG_FILE_NAME = "trainer_log.jsonl"
IGNORE_INDEX = -100


class EvalPrediction(NamedTuple):
    """What `compute_metrics` receives: `predictions, label_ids = eval_prediction` works."""

    predictions: np.ndarray | tuple[np.ndarray, ...]
    label_ids: np.ndarray | tuple[np.ndarray, ...] | None


class PredictionOutput(NamedTuple):
    predictions: np.ndarray | tuple[np.ndarray, ...]
    label_ids: np.ndarray | tuple[np.ndarray, ...] | None
    metrics: dict[str, float]


class TrainOutput(NamedTuple):
    global_step: int
    training_loss: float
    metrics: dict[str, float]


def set_seed(seed: int) -> None:
    """Seed python `random`, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _concatenate(arrays: list[np.ndarray]) -> np.ndarray:
    """Stack per-batch arrays along the first axis, padding later axes with -100 when lengths differ."""
    if all(array.shape[1:] == arrays[0].shape[1:] for array in arrays):
        return np.concatenate(arrays)
    shape = tuple(max(sizes) for sizes in zip(*(array.shape[1:] for array in arrays), strict=True))
    padded = []
    for array in arrays:
        target = np.full((array.shape[0], *shape), IGNORE_INDEX, dtype=array.dtype)
        target[tuple(slice(0, size) for size in array.shape)] = array
        padded.append(target)
    return np.concatenate(padded)


def _single(values: tuple[np.ndarray, ...]) -> np.ndarray | tuple[np.ndarray, ...]:
    return values[0] if len(values) == 1 else values


class Trainer:
    """Train, evaluate and predict with a model and datasets, with the reference's names and behaviour.

    Args:
        model: the torch model to train (e.g. `DistilBertForSequenceClassification.from_pretrained(path)`); it
            computes its own loss when the batch holds labels, unless `compute_loss_func` is given.
        args: a `TrainingArguments` (default: all defaults, `output_dir="trainer_output"`).
        data_collator: turns a list of examples into a batch of tensors (default: `DataCollatorWithPadding` when
            `processing_class` is a tokenizer, else stacking).
        train_dataset, eval_dataset: a list or map-style torch `Dataset` of dicts, one per example: the model's
            inputs (`input_ids`, `attention_mask`, lists of ints of any length) plus `labels` (an int for
            classification, a list per token for token classification; `start_positions`/`end_positions` for QA).
            Features the model does not take are dropped (`remove_unused_columns`).
        processing_class: the tokenizer (saved with the model; its `pad` serves the default collator).
        compute_metrics: `EvalPrediction -> dict` of metrics, from `predictions` (logits, numpy) and `label_ids`.
        compute_loss_func: `(outputs, labels, num_items_in_batch) -> loss`, replacing the model's own loss.
        optimizers: `(optimizer, scheduler)` to use instead of AdamW with `args.lr_scheduler_type`.
        preprocess_logits_for_metrics: `(logits, labels) -> logits` applied per batch before they are gathered
            (e.g. an argmax, to keep memory small).
        tokenizer: the older name of `processing_class`.

    `train()` returns a `TrainOutput` (global_step, training_loss, metrics); `evaluate()` a dict of `eval_*`
    metrics; `predict(dataset)` a `PredictionOutput` (predictions, label_ids, metrics). Logged values are printed
    to the console and kept in `state.log_history` and `output_dir/trainer_log.jsonl`.

    Example:
        >>> import tempfile
        >>> from distilkit import DistilBertConfig, DistilBertForSequenceClassification, Trainer, TrainingArguments
        >>> model = DistilBertForSequenceClassification(DistilBertConfig(vocab_size=10, dim=16, n_heads=2,
        ...                                                              n_layers=1, hidden_dim=32))
        >>> rows = [{"input_ids": [2, 5 + i % 3, 3], "labels": i % 2} for i in range(8)]
        >>> args = TrainingArguments(output_dir=tempfile.mkdtemp(), max_steps=2, save_strategy="no",
        ...                          disable_tqdm=True)
        >>> trainer = Trainer(model=model, args=args, train_dataset=rows, eval_dataset=rows)
        >>> trainer.train().global_step
        2
        >>> "eval_loss" in trainer.evaluate()
        True
    """

    def __init__(self, model: nn.Module | None = None, args: TrainingArguments | None = None,
                 data_collator: Callable | None = None, train_dataset: Any = None, eval_dataset: Any = None,
                 processing_class: Any = None, compute_metrics: Callable[[EvalPrediction], dict] | None = None,
                 compute_loss_func: Callable | None = None,
                 optimizers: tuple[torch.optim.Optimizer | None, Any] = (None, None),
                 preprocess_logits_for_metrics: Callable | None = None, tokenizer: Any = None) -> None:
        if not isinstance(model, nn.Module):
            raise InputError(f"Trainer needs a torch model (nn.Module), got {type(model).__name__}")
        if args is None:
            args = TrainingArguments()
        if not isinstance(args, TrainingArguments):
            raise ConfigError(f"args must be a TrainingArguments, got {type(args).__name__}")
        if tokenizer is not None and processing_class is not None and tokenizer is not processing_class:
            raise InputError("pass the tokenizer once: processing_class= (or its older name tokenizer=)")
        self.args = args
        self.processing_class = processing_class if processing_class is not None else tokenizer
        self.context = distributed.setup(args.use_cpu, args.ddp_backend)
        self.model = model.to(self.context.device)
        self.model_wrapped = self.model
        if data_collator is None:
            data_collator = (DataCollatorWithPadding(self.processing_class)
                             if hasattr(self.processing_class, "pad") else default_data_collator)
        self.data_collator = data_collator
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset
        self.compute_metrics = compute_metrics
        self.compute_loss_func = compute_loss_func
        self.preprocess_logits_for_metrics = preprocess_logits_for_metrics
        self.optimizer, self.lr_scheduler = optimizers
        self.state = state.TrainerState()
        inputs = data.model_input_names(self.model)
        self.label_names = list(args.label_names or (
            ["start_positions", "end_positions"] if "start_positions" in inputs else ["labels"]))
        self._columns = inputs | set(self.label_names) | set(data.LABEL_ALIASES) \
            | set(getattr(data_collator, "columns", ()))
        if args.eval_strategy != "no" and eval_dataset is None:
            raise ConfigError(f"eval_strategy={args.eval_strategy!r} needs an eval_dataset; pass one or set "
                              "eval_strategy='no'")
        self._log_file: Path | None = None
        self._stop = False

    @property
    def tokenizer(self) -> Any:
        return self.processing_class

    # -- datasets --------------------------------------------------------------------------------------------

    def _rows(self, dataset: Any, name: str) -> data.Rows:
        rows = data.as_rows(dataset, name, self._columns if self.args.remove_unused_columns else None,
                            set(self.label_names) | set(data.LABEL_ALIASES))
        data.check_labels(self.model, dataset, name)
        return rows

    # -- training --------------------------------------------------------------------------------------------

    def train(self, resume_from_checkpoint: str | os.PathLike | bool | None = None) -> TrainOutput:
        """Train; with `resume_from_checkpoint` (a `checkpoint-<step>` folder, or True for the latest one in
        output_dir) continue that run exactly where it stopped."""
        args, context = self.args, self.context
        if self.train_dataset is None:
            raise InputError("train() needs a train_dataset; pass one to the Trainer")
        rows = self._rows(self.train_dataset, "train_dataset")
        if args.eval_strategy != "no":
            self._rows(self.eval_dataset, "eval_dataset")
        checkpoint = self._resolve_checkpoint(resume_from_checkpoint)

        batches_per_epoch = data.batches_per_epoch(len(rows), args.per_device_train_batch_size,
                                                   context.world_size, args.dataloader_drop_last)
        if batches_per_epoch == 0:
            raise InputError(f"train_dataset has {len(rows)} examples, fewer than one batch of "
                             f"{args.per_device_train_batch_size} per process, and dataloader_drop_last=True drops "
                             "it; lower the batch size")
        steps_per_epoch = math.ceil(batches_per_epoch / args.gradient_accumulation_steps)
        if args.max_steps > 0:
            max_steps = args.max_steps
            num_epochs = math.ceil(max_steps / steps_per_epoch)
        else:
            max_steps = math.ceil(args.num_train_epochs * steps_per_epoch)
            num_epochs = math.ceil(args.num_train_epochs)

        set_seed(args.seed)
        if self.optimizer is None:
            self.optimizer = create_optimizer(self.model, args.learning_rate, args.weight_decay,
                                              (args.adam_beta1, args.adam_beta2), args.adam_epsilon)
        if self.lr_scheduler is None:
            self.lr_scheduler = get_scheduler(args.lr_scheduler_type, self.optimizer, args.warmup_for(max_steps),
                                              max_steps)
        self.state = state.TrainerState(max_steps=max_steps, num_train_epochs=num_epochs,
                                        train_batch_size=args.per_device_train_batch_size,
                                        world_size=context.world_size)
        rng = None
        if checkpoint is not None:
            rng = self._load_checkpoint(checkpoint, max_steps)
        if context.distributed:
            device_ids = [context.device.index] if context.device.type == "cuda" else None
            self.model_wrapped = nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)
        self._open_log(resumed=checkpoint is not None)
        if rng is not None:  # last, so nothing between here and the first batch draws random numbers
            state.restore_rng_state(rng)
        return self._train_loop(rows, steps_per_epoch, num_epochs, max_steps)

    def _resolve_checkpoint(self, resume: Any) -> Path | None:
        resume = self.args.resume_from_checkpoint if resume is None else resume
        if resume is None or resume is False:
            return None
        if resume is True:
            found = state.sorted_checkpoints(self.args.output_dir)
            if not found:
                raise CheckpointError(f"resume_from_checkpoint=True but output_dir '{self.args.output_dir}' holds no "
                                      f"'{state.PREFIX_CHECKPOINT_DIR}-<step>' folder; train without resuming first")
            return found[-1]
        if isinstance(resume, (str, os.PathLike)):
            return Path(resume)
        raise ConfigError(f"resume_from_checkpoint={resume!r} must be a path, True or None")

    def _load_checkpoint(self, directory: Path, max_steps: int) -> dict[str, Any] | None:
        """Read and check the whole checkpoint first, then apply it; returns the RNG states to restore last."""
        loaded = state.read_checkpoint(directory, self.model, self.optimizer, self.context.rank)
        saved = loaded.state
        for name, now in (("max_steps", max_steps), ("train_batch_size", self.args.per_device_train_batch_size),
                          ("world_size", self.context.world_size)):
            if getattr(saved, name) and getattr(saved, name) != now:
                logger.warning("resuming with %s=%s, but the checkpoint was trained with %s; the run will not "
                               "reproduce the original one", name, now, getattr(saved, name))
        if saved.global_step > max_steps:
            raise CheckpointError(f"the checkpoint '{directory}' is at step {saved.global_step}, past this run's "
                                  f"{max_steps} steps; raise max_steps / num_train_epochs to train further")
        state.check_scheduler_state(loaded.scheduler, self.lr_scheduler, directory / state.SCHEDULER_NAME)
        try:
            self.optimizer.load_state_dict(loaded.optimizer)
        except (ValueError, KeyError, TypeError, RuntimeError) as error:
            raise CheckpointError(f"the optimizer state in '{directory}' does not fit this run ({error})") from None
        self.lr_scheduler.load_state_dict(loaded.scheduler)
        self.model.load_state_dict(loaded.weights, strict=False)
        saved.max_steps = max_steps
        saved.world_size = self.context.world_size
        self.state = saved
        if loaded.rng is None:
            logger.warning("'%s' holds no RNG state for rank %d; the resumed run will not be reproducible",
                           directory, self.context.rank)
        return loaded.rng

    def _train_loop(self, rows: data.Rows, steps_per_epoch: int, num_epochs: int, max_steps: int) -> TrainOutput:
        args, context, run = self.args, self.context, self.state
        accumulation = args.gradient_accumulation_steps
        started = time.monotonic()
        first_step = run.global_step
        self._stop = False
        self.model_wrapped.train()
        bar = tqdm(total=max_steps, initial=run.global_step, desc="train", dynamic_ncols=True,
                   disable=args.disable_tqdm or not context.is_main)
        lengths = data.example_lengths(rows, args.length_column_name) if args.group_by_length else None
        for epoch in range(run.global_step // steps_per_epoch, num_epochs):
            if run.global_step >= max_steps:  # resumed from the run's last checkpoint: nothing left to do
                break
            batches = data.epoch_batches(len(rows), args.per_device_train_batch_size,
                                         seed=args.data_seed if args.data_seed is not None else args.seed,
                                         epoch=epoch, shuffle=True, rank=context.rank,
                                         world_size=context.world_size, drop_last=args.dataloader_drop_last,
                                         lengths=lengths)
            groups = [batches[start:start + accumulation] for start in range(0, len(batches), accumulation)]
            done_in_epoch = run.global_step - epoch * steps_per_epoch
            remaining = groups[done_in_epoch:]
            flat = [batch for group in remaining for batch in group]
            stream = iter(data.loader(rows, flat, self.data_collator, args.dataloader_num_workers, args.seed + epoch))
            bar.set_description(f"train (epoch {epoch + 1}/{num_epochs})")
            for position, group in enumerate(remaining, start=done_in_epoch):
                step_loss, grad_norm = self._optimizer_step([next(stream) for _ in group])
                run.global_step += 1
                run.epoch = epoch + (position + 1) / len(groups)
                if math.isfinite(step_loss):
                    # as the reference's logging_nan_inf_filter: a batch with nothing to predict (e.g. an MLM batch
                    # with no masked token) has a NaN loss and no gradient; it must not hide the other steps' losses
                    run.pending_loss += step_loss
                    run.pending_steps += 1
                    run.total_loss += step_loss
                bar.update(1)
                bar.set_postfix(loss=f"{step_loss:.4f}")
                epoch_end = position + 1 == len(groups) or run.global_step >= max_steps
                self._after_step(grad_norm, epoch_end)
                if self._stop or run.global_step >= max_steps:
                    break
            if self._stop or run.global_step >= max_steps:
                break
        bar.close()
        if self.args.load_best_model_at_end and run.best_model_checkpoint is not None:
            self._load_best_model()
        runtime = time.monotonic() - started
        steps = max(1, run.global_step - first_step)
        train_loss = distributed.mean_across(context, run.total_loss) / max(1, run.global_step)
        metrics = {"train_runtime": runtime, "train_steps_per_second": steps / runtime,
                   "train_samples_per_second": steps * args.per_device_train_batch_size * accumulation
                   * context.world_size / runtime, "train_loss": train_loss}
        self.log(dict(metrics))
        return TrainOutput(run.global_step, train_loss, metrics)

    def _optimizer_step(self, micro_batches: list[dict[str, Any]]) -> tuple[float, float | None]:
        """Forward/backward over the micro-batches of one accumulation group, clip, step. Returns the group's
        loss (the mean of the micro-batch losses) and the gradient norm before clipping."""
        model = self.model_wrapped
        losses = []
        for index, batch in enumerate(micro_batches):
            last = index == len(micro_batches) - 1
            # DDP all-reduces gradients on every backward unless told not to; only the last one needs it
            sync = contextlib.nullcontext() if last or not self.context.distributed else model.no_sync()
            with sync:
                loss = self.compute_loss(model, self._to_device(batch)) / len(micro_batches)
                loss.backward()
            losses.append(loss.detach())
        grad_norm = None
        if self.args.max_grad_norm > 0:
            grad_norm = float(nn.utils.clip_grad_norm_(self.model.parameters(), self.args.max_grad_norm))
        self.optimizer.step()
        self.lr_scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return torch.stack(losses).sum().item(), grad_norm  # one device sync per step, not per micro-batch

    def compute_loss(self, model: nn.Module, inputs: dict[str, Any]) -> torch.Tensor:
        """The training loss of one batch: the model's own loss, or `compute_loss_func(outputs, labels, None)`."""
        if self.compute_loss_func is not None:
            inputs = dict(inputs)
            labels = [inputs.pop(name) for name in self.label_names if name in inputs]
            outputs = model(**inputs)
            return self.compute_loss_func(outputs, labels[0] if len(labels) == 1 else tuple(labels), None)
        outputs = model(**inputs)
        loss = outputs.get("loss") if isinstance(outputs, Mapping) or hasattr(outputs, "get") else None
        if loss is None:
            raise InputError(f"the model returned no loss for a batch with keys {sorted(inputs)}; training needs "
                             f"labels ({', '.join(self.label_names)}) in the data, or a compute_loss_func")
        return loss

    def _to_device(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(batch, Mapping):
            raise InputError(f"the data collator returned a {type(batch).__name__}; it must return a dict of "
                             "tensors keyed by model input names")
        return {key: value.to(self.context.device) if isinstance(value, torch.Tensor) else value
                for key, value in batch.items()}

    def _after_step(self, grad_norm: float | None, epoch_end: bool) -> None:
        """Log, evaluate, save — in that order, so a checkpoint holds everything this step produced."""
        args, run = self.args, self.state
        step = run.global_step

        def due(strategy: str, every: str) -> bool:
            if strategy == "steps":
                return step % args.steps_for(every, run.max_steps) == 0
            return strategy == "epoch" and epoch_end

        if due(args.logging_strategy, "logging_steps") or (args.logging_first_step and step == 1):
            mean = run.pending_loss / run.pending_steps if run.pending_steps else float("nan")
            loss = distributed.mean_across(self.context, mean)
            entry = {"loss": loss, "learning_rate": self.lr_scheduler.get_last_lr()[0]}
            if grad_norm is not None:
                entry["grad_norm"] = grad_norm
            run.pending_loss, run.pending_steps = 0.0, 0
            self.log(entry)
        improved = False
        if due(args.eval_strategy, "eval_steps"):
            metrics = self.evaluate()
            improved = self._track_best(metrics)
        if due(args.save_strategy, "save_steps"):
            self._save_checkpoint(improved)

    def _track_best(self, metrics: dict[str, float]) -> bool:
        """Update the best metric and the early-stopping counter; True when this evaluation is the best so far."""
        args, run = self.args, self.state
        if args.metric_for_best_model is None:
            return False
        name = args.metric_for_best_model
        name = name if name.startswith("eval_") else f"eval_{name}"
        if name not in metrics:
            raise ConfigError(f"metric_for_best_model={args.metric_for_best_model!r} is not among the evaluation "
                              f"metrics {sorted(metrics)}; pick one of them (compute_metrics adds more)")
        value = float(metrics[name])
        sign = 1.0 if args.greater_is_better else -1.0
        improved = run.best_metric is None or sign * (value - run.best_metric) > 0
        significant = run.best_metric is None or sign * (value - run.best_metric) > args.early_stopping_threshold
        if improved:
            run.best_metric = value
        if args.early_stopping_patience is not None:
            run.early_stopping_count = 0 if significant else run.early_stopping_count + 1
            if run.early_stopping_count >= args.early_stopping_patience:
                logger.info("early stopping: %s did not improve for %d evaluations", name, run.early_stopping_count)
                self._stop = True
        return improved

    def _save_checkpoint(self, improved: bool) -> None:
        args, context, run = self.args, self.context, self.state
        directory = Path(args.output_dir) / f"{state.PREFIX_CHECKPOINT_DIR}-{run.global_step}"
        if improved:
            run.best_model_checkpoint = str(directory)
        rng_states = distributed.gather_objects(context, state.capture_rng_state())
        # each rank logs the mean of its own pending losses; storing the mean keeps later logs equal on resume
        pending = distributed.mean_across(context, run.pending_loss)
        total = distributed.mean_across(context, run.total_loss)
        if context.is_main:
            saved = state.TrainerState(**{**vars(run), "pending_loss": pending, "total_loss": total})
            state.write_checkpoint(directory, model=self.model, tokenizer=self.processing_class,
                                   optimizer=self.optimizer, scheduler=self.lr_scheduler, state=saved,
                                   args_json=args.to_json_string(), rng_states=rng_states)
            state.rotate_checkpoints(args.output_dir, args.save_total_limit, run.best_model_checkpoint)
        distributed.barrier(context)

    def _load_best_model(self) -> None:
        best = Path(self.state.best_model_checkpoint)
        if not best.is_dir():  # output_dir moved since: look for the folder by name
            best = Path(self.args.output_dir) / best.name
        weights = state.read_model_weights(self.model, best)
        self.model.load_state_dict(weights, strict=False)
        logger.info("loaded the best model from %s (%s = %s)", best, self.args.metric_for_best_model,
                    self.state.best_metric)

    # -- logging ---------------------------------------------------------------------------------------------

    def _open_log(self, resumed: bool) -> None:
        """Start `trainer_log.jsonl`: empty for a new run; for a resumed run, the history up to the checkpoint (the
        lines a killed run wrote after it are dropped, as the resumed run writes them again)."""
        if not self.context.is_main:
            return
        directory = Path(self.args.output_dir)
        directory.mkdir(parents=True, exist_ok=True)
        self._log_file = directory / LOG_FILE_NAME
        lines = [json.dumps(entry) + "\n" for entry in self.state.log_history] if resumed else []
        write_text_atomic(self._log_file, "".join(lines))

    def log(self, logs: dict[str, float]) -> None:
        """Record `logs` with the current epoch and step in `state.log_history` and the JSON-lines log."""
        entry = {**logs, "epoch": self.state.epoch, "step": self.state.global_step}
        self.state.log_history.append(entry)
        if self.context.is_main and self._log_file is not None:
            with open(self._log_file, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")
        if self.context.is_main:
            if self.args.disable_tqdm:
                logger.info("%s", entry)
            else:  # the console print the reference gives (above the progress bar): the metrics and the epoch
                tqdm.write(str({**logs, "epoch": self.state.epoch}))

    # -- evaluation and prediction ---------------------------------------------------------------------------

    def evaluate(self, eval_dataset: Any = None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """Loss and `compute_metrics` on the eval dataset, keys prefixed `eval_`; logged."""
        dataset = self.eval_dataset if eval_dataset is None else eval_dataset
        if dataset is None:
            raise InputError("evaluate() needs an eval_dataset: pass one here or to the Trainer")
        # logits are only collected when compute_metrics needs them (an MLM's are batch x length x vocabulary)
        output = self._predict_loop(dataset, "eval_dataset", metric_key_prefix,
                                    keep_predictions=self.compute_metrics is not None)
        self.log(output.metrics)
        return output.metrics

    def predict(self, test_dataset: Any, metric_key_prefix: str = "test") -> PredictionOutput:
        """Predictions (numpy logits; a tuple for QA start/end), the labels when the data has them, and
        metrics."""
        return self._predict_loop(test_dataset, "test_dataset", metric_key_prefix, keep_predictions=True)

    def _predict_loop(self, dataset: Any, name: str, prefix: str, keep_predictions: bool) -> PredictionOutput:
        args, context = self.args, self.context
        rows = self._rows(dataset, name)
        batches = data.shard_batches(len(rows), args.per_device_eval_batch_size, context.rank, context.world_size)
        model = self.model
        was_training = model.training
        model.eval()
        started = time.monotonic()
        loss_sum, loss_count = 0.0, 0
        predictions: list[tuple[np.ndarray, ...]] = []
        labels: list[tuple[np.ndarray, ...]] = []
        stream = data.loader(rows, batches, self.data_collator, args.dataloader_num_workers, args.seed)
        for batch in tqdm(stream, desc="evaluate", leave=False, disable=args.disable_tqdm or not context.is_main):
            batch = self._to_device(batch)
            keep = keep_predictions and not args.prediction_loss_only
            loss, rows_in_batch, logits, batch_labels = self._prediction_step(batch, keep)
            if loss is not None:
                loss_sum += loss * rows_in_batch
                loss_count += rows_in_batch
            if logits:
                predictions.append(logits)
            if batch_labels is not None:
                labels.append(batch_labels)
        if was_training:
            model.train()
        gathered = distributed.gather_objects(context, (loss_sum, loss_count, predictions, labels))
        loss_sum = sum(part[0] for part in gathered)
        loss_count = sum(part[1] for part in gathered)
        predictions = [item for part in gathered for item in part[2]]
        labels = [item for part in gathered for item in part[3]]
        merged_predictions = _single(tuple(_concatenate([p[i] for p in predictions])
                                           for i in range(len(predictions[0])))) if predictions else None
        merged_labels = _single(tuple(_concatenate([p[i] for p in labels])
                                      for i in range(len(labels[0])))) if labels else None
        metrics: dict[str, float] = {}
        if loss_count:
            metrics["loss"] = loss_sum / loss_count
        if self.compute_metrics is not None and merged_predictions is not None and merged_labels is not None:
            metrics.update(self.compute_metrics(EvalPrediction(merged_predictions, merged_labels)))
        runtime = time.monotonic() - started
        metrics.update({"runtime": runtime, "samples_per_second": len(rows) / runtime,
                        "steps_per_second": len(batches) / runtime})
        metrics = {(key if key.startswith(f"{prefix}_") else f"{prefix}_{key}"): value
                   for key, value in metrics.items()}
        return PredictionOutput(merged_predictions, merged_labels, metrics)

    def _prediction_step(self, batch: dict[str, Any], keep_predictions: bool
                         ) -> tuple[float | None, int, tuple[np.ndarray, ...], tuple[np.ndarray, ...] | None]:
        """(loss, rows in the batch, output tensors as numpy unless not kept, labels) of one eval batch."""
        has_labels = all(name in batch for name in self.label_names)
        label_values = tuple(batch[name].detach().cpu().numpy() for name in self.label_names) if has_labels else None
        with torch.no_grad():
            if self.compute_loss_func is not None:
                inputs = {key: value for key, value in batch.items() if key not in self.label_names}
                outputs = self.model(**inputs)
                loss = None
                if has_labels:
                    targets = tuple(batch[name] for name in self.label_names)
                    loss = self.compute_loss_func(outputs, targets[0] if len(targets) == 1 else targets, None)
            else:
                outputs = self.model(**batch)
                loss = outputs.get("loss") if hasattr(outputs, "get") else None
        skip = {"loss", "hidden_states", "attentions"}
        items = outputs.items() if hasattr(outputs, "items") else []
        tensors = tuple(value for key, value in items if key not in skip and isinstance(value, torch.Tensor))
        rows = tensors[0].shape[0] if tensors else 1
        if not keep_predictions:
            tensors = ()
        elif self.preprocess_logits_for_metrics is not None:
            labels = tuple(batch[name] for name in self.label_names) if has_labels else None
            reduced = self.preprocess_logits_for_metrics(_single(tensors), _single(labels) if labels else None)
            tensors = reduced if isinstance(reduced, tuple) else (reduced,)
        logits = tuple((value.float() if value.is_floating_point() else value).detach().cpu().numpy()
                       for value in tensors)
        return (None if loss is None else loss.item()), rows, logits, label_values

    # -- saving ----------------------------------------------------------------------------------------------

    def save_model(self, output_dir: str | os.PathLike | None = None) -> None:
        """Save the model (and tokenizer) with `save_pretrained`, plus `training_args.json`; rank 0 only."""
        directory = Path(self.args.output_dir if output_dir is None else output_dir)
        if self.context.is_main:
            # one transaction: a kill mid-save leaves the folder's previous model, tokenizer and arguments
            with staged_directory(directory) as stage:
                state.save_model_weights(self.model, stage.path)
                if self.processing_class is not None and hasattr(self.processing_class, "save_pretrained"):
                    self.processing_class.save_pretrained(stage.path)
                write_text_atomic(stage.path / state.TRAINING_ARGS_NAME, self.args.to_json_string())
        distributed.barrier(self.context)
