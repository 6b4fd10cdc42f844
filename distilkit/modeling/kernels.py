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
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn.modules import module as module_globals

from ..errors import InputError

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


def _plain_inference(hidden: torch.Tensor) -> bool:
    """A float32 CPU tensor, computed with no gradient, tracing, compiling or ONNX export watching."""
    return (
        hidden.device.type == "cpu"
        and hidden.dtype == torch.float32
        and not torch.is_grad_enabled()
        and not torch.jit.is_tracing()
        and not torch.compiler.is_compiling()
        and not torch.onnx.is_in_onnx_export()
    )


class PackedLinear(nn.Module):
    """An inference-only `nn.Linear` whose weight is kept in oneDNN's blocked layout instead of the dense one.

    MKL's sgemm re-lays out the whole weight on every call; for a few rows that is most of the work. Measured on
    2 threads here, the encoder's three shapes per block at 12 rows: 3.9 ms with `nn.Linear`, 1.8 ms packed; at
    800 rows 106 ms and 91 ms. The packed copy replaces the dense one (same memory). Pipelines pack the encoder
    of the models they load themselves (`pack_linears`); a model passed in by the caller is left as it is.

    `weight` (dense, float32) is computed on demand and is what `state_dict` holds, so saving and loading are
    unchanged. With gradients, tracing or export the layer computes from the dense weight (inputs' gradients are
    exact); training it is refused, since the packed weight is not a parameter an optimizer could update.
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float().clone())
        self.packed_weight = self._pack(linear.weight.detach())

    @staticmethod
    def _pack(weight: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._reorder_linear_weight(weight.float().contiguous(), 12)  # (out, in), blocked

    @property
    def weight(self) -> torch.Tensor:
        """(out, in) float32, dense."""
        return self.packed_weight.to_dense()

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if _plain_inference(hidden):
            return _LINEAR_POINTWISE(hidden, self.packed_weight, self.bias, "none", [], "")
        if self.training and torch.is_grad_enabled():
            raise InputError("this model's Linear layers were packed for inference by a pipeline, so they cannot "
                             "be trained; load the model with from_pretrained to train it")
        bias = None if self.bias is None else self.bias.to(hidden.dtype)
        return torch.nn.functional.linear(hidden, self.weight.to(hidden.device, hidden.dtype), bias)

    def _save_to_state_dict(self, destination, prefix, keep_vars) -> None:
        destination[prefix + "weight"] = self.weight
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        key = prefix + "weight"
        if key in state_dict:
            weight = state_dict[key]
            if tuple(weight.shape) != (self.out_features, self.in_features):
                error_msgs.append(f"size mismatch for {key}: copying a param with shape {tuple(weight.shape)}, "
                                  f"the packed layer has {(self.out_features, self.in_features)}")
            else:
                self.packed_weight = self._pack(weight)
        elif strict:
            missing_keys.append(key)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, packed for oneDNN"


# the encoder's Linear layers by name, in every block: what is packed here and quantized by quantization.py (the
# heads run a few rows per input and stay as they are)
ENCODER_LINEARS = ("q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2")


def encoder_linears(model: nn.Module, kinds: type | tuple[type, ...]) -> list[tuple[nn.Module, str, nn.Module]]:
    """(parent, name, layer) for every encoder Linear layer of `model` that is one of `kinds`, collected before
    the caller swaps any of them."""
    return [(module, name, child) for module in model.modules() for name, child in module.named_children()
            if name in ENCODER_LINEARS and isinstance(child, kinds)]


def pack_linears(model: nn.Module) -> int:
    """Swap the encoder's float32 CPU `nn.Linear` layers for `PackedLinear`, in place; returns how many. Nothing is
    swapped when oneDNN is unavailable or turned off."""
    if not ENABLED:
        return 0
    count = 0
    for module, name, child in encoder_linears(model, nn.Linear):
        if type(child) is nn.Linear and child.weight.device.type == "cpu" and child.weight.dtype == torch.float32:
            setattr(module, name, PackedLinear(child))
            count += 1
    return count


@contextmanager
def dense_linears(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block the model's `PackedLinear` layers are plain `nn.Linear` ones again (for tracers such as
    `torch.export`, which cannot see through oneDNN's packed layout); the packed layers are put back after."""
    swapped = encoder_linears(model, PackedLinear)
    for module, name, child in swapped:
        dense = nn.Linear(child.in_features, child.out_features, bias=child.bias is not None)
        dense.weight = nn.Parameter(child.weight, requires_grad=False)
        if child.bias is not None:
            dense.bias = nn.Parameter(child.bias.clone(), requires_grad=False)
        setattr(module, name, dense)
    try:
        yield model
    finally:
        for module, name, child in swapped:
            setattr(module, name, child)


def linear(layer: nn.Module, hidden: torch.Tensor, activation: nn.Module | None = None) -> torch.Tensor:
    """activation(layer(hidden)): fused in one oneDNN call when it is safe (see the module docstring)."""
    fused = fusable_activation(activation) if ENABLED else None
    if fused is not None and _plain_inference(hidden) and not (_hooked(layer) or _hooked(activation)
                                                                or _global_hooks()):
        if type(layer) is PackedLinear:
            return _LINEAR_POINTWISE(hidden, layer.packed_weight, layer.bias, fused[0], [], fused[1])
        if (type(layer) is nn.Linear and layer.weight.dtype == torch.float32
                and hidden.numel() >= MIN_ROWS * hidden.size(-1)):
            return _LINEAR_POINTWISE(hidden, layer.weight, layer.bias, fused[0], [], fused[1])
    output = layer(hidden)
    return output if activation is None else activation(output)
