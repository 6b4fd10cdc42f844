"""Dynamic int8: the encoder's Linear layers (Q/K/V, attention output, FFN) keep int8 weights with one float scale
per output row, and quantize their input per batch at run time. Embeddings, LayerNorms, softmax and the task heads
stay float32 — static int8 of every node is known to collapse DistilBERT's accuracy.

The kernel is FBGEMM's dynamic quantized linear (`torch.ops.quantized.linear_dynamic`, the one behind torch's
`quantize_dynamic`), measured the fastest int8 path on AVX2 CPUs here (benchmarks/bench_engine.py). Inputs are
quantized to 7 bits (`reduce_range`), as FBGEMM needs without VNNI to avoid 16-bit overflow. Only the packing of
the weights goes through torch's deprecated quantized-tensor constructor, once per layer; the weights are stored
as plain int8 and float32 tensors, so a quantized model saves and loads as safetensors + JSON:

    model.quantize("int8")                      # in place; model.config.quantization_config records it
    model.save_pretrained("int8-model")         # q_lin.weight is I8, q_lin.weight_scale F32
    AutoModelForSequenceClassification.from_pretrained("int8-model")   # quantized again on load, no pickle
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from ..checkpoint import release_freed_memory
from ..errors import ConfigError, InputError
from .kernels import ENCODER_LINEARS, PackedLinear, encoder_linears, stack_projections

METHOD = "int8_dynamic"
# the encoder's Linear layers by name (kernels.ENCODER_LINEARS); heads are left in float32
QUANTIZED_LAYERS = ENCODER_LINEARS


def int8_available() -> bool:
    """True when this torch build has FBGEMM's x86 int8 kernels."""
    engines = torch.backends.quantized.supported_engines
    return "x86" in engines or "fbgemm" in engines


def check_int8_device(device: torch.device | str) -> None:
    """int8 runs on CPUs with FBGEMM only; anything else is a one-line error naming what to use instead."""
    if torch.device(device).type != "cpu":
        raise InputError(f"dtype='int8' runs on the CPU only (FBGEMM kernels), not on {device}; use device='cpu', "
                         "or dtype='float16' / 'bfloat16' on an accelerator")
    if not int8_available():
        raise InputError("dtype='int8' needs FBGEMM int8 kernels, which this torch build lacks (supported "
                         f"engines: {torch.backends.quantized.supported_engines}); use the default float32")


class Int8Linear(nn.Module):
    """y = x·(scale ⊙ W_int8)ᵀ + b with x quantized per call. Buffers `weight` (out, in) int8, `weight_scale`
    (out,) float32 and `bias` (out,) float32 are what the checkpoint holds; the FBGEMM-packed copy is rebuilt
    from them on first use after a load."""

    fresh_output = True  # forward returns a new tensor each call, so kernels.linear applies GELU to it in place

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("weight", torch.zeros(out_features, in_features, dtype=torch.int8))
        self.register_buffer("weight_scale", torch.ones(out_features))
        self.register_buffer("bias", torch.zeros(out_features) if bias else None)
        self._packed: Any = None
        self.group: Int8Stack | None = None  # when Q, K and V run as one GEMM (`Int8Stack`)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Int8Linear:
        """Symmetric per-row quantization: scale = max|w| / 127, w_int8 = round(w / scale)."""
        module = cls(linear.in_features, linear.out_features, linear.bias is not None)
        weight = linear.weight.detach().float()  # (out, in)
        scale = weight.abs().amax(dim=1) / 127.0  # (out,)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero row keeps scale 1
        module.weight.copy_(torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8))
        module.weight_scale.copy_(scale)
        if linear.bias is not None:
            module.bias.copy_(linear.bias.detach().float())
        return module

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._packed = None  # new weights: pack again on the next call
        if self.group is not None:
            self.group.packed = None
        super()._load_from_state_dict(*args, **kwargs)

    def packed(self) -> Any:
        if self._packed is None:
            self._packed = fbgemm_pack(self.weight, self.weight_scale, self.bias)
        return self._packed

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if hidden.device.type != "cpu":
            raise InputError(f"an int8 layer runs on the CPU only; the input is on {hidden.device}")
        return dynamic_int8(hidden, self.packed(), self.out_features).to(hidden.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 dynamic"


def dynamic_int8(hidden: torch.Tensor, packed: Any, out_features: int) -> torch.Tensor:
    """FBGEMM's dynamic int8 linear of (..., in) float `hidden` with a packed weight: (..., out_features) float32,
    the input quantized to 7 bits per call."""
    flat = hidden.reshape(-1, hidden.size(-1)).float()  # (rows, in)
    return torch.ops.quantized.linear_dynamic.default(flat, packed, True).view(*hidden.shape[:-1], out_features)


def fbgemm_pack(weight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None) -> Any:
    """FBGEMM's packed form of int8 `weight` (out, in) with per-row `scale` (out,) and float `bias`."""
    zero_points = torch.zeros(weight.size(0), dtype=torch.long)
    with warnings.catch_warnings():
        # the quantized-tensor constructor is deprecated in torch; FBGEMM's prepack still takes only it
        warnings.simplefilter("ignore", UserWarning)
        quantized = torch.quantize_per_channel(weight.float() * scale[:, None], scale.double(), zero_points, 0,
                                               torch.qint8)
    return torch.ops.quantized.linear_prepack(quantized, None if bias is None else bias.float())


class Int8Stack:
    """The `Int8Linear` layers of one attention block that read the same input (Q, K and V) as one dynamic-int8
    GEMM over their stacked weights: the input is quantized once instead of three times. Weights keep one scale
    per row and the input one scale per call, so the numbers are those of three separate calls. The members keep
    their int8 weights (what `state_dict` holds); the stack holds the one FBGEMM-packed copy, built on first use
    and dropped when a member loads new weights."""

    def __init__(self, members: tuple[Int8Linear, ...]) -> None:
        self.members = members
        self.width = sum(member.out_features for member in members)
        self.packed: Any = None
        for member in members:
            member.group, member._packed = self, None

    def pack(self) -> Any:
        """FBGEMM's packed form of the stacked weights, built on first use."""
        if self.packed is None:
            has_bias = all(member.bias is not None for member in self.members)
            self.packed = fbgemm_pack(torch.cat([member.weight for member in self.members]),
                                      torch.cat([member.weight_scale for member in self.members]),
                                      torch.cat([member.bias for member in self.members]) if has_bias else None)
        return self.packed

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        return dynamic_int8(hidden, self.pack(), self.width)  # (..., Σ out)


def quantization_config() -> dict[str, Any]:
    """What `config.quantization_config` records for a dynamic-int8 model."""
    return {"quant_method": METHOD, "bits": 8, "layers": list(QUANTIZED_LAYERS), "kernel": "fbgemm"}


def replace_linears(model: nn.Module, convert: bool) -> int:
    """Swap the encoder's Linear layers for `Int8Linear`: quantized from the float weights (`convert=True`) or
    empty, to be filled by a checkpoint. Returns how many layers were swapped."""
    layers = encoder_linears(model, (nn.Linear, PackedLinear))
    for module, name, child in layers:
        if convert:
            replacement = Int8Linear.from_linear(child)
        else:
            replacement = Int8Linear(child.in_features, child.out_features, child.bias is not None)
            replacement.to(child.weight.device)
        setattr(module, name, replacement)
    stack_projections(model, Int8Linear, Int8Stack)  # Q, K, V: one GEMM
    return len(layers)


def quantize_model(model: nn.Module, method: str = "int8") -> nn.Module:
    """Quantize `model` in place (see the module docstring) and record it in `model.config`."""
    if method not in ("int8", METHOD):
        raise ConfigError(f"quantize({method!r}): the supported method is 'int8' (dynamic int8 Linear layers)")
    device = next(model.parameters()).device
    check_int8_device(device)
    if replace_linears(model, convert=True) == 0:
        raise ConfigError(f"{type(model).__name__} has no float Linear layers named {', '.join(QUANTIZED_LAYERS)} "
                          "to quantize (already quantized?)")
    # FBGEMM's layout now, not in the first forward: its transient copies are freed below
    for module in model.modules():
        if isinstance(module, Int8Linear):
            if module.group is None:
                module.packed()
            else:
                module.group.pack()  # once per stack: later members find it built
    model.config.quantization_config = quantization_config()
    release_freed_memory()  # the float weights of the swapped layers
    return model


def prepare_quantized(model: nn.Module, config: Any) -> None:
    """Give a freshly built model the quantized structure its config records, before a checkpoint is loaded."""
    settings = getattr(config, "quantization_config", None)
    if settings is None:
        return
    if not isinstance(settings, dict) or settings.get("quant_method") != METHOD:
        raise ConfigError(f"quantization_config={settings!r:.120} is not a distilkit quantization this version "
                          f"reads (quant_method must be {METHOD!r})")
    replace_linears(model, convert=False)
