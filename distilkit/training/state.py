"""Checkpoints of a training run without pickle: `checkpoint-<step>/` folders of safetensors and JSON files.

A checkpoint holds what an exact resume needs: the model (as `save_pretrained` writes it, so the folder also loads
with `from_pretrained`), the optimizer's tensors (`optimizer.safetensors`) and settings (`optimizer.json`), the
scheduler (`scheduler.json`), every process's RNG states (python, numpy, torch, cuda: `rng_state.safetensors` +
`rng_state.json`), the trainer's progress (`trainer_state.json`) and the arguments (`training_args.json`). The
reference stores several of these with pickle (`.pt` / `.bin`); loading those is how CVE-2026-1839 ran code.
Everything is read and checked before any of it is applied, so a damaged checkpoint fails before training starts.
"""

from __future__ import annotations

import math
import os
import random
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import fsync_directory, read_json, swap_in_directory, write_json_atomic, write_text_atomic
from ..checkpoint import check_finite_weights, find_weight_files, load_state_dict, save_state_dict
from ..errors import CheckpointError, DistilkitError

PREFIX_CHECKPOINT_DIR = "checkpoint"
TRAINER_STATE_NAME = "trainer_state.json"
TRAINING_ARGS_NAME = "training_args.json"
OPTIMIZER_NAME = "optimizer.safetensors"
OPTIMIZER_SETTINGS_NAME = "optimizer.json"
SCHEDULER_NAME = "scheduler.json"
RNG_STATE_NAME = "rng_state.safetensors"
RNG_SETTINGS_NAME = "rng_state.json"
_CHECKPOINT_PATTERN = re.compile(rf"{PREFIX_CHECKPOINT_DIR}-(\d+)")


@dataclass
class TrainerState:
    """The Trainer's progress, saved as `trainer_state.json`.

    `pending_loss` / `pending_steps` hold the loss summed since the last log, so the first log after a resume
    reports the same value the uninterrupted run did.
    """

    global_step: int = 0
    epoch: float = 0.0
    max_steps: int = 0
    num_train_epochs: int = 0
    train_batch_size: int = 0
    world_size: int = 1
    log_history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float | None = None
    best_model_checkpoint: str | None = None
    early_stopping_count: int = 0
    pending_loss: float = 0.0
    pending_steps: int = 0
    total_loss: float = 0.0

    def save(self, path: Path) -> None:
        write_json_atomic(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> TrainerState:
        data = read_checkpoint_json(path)
        if not isinstance(data, dict):
            raise CheckpointError(f"'{path}' holds {type(data).__name__}, not an object; it is not a trainer state")
        known = {spec.name: spec for spec in fields(cls)}
        missing = sorted(name for name in ("global_step", "epoch", "log_history") if name not in data)
        if missing:
            raise CheckpointError(f"'{path}' lacks {missing}; it is not a trainer state written by distilkit")
        state = cls(**{key: value for key, value in data.items() if key in known})
        numbers = ("global_step", "max_steps", "num_train_epochs", "train_batch_size", "world_size",
                   "early_stopping_count", "pending_steps")
        for name in numbers:
            value = getattr(state, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise CheckpointError(f"'{path}': {name}={value!r} must be a whole number >= 0")
        for name in ("epoch", "pending_loss", "total_loss"):
            check_number(getattr(state, name), path, name, minimum=0.0 if name == "epoch" else None)
        if state.best_metric is not None:
            check_number(state.best_metric, path, "best_metric")
        if state.best_model_checkpoint is not None and not isinstance(state.best_model_checkpoint, str):
            raise CheckpointError(f"'{path}': best_model_checkpoint={state.best_model_checkpoint!r} must be a path "
                                  "string or null")
        if not isinstance(state.log_history, list) or not all(isinstance(item, dict) for item in state.log_history):
            raise CheckpointError(f"'{path}': log_history must be a list of objects")
        return state


# -- reading and checking values --------------------------------------------------------------------------------

def read_checkpoint_json(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(f"'{path}' is missing; the checkpoint is incomplete")
    # NaN is allowed in the file (a diverged run logs it); the values restored are checked one by one
    return read_json(path, what="the checkpoint file", error=CheckpointError, allow_nan=True)


def check_number(value: Any, where: Path, key: str, *, minimum: float | None = None, below: float | None = None,
                 whole: bool = False) -> None:
    """`value` must be a finite number (a whole one with `whole`) >= `minimum` and < `below`, else CheckpointError
    naming the file, the key and the value."""
    kind = "a whole number" if whole else "a finite number"
    fine = (not isinstance(value, bool) and isinstance(value, int if whole else (int, float))
            and math.isfinite(value) and (minimum is None or value >= minimum) and (below is None or value < below))
    if not fine:
        bounds = "".join(part for part in (f" >= {minimum}" if minimum is not None else "",
                                           f" and < {below}" if below is not None else ""))
        raise CheckpointError(f"'{where}': {key} = {value!r} must be {kind}{bounds}; the checkpoint was damaged "
                              "or edited, so nothing of it was applied")


# Optimizer and scheduler settings with a range beyond "finite": learning rates, epsilons and decays are >= 0,
# Adam's betas lie in [0, 1); a scheduler's epoch starts at -1 and its step count at 0.
_OPTIMIZER_RANGES = {"lr": (0.0, None), "initial_lr": (0.0, None), "eps": (0.0, None), "weight_decay": (0.0, None),
                     "betas": (0.0, 1.0), "base_lrs": (0.0, None), "_last_lr": (0.0, None), "last_epoch": (-1, None),
                     "_step_count": (0, None), "step": (0.0, None)}
_WHOLE_NUMBERS = ("last_epoch", "_step_count")
# Optimizer tensors that are never negative (second moments, step counts).
_NON_NEGATIVE_STATE = ("exp_avg_sq", "max_exp_avg_sq", "step")


def check_like(saved: Any, live: Any, where: Path, key: str) -> None:
    """`saved` must have the kind of value the live object holds at `key` (bool, whole number, finite number,
    list of them of the same length, string, null), within `_OPTIMIZER_RANGES`."""
    name = key.rpartition(".")[2].partition("[")[0]
    minimum, below = _OPTIMIZER_RANGES.get(name, (None, None))
    if isinstance(live, torch.Tensor) and live.numel() == 1:
        live = live.item()
    if isinstance(live, bool) or live is None:
        if not (saved is None or isinstance(saved, bool)):
            raise CheckpointError(f"'{where}': {key} = {saved!r} must be true, false or null")
    elif isinstance(live, (int, float)):
        check_number(saved, where, key, minimum=minimum, below=below, whole=name in _WHOLE_NUMBERS)
    elif isinstance(live, (list, tuple)):
        if not isinstance(saved, list) or len(saved) != len(live):
            raise CheckpointError(f"'{where}': {key} = {saved!r} must be a list of {len(live)} values like "
                                  f"{list(live)!r}")
        for position, (saved_item, live_item) in enumerate(zip(saved, live, strict=True)):
            check_like(saved_item, live_item, where, f"{key}[{position}]")
    elif isinstance(live, str):
        if not isinstance(saved, str):
            raise CheckpointError(f"'{where}': {key} = {saved!r} must be a string")
    elif saved != live:  # something JSON cannot hold (a tensor with many values, an object): must be unchanged
        raise CheckpointError(f"'{where}': {key} = {saved!r} cannot be restored into {type(live).__name__}")


def checkpoint_step(path: Path) -> int | None:
    match = _CHECKPOINT_PATTERN.fullmatch(path.name)
    return int(match[1]) if match else None


def sorted_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """The `checkpoint-<step>` folders of `output_dir`, oldest step first."""
    directory = Path(output_dir)
    if not directory.is_dir():
        return []
    found = [path for path in directory.iterdir() if path.is_dir() and checkpoint_step(path) is not None]
    return sorted(found, key=checkpoint_step)


def rotate_checkpoints(output_dir: str | os.PathLike, limit: int | None, best: str | None) -> list[Path]:
    """Delete all but the newest `limit` checkpoints, always keeping the best one; return what was deleted."""
    if limit is None:
        return []
    checkpoints = sorted_checkpoints(output_dir)
    keep = set(checkpoints[-limit:])
    if best is not None:
        keep |= {path for path in checkpoints if path.resolve() == Path(best).resolve()}
    deleted = [path for path in checkpoints if path not in keep]
    for path in deleted:
        shutil.rmtree(path, ignore_errors=True)
    return deleted


# -- optimizer, scheduler, RNG ----------------------------------------------------------------------------------

def optimizer_files(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split `optimizer.state_dict()` into tensors (`state.<param>.<name>`) and JSON-ready settings."""
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in state_dict["state"].items():
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{name}"] = value.detach().cpu().clone()
            elif isinstance(value, (bool, int, float)):
                scalars.setdefault(str(index), {})[name] = value
            else:
                raise CheckpointError(f"optimizer state '{name}' of parameter {index} is a {type(value).__name__}; "
                                      "only tensors and numbers can be saved without pickle")
    return tensors, {"param_groups": state_dict["param_groups"], "scalar_state": scalars}


def optimizer_state_dict(tensors: dict[str, torch.Tensor], settings: dict[str, Any],
                         optimizer: torch.optim.Optimizer, where: Path) -> dict[str, Any]:
    """Rebuild an optimizer state dict from its files, checked against `optimizer`'s parameters."""
    if not isinstance(settings, dict):
        raise CheckpointError(f"'{where.with_name(OPTIMIZER_SETTINGS_NAME)}' holds {type(settings).__name__}, not an "
                              "object; it is not an optimizer state")
    groups = settings.get("param_groups")
    current = optimizer.param_groups
    if not isinstance(groups, list) or len(groups) != len(current):
        raise CheckpointError(f"'{where}' holds {len(groups) if isinstance(groups, list) else 'no'} parameter "
                              f"groups but the optimizer has {len(current)}; was it saved for another model?")
    parameters = [parameter for group in current for parameter in group["params"]]
    settings_file = where.with_name(OPTIMIZER_SETTINGS_NAME)
    first = 0
    for number, (saved, live) in enumerate(zip(groups, current, strict=True)):
        if not isinstance(saved, dict) or not isinstance(saved.get("params"), list) \
                or len(saved["params"]) != len(live["params"]):
            raise CheckpointError(f"'{where}': a parameter group's size differs from the optimizer's; was it saved "
                                  "for another model?")
        expected = list(range(first, first + len(live["params"])))
        if saved["params"] != expected:
            raise CheckpointError(f"'{settings_file}': param_groups[{number}].params = {saved['params']!r} must be "
                                  f"{expected}")
        first += len(expected)
        for name, value in saved.items():
            if name == "params":
                continue
            if name not in live:
                raise CheckpointError(f"'{settings_file}': param_groups[{number}] has the key {name!r}, which "
                                      f"{type(optimizer).__name__} does not have; was it saved by another optimizer?")
            check_like(value, live[name], settings_file, f"param_groups[{number}].{name}")
    state: dict[int, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        match = re.fullmatch(r"state\.(\d+)\.(\w+)", key)
        if not match or int(match[1]) >= len(parameters):
            raise CheckpointError(f"'{where}' holds an unexpected tensor '{key}'")
        index = int(match[1])
        if tensor.dim() > 0 and tensor.shape != parameters[index].shape:
            raise CheckpointError(f"'{where}': '{key}' has shape {list(tensor.shape)} but parameter {index} has "
                                  f"{list(parameters[index].shape)}; was it saved for another model?")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"'{where}': '{key}' holds NaN or infinite values; the checkpoint was damaged or "
                                  "the run had diverged, so nothing of it was applied")
        if match[2] in _NON_NEGATIVE_STATE and tensor.numel() and float(tensor.min()) < 0:
            raise CheckpointError(f"'{where}': '{key}' holds negative values ({float(tensor.min())}); it cannot be "
                                  "negative")
        state.setdefault(index, {})[match[2]] = tensor
    scalars = settings.get("scalar_state") or {}
    if not isinstance(scalars, dict):
        raise CheckpointError(f"'{settings_file}': scalar_state = {scalars!r} must be an object")
    for index, entry in scalars.items():
        if not (isinstance(index, str) and index.isdigit() and int(index) < len(parameters)) \
                or not isinstance(entry, dict):
            raise CheckpointError(f"'{settings_file}': scalar_state[{index!r}] = {entry!r} is not the state of one of "
                                  f"the {len(parameters)} parameters")
        for name, value in entry.items():
            if isinstance(value, bool):
                continue
            minimum, below = _OPTIMIZER_RANGES.get(name, (None, None))
            check_number(value, settings_file, f"scalar_state[{index!r}].{name}", minimum=minimum, below=below)
        state.setdefault(int(index), {}).update(entry)
    return {"state": state, "param_groups": groups}


def check_scheduler_state(saved: Any, scheduler: Any, where: Path) -> None:
    """The saved scheduler state must have the live scheduler's keys, each with a value of the same kind."""
    current = scheduler.state_dict()
    if not isinstance(saved, dict) or set(saved) != set(current):
        raise CheckpointError(f"the scheduler state in '{where}' does not fit this run's "
                              f"{type(scheduler).__name__}")
    for key, live in current.items():
        check_like(saved[key], live, where, key)


def capture_rng_state() -> dict[str, Any]:
    """This process's RNG states: python `random`, numpy's global generator, torch CPU and CUDA."""
    version, internal, gauss = random.getstate()
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, list(internal), gauss],
        "numpy": {"kind": kind, "keys": keys.astype(np.int64).tolist(), "pos": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
    }
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    np.random.set_state((numpy_state["kind"], np.asarray(numpy_state["keys"], dtype=np.uint32), numpy_state["pos"],
                         numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_rng_states(states: list[dict[str, Any]], directory: Path) -> None:
    """Every rank's RNG states: byte tensors into safetensors, the python/numpy states into JSON."""
    tensors: dict[str, torch.Tensor] = {}
    settings: dict[str, Any] = {}
    for rank, state in enumerate(states):
        tensors[f"rank{rank}.torch"] = state["torch"]
        for device, cuda_state in enumerate(state["cuda"]):
            tensors[f"rank{rank}.cuda{device}"] = cuda_state
        settings[str(rank)] = {"python": state["python"], "numpy": state["numpy"], "cuda_devices": len(state["cuda"])}
    save_state_dict(tensors, directory, weights_name=RNG_STATE_NAME)
    write_json_atomic(directory / RNG_SETTINGS_NAME, settings)


def read_rng_state(directory: Path, rank: int) -> dict[str, Any] | None:
    """The saved RNG states of `rank`, checked; None when the checkpoint has none for this rank."""
    settings = read_checkpoint_json(directory / RNG_SETTINGS_NAME)
    tensors = load_state_dict([directory / RNG_STATE_NAME])
    entry = settings.get(str(rank)) if isinstance(settings, dict) else None
    if entry is None:
        return None
    def word(value: Any, end: int = 2**32) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < end

    try:
        version, internal, gauss = entry["python"]
        numpy_state = entry["numpy"]
        torch_state = tensors[f"rank{rank}.torch"]
        valid = (version == 3 and isinstance(internal, list) and len(internal) == 625
                 and all(word(value) for value in internal[:624]) and word(internal[624], 625)
                 and (gauss is None or (isinstance(gauss, float) and math.isfinite(gauss)))
                 and numpy_state["kind"] == "MT19937" and isinstance(numpy_state["keys"], list)
                 and len(numpy_state["keys"]) == 624 and all(word(value) for value in numpy_state["keys"])
                 and word(numpy_state["pos"], 625) and numpy_state["has_gauss"] in (0, 1)
                 and isinstance(numpy_state["cached_gaussian"], float) and math.isfinite(numpy_state["cached_gaussian"])
                 and torch_state.dtype == torch.uint8 and torch_state.shape == torch.get_rng_state().shape)
        cuda = [tensors[f"rank{rank}.cuda{device}"] for device in range(int(entry["cuda_devices"]))]
        valid = valid and all(state.dtype == torch.uint8 for state in cuda)
    except (KeyError, TypeError, ValueError):
        valid = False
    if not valid:
        raise CheckpointError(f"the RNG states in '{directory}' are damaged; resuming could not reproduce the run")
    return {"python": [version, internal, gauss], "numpy": numpy_state, "torch": tensors[f"rank{rank}.torch"],
            "cuda": cuda}


# -- model weights ----------------------------------------------------------------------------------------------

def save_model_weights(model: torch.nn.Module, directory: Path) -> None:
    """`save_pretrained` for distilkit models; other modules get their state dict with aliased tensors stored once."""
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(directory)
        return
    save_state_dict(_unaliased_state(model), directory)


def _unaliased_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    seen: set[tuple[int, tuple[int, ...]]] = set()
    state = {}
    for key, tensor in model.state_dict().items():
        identity = (tensor.data_ptr(), tuple(tensor.shape))
        if tensor.numel() and identity in seen:
            continue
        seen.add(identity)
        state[key] = tensor
    return state


def read_model_weights(model: torch.nn.Module, directory: Path) -> dict[str, torch.Tensor]:
    """The checkpoint's weights, checked against `model`: same keys (aliases of a stored tensor may be absent) and
    shapes."""
    state = load_state_dict(find_weight_files(directory))
    check_finite_weights(state, f"the checkpoint '{directory}'", error=True)
    expected = model.state_dict()
    stored = _unaliased_state(model)
    missing = sorted(key for key in stored if key not in state)
    unexpected = sorted(key for key in state if key not in expected)
    wrong = [key for key in state if key in expected and state[key].shape != expected[key].shape]
    if missing or unexpected or wrong:
        details = "; ".join(part for part in (
            f"missing {missing[:5]}" if missing else "", f"unexpected {unexpected[:5]}" if unexpected else "",
            f"wrong shapes {wrong[:5]}" if wrong else "") if part)
        raise CheckpointError(f"the weights in '{directory}' do not fit this model ({details}); resume with the "
                              "model the checkpoint was trained from")
    return state


# -- whole checkpoints ------------------------------------------------------------------------------------------

@dataclass
class LoadedCheckpoint:
    """A checkpoint read fully into memory and checked, ready to be applied."""

    directory: Path
    state: TrainerState
    weights: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: dict[str, Any] | None


def read_checkpoint(directory: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    rank: int = 0) -> LoadedCheckpoint:
    """Read and check every file of a checkpoint; `CheckpointError` names the first missing or damaged one."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"resume_from_checkpoint='{directory}' is not a directory; pass a "
                              f"'{PREFIX_CHECKPOINT_DIR}-<step>' folder written by the Trainer (or True for the latest "
                              "one in output_dir)")
    state = TrainerState.load(directory / TRAINER_STATE_NAME)
    try:
        weights = read_model_weights(model, directory)
        if not (directory / OPTIMIZER_NAME).is_file():
            raise CheckpointError(f"'{directory / OPTIMIZER_NAME}' is missing; the checkpoint is incomplete")
        tensors = load_state_dict([directory / OPTIMIZER_NAME])
        optimizer_state = optimizer_state_dict(tensors, read_checkpoint_json(directory / OPTIMIZER_SETTINGS_NAME),
                                               optimizer,
                                               directory / OPTIMIZER_NAME)
        scheduler = read_checkpoint_json(directory / SCHEDULER_NAME)
        if not isinstance(scheduler, dict) or "last_epoch" not in scheduler:
            raise CheckpointError(f"'{directory / SCHEDULER_NAME}' is not a scheduler state")
        rng = read_rng_state(directory, rank)
    except CheckpointError:
        raise
    except DistilkitError as error:
        raise CheckpointError(f"the checkpoint '{directory}' cannot be read: {error}") from None
    return LoadedCheckpoint(directory, state, weights, optimizer_state, scheduler, rng)


def write_checkpoint(directory: Path, *, model: torch.nn.Module, tokenizer: Any, optimizer: torch.optim.Optimizer,
                     scheduler: Any, state: TrainerState, args_json: str, rng_states: list[dict[str, Any]]) -> None:
    """Write a checkpoint into a hidden staging folder beside it, then rename it into place: a crash mid-save leaves
    no half-written `checkpoint-<step>` for `resume_from_checkpoint=True` to pick. A checkpoint of the same step
    already there is moved aside (`.checkpoint-<step>.*.old`) just before the switch and deleted after it."""
    parent = directory.parent
    parent.mkdir(parents=True, exist_ok=True)
    leftovers = re.compile(rf"\.{re.escape(directory.name)}\.\w+\.(tmp|old)")
    for entry in parent.iterdir():  # folders of a save killed earlier (only the main process writes checkpoints)
        if leftovers.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=parent))
    try:
        save_model_weights(model, staging)
        if tokenizer is not None and hasattr(tokenizer, "save_pretrained"):
            tokenizer.save_pretrained(staging)
        tensors, settings = optimizer_files(optimizer)
        save_state_dict(tensors, staging, weights_name=OPTIMIZER_NAME)
        write_json_atomic(staging / OPTIMIZER_SETTINGS_NAME, settings)
        write_json_atomic(staging / SCHEDULER_NAME, scheduler.state_dict())
        save_rng_states(rng_states, staging)
        state.save(staging / TRAINER_STATE_NAME)
        write_text_atomic(staging / TRAINING_ARGS_NAME, args_json)
        fsync_directory(staging)
        swap_in_directory(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
