"""AdamW with the usual no-decay groups, and learning-rate schedules with warmup.

As in the reference: biases and LayerNorm weights get no weight decay; "linear" warms up linearly to the peak and
decays linearly to 0 at the last step, "cosine" decays along half a cosine, "constant_with_warmup" stays at the peak
after warming up and "constant" never changes.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from ..errors import ConfigError


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: parameters that decay, and biases / normalisation weights that do not."""
    norm_parameters = {id(parameter) for module in model.modules()
                       if isinstance(module, (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm1d, nn.RMSNorm))
                       for parameter in module.parameters(recurse=False)}
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():  # tied parameters are listed once
        if not parameter.requires_grad:
            continue
        if name.endswith("bias") or id(parameter) in norm_parameters:
            no_decay.append(parameter)
        else:
            decay.append(parameter)
    if not decay and not no_decay:
        raise ConfigError("the model has no trainable parameters (all have requires_grad=False)")
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def create_optimizer(model: nn.Module, learning_rate: float, weight_decay: float, betas: tuple[float, float],
                     eps: float) -> torch.optim.AdamW:
    return torch.optim.AdamW(parameter_groups(model, weight_decay), lr=learning_rate, betas=betas, eps=eps)


def get_scheduler(name: str, optimizer: torch.optim.Optimizer, num_warmup_steps: int,
                  num_training_steps: int) -> LambdaLR:
    """A `LambdaLR` whose factor at step s follows schedule `name` (see the module docstring)."""
    warmup = max(0, num_warmup_steps)
    total = max(1, num_training_steps)

    def warming(step: int) -> float | None:
        return step / max(1, warmup) if step < warmup else None

    def linear(step: int) -> float:
        factor = warming(step)
        return factor if factor is not None else max(0.0, (total - step) / max(1, total - warmup))

    def cosine(step: int) -> float:
        factor = warming(step)
        if factor is not None:
            return factor
        progress = (step - warmup) / max(1, total - warmup)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))

    def constant_with_warmup(step: int) -> float:
        factor = warming(step)
        return factor if factor is not None else 1.0

    def constant(step: int) -> float:
        return 1.0

    schedules = {"linear": linear, "cosine": cosine, "constant": constant,
                 "constant_with_warmup": constant_with_warmup}
    if name not in schedules:
        raise ConfigError(f"lr_scheduler_type={name!r} is not one of {', '.join(schedules)}")
    return LambdaLR(optimizer, schedules[name])
