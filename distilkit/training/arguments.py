"""`TrainingArguments`: every knob of a fine-tuning run in one typed dataclass that validates itself.

Names and defaults follow the reference's `TrainingArguments` (output_dir, learning_rate, eval_strategy, ...), so
recipes written for it carry over. Fields the reference spreads over callbacks (early stopping) live here too.
Step counts given as a float in (0, 1) are a fraction of the total optimisation steps, as in the reference.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

STRATEGIES = ("no", "steps", "epoch")
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")


@dataclass
class TrainingArguments:
    """Hyper-parameters and bookkeeping of a `Trainer` run; invalid values raise `ConfigError` naming the field.

    Names and defaults are the reference's. "Steps" are optimizer steps (after gradient accumulation); a step
    count given as a float in (0, 1) is that fraction of the run's total steps.

    Args:
        output_dir: folder for checkpoints (`checkpoint-<step>`) and `trainer_log.jsonl`.
        learning_rate: peak learning rate of AdamW.
        weight_decay: AdamW weight decay, applied to every weight except biases and LayerNorm weights.
        adam_beta1, adam_beta2, adam_epsilon: AdamW's moment decay rates and denominator epsilon.
        max_grad_norm: clip the global gradient norm to this before each step (0: no clipping).
        num_train_epochs: epochs to train (a float trains part of the last epoch); ignored when `max_steps` > 0.
        max_steps: total optimizer steps; -1 trains for `num_train_epochs`.
        per_device_train_batch_size, per_device_eval_batch_size: examples per batch and per process.
        gradient_accumulation_steps: batches whose gradients are summed before one optimizer step.
        lr_scheduler_type: "linear" (decay to 0), "cosine", "constant" or "constant_with_warmup".
        warmup_ratio, warmup_steps: linear warm-up from 0, as a share of the total steps or a step count (the
            count wins when both are set).
        eval_strategy: when to evaluate on `eval_dataset`: "no", "steps" (every `eval_steps`) or "epoch".
        eval_steps: evaluation interval for eval_strategy="steps" (default: `logging_steps`).
        logging_strategy, logging_steps, logging_first_step: when loss, learning rate and gradient norm are
            logged (to `state.log_history`, the JSON-lines log and the console).
        save_strategy, save_steps: when checkpoints are written: "no", "steps" (every `save_steps`) or "epoch".
        save_total_limit: keep at most this many checkpoints (the best one is never deleted); None keeps all.
        load_best_model_at_end: reload the best checkpoint's weights after training (needs evaluations).
        metric_for_best_model: the evaluation metric that ranks checkpoints, e.g. "accuracy" (default: the loss).
        greater_is_better: whether a larger metric is better (default: True unless the metric is a loss).
        early_stopping_patience: stop after this many evaluations without improvement (None: never).
        early_stopping_threshold: the least improvement that counts for early stopping.
        seed: seed of model initialisation, dropout and shuffling; a run is reproducible bit for bit on CPU.
        data_seed: a separate seed for the data order (default: `seed`).
        dataloader_drop_last: drop the last incomplete training batch.
        group_by_length: batch examples of similar length together (less padding, faster).
        length_column_name: the feature holding each example's length for `group_by_length` (else counted).
        dataloader_num_workers: worker processes that load batches (0: in the main process).
        remove_unused_columns: drop features the model's forward does not take before collating.
        label_names: the features holding labels (default: "labels", or the QA heads' start/end positions).
        prediction_loss_only: evaluate and predict the loss only, without collecting logits.
        use_cpu: train on CPU even when an accelerator is present.
        ddp_backend: the torch.distributed backend under torchrun: "gloo", "nccl", or None to choose.
        disable_tqdm: no progress bars; logged values go to the `distilkit.training.trainer` logger instead.
        resume_from_checkpoint: a checkpoint folder to resume from (also `trainer.train(resume_from_checkpoint=)`).

    Example:
        >>> from distilkit import TrainingArguments
        >>> args = TrainingArguments(output_dir="out", learning_rate=3e-5, num_train_epochs=2, eval_strategy="epoch")
        >>> args.per_device_train_batch_size, args.eval_steps
        (8, 500)
        >>> TrainingArguments(eval_strategy="sometimes")
        Traceback (most recent call last):
        ...
        distilkit.errors.ConfigError: eval_strategy='sometimes' is not one of no, steps, epoch
    """

    output_dir: str = "trainer_output"
    # optimisation
    learning_rate: float = 5e-5
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    num_train_epochs: float = 3.0
    max_steps: int = -1
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    lr_scheduler_type: str = "linear"
    warmup_ratio: float = 0.0
    warmup_steps: int = 0
    # evaluation, logging, saving
    eval_strategy: str = "no"
    eval_steps: float | None = None
    logging_strategy: str = "steps"
    logging_steps: float = 500
    logging_first_step: bool = False
    save_strategy: str = "steps"
    save_steps: float = 500
    save_total_limit: int | None = None
    load_best_model_at_end: bool = False
    metric_for_best_model: str | None = None
    greater_is_better: bool | None = None
    early_stopping_patience: int | None = None
    early_stopping_threshold: float = 0.0
    # data
    seed: int = 42
    data_seed: int | None = None
    dataloader_drop_last: bool = False
    group_by_length: bool = False  # batch examples of similar length together (less padding, faster)
    length_column_name: str = "length"
    dataloader_num_workers: int = 0
    remove_unused_columns: bool = True
    label_names: list[str] | None = None
    prediction_loss_only: bool = False
    # machinery
    use_cpu: bool = False
    ddp_backend: str | None = None
    disable_tqdm: bool = False
    resume_from_checkpoint: str | None = None

    def __post_init__(self) -> None:
        self.output_dir = str(self.output_dir)
        self._check_types()
        positive = ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 1")
        for name in ("learning_rate", "weight_decay", "adam_epsilon", "max_grad_norm", "num_train_epochs",
                     "warmup_steps", "dataloader_num_workers", "early_stopping_threshold"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 0")
        for name in ("adam_beta1", "adam_beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be in [0, 1)")
        if not 0 <= self.warmup_ratio <= 1:
            raise ConfigError(f"warmup_ratio={self.warmup_ratio} must be in [0, 1]")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ConfigError(f"max_steps={self.max_steps} must be a positive number of steps, or -1 to train "
                              "for num_train_epochs")
        if self.max_steps == -1 and self.num_train_epochs == 0:
            raise ConfigError("num_train_epochs=0 and max_steps=-1 leave nothing to train; set one of them")
        for name, allowed in (("eval_strategy", STRATEGIES), ("logging_strategy", STRATEGIES),
                              ("save_strategy", STRATEGIES), ("lr_scheduler_type", SCHEDULERS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name}={getattr(self, name)!r} is not one of {', '.join(allowed)}")
        if self.lr_scheduler_type == "constant" and (self.warmup_steps or self.warmup_ratio):
            # the reference silently ignores warmup here; say so instead
            raise ConfigError("lr_scheduler_type='constant' has no warmup; use 'constant_with_warmup' to warm up")
        if self.eval_steps is None:
            self.eval_steps = self.logging_steps  # the reference's default
        for name in ("logging_steps", "eval_steps", "save_steps"):
            value = getattr(self, name)
            if value <= 0 or (value > 1 and value != int(value)):
                raise ConfigError(f"{name}={value} must be a whole number of steps >= 1, or a fraction in (0, 1) "
                                  "of the total steps")
        if self.save_total_limit is not None and self.save_total_limit < 1:
            raise ConfigError(f"save_total_limit={self.save_total_limit} must be >= 1 (or None to keep every "
                              "checkpoint)")
        if self.ddp_backend not in (None, "gloo", "nccl"):
            raise ConfigError(f"ddp_backend={self.ddp_backend!r} is not one of gloo, nccl (or None to choose)")
        self._check_best_model()

    def _check_types(self) -> None:
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            wanted = spec.type if isinstance(spec.type, str) else str(spec.type)
            if value is None:
                if "None" not in wanted:
                    raise ConfigError(f"{spec.name} must not be None")
                continue
            if wanted.startswith("bool"):
                ok = isinstance(value, bool)
            elif wanted.startswith("int"):
                ok = isinstance(value, int) and not isinstance(value, bool)
            elif wanted.startswith("float"):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            elif wanted.startswith("str"):
                ok = isinstance(value, str)
            else:  # list[str]
                ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
            if not ok:
                raise ConfigError(f"{spec.name}={value!r} has the wrong type: expected {wanted}")

    def _check_best_model(self) -> None:
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ConfigError(f"early_stopping_patience={self.early_stopping_patience} must be >= 1 (or None)")
        tracks_best = self.load_best_model_at_end or self.early_stopping_patience is not None
        if tracks_best and self.eval_strategy == "no":
            raise ConfigError("load_best_model_at_end and early_stopping_patience need evaluations: set "
                              "eval_strategy='steps' or 'epoch'")
        if self.early_stopping_patience is not None and self.metric_for_best_model is None:
            self.metric_for_best_model = "loss"
        if self.load_best_model_at_end:
            if self.save_strategy != self.eval_strategy:
                raise ConfigError(f"load_best_model_at_end needs save_strategy == eval_strategy, got "
                                  f"save_strategy={self.save_strategy!r}, eval_strategy={self.eval_strategy!r}")
            if self.eval_strategy == "steps" and self.save_steps % self.eval_steps:
                raise ConfigError(f"load_best_model_at_end needs save_steps ({self.save_steps}) to be a multiple "
                                  f"of eval_steps ({self.eval_steps}), so every checkpoint has a score")
            if self.metric_for_best_model is None:
                self.metric_for_best_model = "loss"
        if self.metric_for_best_model is not None and self.greater_is_better is None:
            self.greater_is_better = self.metric_for_best_model.removeprefix("eval_") != "loss"

    # -- derived values ----------------------------------------------------------------------------------------

    def steps_for(self, name: str, total_steps: int) -> int:
        """`logging_steps` / `eval_steps` / `save_steps` as a step count (fractions are of `total_steps`)."""
        value = getattr(self, name)
        return max(1, math.ceil(value * total_steps)) if value < 1 else int(value)

    def warmup_for(self, total_steps: int) -> int:
        """Warmup steps: `warmup_steps` when set, else `warmup_ratio` of the total."""
        return self.warmup_steps if self.warmup_steps > 0 else math.ceil(self.warmup_ratio * total_steps)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
