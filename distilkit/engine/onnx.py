"""ONNX export of every DistilBERT head, and ONNX Runtime as a pipeline backend (extra `distilkit[onnx]`).

`export_onnx(model, folder)` writes `model.onnx` (dynamic batch and sequence axes; inputs `input_ids` and
`attention_mask`, outputs named as the head's output fields), the model's `config.json` and, given a tokenizer,
its files — into a staging folder that becomes `folder` only once ONNX Runtime has reproduced PyTorch's outputs
(≤ 1e-4), so a failed export leaves nothing behind. `int8=True` then quantizes the MatMul weights with ONNX
Runtime's dynamic quantization (int8 weights, activations quantized per call).

`OnnxRuntimeModel` runs such a file behind the model interface the pipelines call, so
`pipeline(task, model=path, backend="onnxruntime")` gives distilkit's tokenization and postprocessing on ONNX
Runtime's kernels. The exported graph is the padded forward (ONNX has no data-dependent packing); it includes no
hidden states or attention weights.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._extras import require
from ..errors import ConfigError, InputError
from ..modeling.kernels import dense_linears
from ..modeling.outputs import (
    BaseModelOutput,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)

ONNX_FILE = "model.onnx"
TOLERANCE = 1e-4
# output fields of each head, in the order the graph returns them, and the output class that holds them
HEADS: dict[str, tuple[tuple[str, ...], type]] = {
    "DistilBertModel": (("last_hidden_state",), BaseModelOutput),
    "DistilBertForMaskedLM": (("logits",), MaskedLMOutput),
    "DistilBertForSequenceClassification": (("logits",), SequenceClassifierOutput),
    "DistilBertForTokenClassification": (("logits",), TokenClassifierOutput),
    "DistilBertForQuestionAnswering": (("start_logits", "end_logits"), QuestionAnsweringModelOutput),
    "DistilBertForMultipleChoice": (("logits",), MultipleChoiceModelOutput),
}


def head_of(model: nn.Module) -> tuple[tuple[str, ...], type]:
    for klass in type(model).__mro__:
        if klass.__name__ in HEADS:
            return HEADS[klass.__name__]
    raise ConfigError(f"{type(model).__name__} cannot be exported to ONNX: only distilkit's DistilBERT classes "
                      f"({', '.join(HEADS)}) have a known graph")


class _Outputs(nn.Module):
    """The model as a function of (input_ids, attention_mask) returning its head's tensors as a tuple."""

    def __init__(self, model: nn.Module, fields: tuple[str, ...]) -> None:
        super().__init__()
        self.model, self.fields = model, fields

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        output = self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
        return tuple(output[field] for field in self.fields)


def example_inputs(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Two rows, the second padded: the trace sees a mask with zeros, and a batch and length above 1."""
    config = model.config
    ids = torch.randint(1, min(config.vocab_size, 1000), (2, 7))  # (B, T)
    mask = torch.ones_like(ids)
    mask[1, 4:] = 0
    if head_of(model)[1] is MultipleChoiceModelOutput:
        return ids.unsqueeze(0).expand(2, 2, 7).contiguous(), mask.unsqueeze(0).expand(2, 2, 7).contiguous()
    return ids, mask


@contextlib.contextmanager
def quiet():
    """The exporter and quantizer narrate (progress lines, torchvision notes, "consider pre-processing"): keep
    the caller's console clean; real failures still raise."""
    root, onnx_logger = logging.getLogger(), logging.getLogger("torch.onnx")
    levels = root.level, onnx_logger.level
    root.setLevel(logging.ERROR)
    onnx_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(levels[0])
        onnx_logger.setLevel(levels[1])


def export_onnx(model: nn.Module, folder: str | Path, *, tokenizer: Any = None, int8: bool = False,
                opset: int = 18) -> Path:
    """Export `model` (a distilkit DistilBERT model, float32 on the CPU) to `folder`/model.onnx, checked in ONNX
    Runtime; returns the folder. An existing `folder` is replaced only after a successful export."""
    require("onnx", "onnx", "ONNX export")
    require("onnxscript", "onnx", "ONNX export")
    onnxruntime = require("onnxruntime", "onnx", "ONNX export")
    fields, _ = head_of(model)
    if getattr(model.config, "quantization_config", None) is not None:
        raise ConfigError("an int8-quantized torch model cannot be exported (its FBGEMM layers have no ONNX form); "
                          "export the float model with int8=True (--int8) instead")
    if any(parameter.dtype != torch.float32 for parameter in model.parameters()):
        raise ConfigError("export a float32 model (model.float()); ONNX Runtime's CPU kernels and the int8 "
                          "quantizer work from float32")
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.export-", dir=folder.parent))
    try:
        model = model.cpu().eval()
        with dense_linears(model):  # a pipeline's packed layers: dense for the tracer
            inputs = example_inputs(model)
            axes = {0: "batch", 1: "choices", 2: "sequence"} if inputs[0].dim() == 3 else {0: "batch", 1: "sequence"}
            float_path = staging / ONNX_FILE
            with quiet():
                torch.onnx.export(_Outputs(model, fields), inputs, str(float_path),
                                  input_names=["input_ids", "attention_mask"], output_names=list(fields),
                                  dynamic_axes={"input_ids": axes, "attention_mask": axes}, opset_version=opset,
                                  external_data=False)
            check_against_torch(model, fields, float_path, onnxruntime)
        if int8:
            quantize_onnx(float_path)
        config = model.config.copy()
        config.architectures = [next(klass.__name__ for klass in type(model).__mro__ if klass.__name__ in HEADS)]
        config.save_pretrained(staging)  # the head named, so the runtime knows the graph's outputs
        if tokenizer is not None:
            tokenizer.save_pretrained(staging)
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def check_against_torch(model: nn.Module, fields: tuple[str, ...], path: Path, onnxruntime: Any) -> None:
    """Run the file on inputs of another batch size and length than the trace's; outputs must match ≤ 1e-4."""
    generator = torch.Generator().manual_seed(0)
    shape = (3, 2, 11) if head_of(model)[1] is MultipleChoiceModelOutput else (3, 11)
    ids = torch.randint(1, min(model.config.vocab_size, 1000), shape, generator=generator)
    mask = torch.ones_like(ids)
    mask[1, ..., 6:] = 0  # the second row (every choice of the second question) padded
    with torch.inference_mode():
        expected = _Outputs(model, fields)(ids, mask)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    actual = session.run(list(fields), {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
    for name, want, got in zip(fields, expected, actual, strict=True):
        difference = float(np.abs(want.numpy() - got).max())
        if not difference <= TOLERANCE:
            raise ConfigError(f"the exported graph's {name} differs from PyTorch's by {difference:.2e} "
                              f"(> {TOLERANCE}); the model uses an operation ONNX does not express faithfully")


def quantize_onnx(path: Path) -> None:
    """Dynamic int8 MatMul weights (per output channel), in place. Gather (embeddings), LayerNorm and Softmax stay
    float: static int8 of every node is known to collapse DistilBERT's accuracy."""
    quantization = require("onnxruntime.quantization", "onnx", "int8 ONNX export")
    target = path.with_name("model.int8.onnx")
    with quiet():
        quantization.quantize_dynamic(str(path), str(target), weight_type=quantization.QuantType.QInt8,
                                      op_types_to_quantize=["MatMul"], per_channel=True)
    target.replace(path)


class OnnxRuntimeModel(nn.Module):
    """An exported DistilBERT head run by ONNX Runtime, called like the torch model (torch tensors in and out).

    Options the graph cannot honour (hidden states, attention weights, labels) are refused with the fix."""

    def __init__(self, session: Any, config: Any, fields: tuple[str, ...], output_class: type) -> None:
        super().__init__()
        self.session, self.config, self.fields, self.output_class = session, config, fields, output_class

    @classmethod
    def from_pretrained(cls, source: str | Path, model_class: Any = None, *, int8: bool = False,
                        threads: int | None = None) -> OnnxRuntimeModel:
        """`source`: a folder written by `export_onnx` (has model.onnx), or a saved torch model, exported on the
        fly with `model_class.from_pretrained` (then `int8` quantizes it)."""
        onnxruntime = require("onnxruntime", "onnx", "backend='onnxruntime'")
        from ..configuration import DistilBertConfig

        folder = Path(source)
        if not folder.is_dir():
            raise InputError(f"backend='onnxruntime' needs a local folder (a saved model or an ONNX export); "
                             f"{str(source)!r} is not one")
        config = DistilBertConfig.from_pretrained(folder)
        if (folder / ONNX_FILE).is_file():
            if int8 and not is_int8_graph(folder / ONNX_FILE):
                raise InputError(f"{folder / ONNX_FILE} is a float32 export; export it with --int8 for "
                                 "dtype='int8', or drop dtype='int8'")
            graph = (folder / ONNX_FILE).read_bytes()
            head = config.architectures[0] if config.architectures else "DistilBertModel"
            if head not in HEADS:
                raise ConfigError(f"{folder}/config.json names architecture {head!r}, which has no ONNX graph "
                                  f"here (known: {', '.join(HEADS)})")
            fields, output_class = HEADS[head]
        else:
            if model_class is None:
                raise InputError(f"{folder} holds no {ONNX_FILE}; export it first: distilkit export onnx "
                                 f"{folder} OUT")
            model = model_class.from_pretrained(folder)
            fields, output_class = head_of(model)
            with tempfile.TemporaryDirectory() as scratch:
                exported = export_onnx(model, Path(scratch) / "export", int8=int8)
                graph = (exported / ONNX_FILE).read_bytes()
            config = model.config
            del model
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        config.quantization_config = {"quant_method": "onnxruntime_dynamic_int8"} if int8 else None
        return cls(session, config, fields, output_class)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, packed: bool = False,
                output_attentions: bool | None = None, output_hidden_states: bool | None = None,
                return_dict: bool | None = None, **labels: Any) -> Any:
        if output_attentions or output_hidden_states:
            raise InputError("the ONNX graph returns no attention weights or hidden states; use the torch "
                             "backend for them")
        if labels:
            raise InputError(f"the ONNX backend computes no loss; got {sorted(labels)}")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        feeds = {"input_ids": input_ids.cpu().numpy().astype(np.int64),
                 "attention_mask": attention_mask.cpu().numpy().astype(np.int64)}
        results = self.session.run(list(self.fields), feeds)
        return self.output_class(**{name: torch.from_numpy(value) for name, value in zip(self.fields, results,
                                                                                         strict=True)})


def is_int8_graph(path: Path) -> bool:
    onnx = require("onnx", "onnx", "ONNX graphs")
    graph = onnx.load(str(path), load_external_data=False).graph
    return any(node.op_type in ("MatMulInteger", "DynamicQuantizeLinear") for node in graph.node)
