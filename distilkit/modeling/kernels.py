"""The Linear layers' inference kernel: oneDNN's linear with the activation fused in, when nothing needs gradients.

On x86 CPUs torch's `F.linear` goes to MKL's sgemm; oneDNN's `_linear_pointwise` (shipped in every CPU build of
torch, the kernel `torch.compile` itself picks for CPU linears) measured 10-15% faster at the encoder's shapes here
(768x768, 768x3072 and 3072x768 at 600-800 packed tokens, dense weights, no repacking), and it applies GELU or ReLU
while the output is still in cache. The weights stay the model's own `nn.Linear` parameters: nothing is copied or
re-laid out, so memory, `state_dict` and saving are untouched.

The fast path is taken only where it computes exactly what the module would (up to float32 summation order, ~1e-6
relative): float32 CPU tensors of at least `MIN_ROWS` rows, no gradient being recorded (pipelines run under `torch.inference_mode`), a plain
`nn.Linear`, and no hooks on the layer or the activation that the shortcut would skip. Everything else — training,
integrated gradients, int8 layers, half precision, accelerators — runs the modules as written.
`DISTILKIT_ONEDNN_LINEAR=0` turns the fast path off (for comparisons).
"""

from __future__ import annotations

import os

import torch
from torch import nn
from torch.nn.modules import module as module_globals

# below this many rows oneDNN's per-call weight reorder costs more than it saves (a 12-token sentence, or the
# heads' one row per input): MKL's sgemm then
MIN_ROWS = 64
ENABLED = (
    os.environ.get("DISTILKIT_ONEDNN_LINEAR", "1") != "0"
    and torch.backends.mkldnn.is_available()
    and hasattr(torch.ops.mkldnn, "_linear_pointwise")
)
# the op's overload itself: the packet's Python dispatch checks cost ~10 us a call
_LINEAR_POINTWISE = torch.ops.mkldnn._linear_pointwise.default if ENABLED else None


def fusable_activation(activation: nn.Module | None) -> tuple[str, str] | None:
    """oneDNN's (post-op, algorithm) for an activation module it computes exactly, else None."""
    if activation is None:
        return "none", ""
    if type(activation) is nn.ReLU:
        return "relu", ""
    # the exact erf GELU: distilbert.GELUActivation (kept by name to stay below that module) or nn.GELU()
    if type(activation).__name__ == "GELUActivation" or (type(activation) is nn.GELU
                                                         and activation.approximate == "none"):
        return "gelu", "none"
    return None


def _hooked(module: nn.Module | None) -> bool:
    return module is not None and bool(module._forward_hooks or module._forward_pre_hooks)


def _global_hooks() -> bool:
    return bool(module_globals._global_forward_hooks or module_globals._global_forward_pre_hooks)


def linear(layer: nn.Module, hidden: torch.Tensor, activation: nn.Module | None = None) -> torch.Tensor:
    """activation(layer(hidden)): fused in one oneDNN call when it is safe (see the module docstring)."""
    fused = fusable_activation(activation) if ENABLED else None
    if (
        fused is not None
        and type(layer) is nn.Linear
        and hidden.device.type == "cpu"
        and hidden.dtype == torch.float32
        and hidden.numel() >= MIN_ROWS * hidden.size(-1)
        and layer.weight.dtype == torch.float32
        and not torch.is_grad_enabled()
        and not _hooked(layer)
        and not _hooked(activation)
        and not _global_hooks()
    ):
        return _LINEAR_POINTWISE(hidden, layer.weight, layer.bias, fused[0], [], fused[1])
    output = layer(hidden)
    return output if activation is None else activation(output)

