"""The Linear layers' inference kernel: oneDNN's linear, then the activation in place, when nothing needs gradients.

On x86 CPUs torch's `F.linear` goes to MKL's sgemm; oneDNN's `_linear_pointwise` (shipped in every CPU build of
torch, the kernel `torch.compile` itself picks for CPU linears) measured 10-15% faster at the encoder's shapes here
(768x768, 768x3072 and 3072x768 at 600-800 packed tokens, dense weights, no repacking). ReLU runs as oneDNN's
post-op. GELU does not: oneDNN's fused erf GELU made the 768x3072 GEMM ~25% slower on this AVX2 CPU (44 vs 33 ms
at 870 rows, 2 threads), while torch's vectorized `gelu_` over the fresh output costs ~2 ms, so GELU runs in place
right after the GEMM. Plain `nn.Linear` weights stay the model's own parameters (nothing copied or re-laid out);
`PackedLinear` below keeps them in oneDNN's layout.

The fast path is taken only where it computes exactly what the module would (up to float32 summation order, ~1e-6
relative): float32 CPU tensors, no gradient being recorded (pipelines run under `torch.inference_mode`), a
`PackedLinear` or a plain `nn.Linear` of at least `MIN_ROWS` rows, and no hooks on the layer or the activation that
the shortcut would skip. Everything else — training, integrated gradients, half precision, accelerators — runs the
modules as written (int8 layers run their own kernel; only their GELU is applied in place).
`DISTILKIT_ONEDNN_LINEAR=0` turns the fast path off (for comparisons).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn.modules import module as module_globals

from ..checkpoint import release_freed_memory
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
_GELU_ = torch.ops.aten.gelu_.default  # exact erf GELU, in place


def fusable_activation(activation: nn.Module | None) -> tuple[str, bool] | None:
    """(oneDNN post-op, then exact GELU in place?) for an activation this path computes exactly, else None."""
    if activation is None:
        return "none", False
    if type(activation) is nn.ReLU:
        return "relu", False
    # the exact erf GELU: distilbert.GELUActivation (kept by name to stay below that module) or nn.GELU()
    if type(activation).__name__ == "GELUActivation" or (type(activation) is nn.GELU
                                                         and activation.approximate == "none"):
        return "none", True
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
        # None while the layer is a block of rows of a `PackedStack`'s weight (`group`), which then holds it
        self.packed_weight: torch.Tensor | None = self._pack(linear.weight.detach())
        self.group: PackedStack | None = None
        self.part = 0

    @staticmethod
    def _pack(weight: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._reorder_linear_weight(weight.float().contiguous(), 12)  # (out, in), blocked

    @property
    def weight(self) -> torch.Tensor:
        """(out, in) float32, dense."""
        if self.packed_weight is None:
            return self.group.weight(self.part)
        return self.packed_weight.to_dense()

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if _plain_inference(hidden) and self.packed_weight is not None:
            return _LINEAR_POINTWISE(hidden, self.packed_weight, self.bias, "none", [], "")
        if self.training and torch.is_grad_enabled():
            raise InputError("this model's Linear layers were packed for inference by a pipeline, so they cannot "
                             "be trained; load the model with from_pretrained to train it")
        bias = None if self.bias is None else self.bias.to(hidden.dtype)
        return torch.nn.functional.linear(hidden, self.weight.to(hidden.device, hidden.dtype), bias)

    def __deepcopy__(self, memo: dict) -> PackedLinear:
        return copy_with_packed_weight(self, memo)

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
            elif self.group is not None:
                self.group.set_weight(self.part, weight)
            else:
                self.packed_weight = self._pack(weight)
        elif strict:
            missing_keys.append(key)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        if key in unexpected_keys:  # the weight is no parameter of this module, but it was read above
            unexpected_keys.remove(key)
        if self.group is not None and self.bias is not None:
            self.group.set_bias(self.part, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, packed for oneDNN"


class PackedStack:
    """The `PackedLinear` layers of one attention block that read the same input (Q, K and V), as one GEMM over
    their weights stacked into a (3·D, D) oneDNN-packed matrix: the input is read once instead of three times, and
    a 12-token sentence's three small GEMMs become one (~1.3x faster for that part, measured here). The stack
    holds the only packed copy: each member's `weight` is its block of rows, and loading a member rewrites it.
    """

    def __init__(self, members: tuple[PackedLinear, ...]) -> None:
        self.members = members
        self.sizes = [member.out_features for member in members]
        self.packed_weight = PackedLinear._pack(torch.cat([member.weight for member in members]))  # (Σ out, in)
        has_bias = all(member.bias is not None for member in members)
        self.bias = torch.cat([member.bias for member in members]) if has_bias else None  # (Σ out,)
        for part, member in enumerate(members):
            member.group, member.part, member.packed_weight = self, part, None

    def rows(self, part: int) -> slice:
        start = sum(self.sizes[:part])
        return slice(start, start + self.sizes[part])

    def weight(self, part: int) -> torch.Tensor:
        """(out, in) float32, dense: member `part`'s rows."""
        return self.packed_weight.to_dense()[self.rows(part)].clone()

    def set_weight(self, part: int, weight: torch.Tensor) -> None:
        dense = self.packed_weight.to_dense()
        dense[self.rows(part)] = weight.float()
        self.packed_weight = PackedLinear._pack(dense)

    def set_bias(self, part: int, bias: torch.Tensor) -> None:
        if self.bias is not None:
            self.bias[self.rows(part)] = bias.float()

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        return _LINEAR_POINTWISE(hidden, self.packed_weight, self.bias, "none", [], "")  # (..., Σ out)

    def __deepcopy__(self, memo: dict) -> PackedStack:
        return copy_with_packed_weight(self, memo)


def copy_with_packed_weight(original, memo: dict):
    """`copy.deepcopy` for an object holding a oneDNN-packed `packed_weight`: such opaque tensors have no storage
    deepcopy could read, but `clone()` copies them."""
    clone = type(original).__new__(type(original))
    memo[id(original)] = clone
    for name, value in original.__dict__.items():
        packed = name == "packed_weight" and value is not None
        clone.__dict__[name] = value.clone() if packed else copy.deepcopy(value, memo)
    return clone


def stacked_linear(layers: tuple[nn.Module, ...], hidden: torch.Tensor) -> torch.Tensor | None:
    """The outputs of `layers` side by side, (..., Σ out), from one GEMM when they are exactly the members of
    one stack (`PackedStack`, or quantization's `Int8Stack`) and nothing needs the layers run one by one
    (gradients, tracing, hooks); otherwise None, and the caller runs them as written."""
    group = getattr(layers[0], "group", None)
    if (group is None or len(group.members) != len(layers)
            or any(member is not layer for member, layer in zip(group.members, layers, strict=True))):
        return None
    if not _plain_inference(hidden) or _global_hooks() or any(_hooked(layer) for layer in layers):
        return None
    return group(hidden)


def stack_projections(model: nn.Module, kind: type, stack: type) -> int:
    """Group the q_lin, k_lin and v_lin of every attention block whose three are all `kind` into one `stack`;
    returns how many blocks."""
    count = 0
    for module in model.modules():
        layers = tuple(getattr(module, name, None) for name in ("q_lin", "k_lin", "v_lin"))
        if all(type(layer) is kind for layer in layers) and len({layer.in_features for layer in layers}) == 1:
            stack(layers)
            count += 1
    return count


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
    stack_projections(model, PackedLinear, PackedStack)  # Q, K, V: one GEMM
    if count:
        release_freed_memory()  # the dense weights the packed copies replaced (~260 MB for distilbert-base)
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
        post_op, then_gelu = fused
        output = None
        if type(layer) is PackedLinear and layer.packed_weight is not None:
            output = _LINEAR_POINTWISE(hidden, layer.packed_weight, layer.bias, post_op, [], "")
        elif (type(layer) is nn.Linear and layer.weight.dtype == torch.float32
                and hidden.numel() >= MIN_ROWS * hidden.size(-1)):
            output = _LINEAR_POINTWISE(hidden, layer.weight, layer.bias, post_op, [], "")
        elif then_gelu and getattr(type(layer), "fresh_output", False):  # e.g. int8 layers
            output = layer(hidden)
        if output is not None:
            return _GELU_(output) if then_gelu else output  # a fresh tensor: overwritten in place
    output = layer(hidden)
    return output if activation is None else activation(output)
