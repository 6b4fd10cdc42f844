"""ONNX export of every head checked in ONNX Runtime, the `distilkit export onnx` command, and
`backend="onnxruntime"` in the pipelines giving the torch pipeline's results."""

from __future__ import annotations

import sys

import numpy as np
import onnxruntime
import pytest
import torch

from distilkit import (
    DistilBertConfig,
    DistilBertForMaskedLM,
    DistilBertForMultipleChoice,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
)
from distilkit.cli import main
from distilkit.engine.onnx import OnnxRuntimeModel, export_onnx, is_int8_graph
from distilkit.errors import ConfigError, MissingExtraError
from distilkit.pipelines import pipeline
from distilkit.tokenization import DistilBertTokenizerFast

CLASSES = [DistilBertModel, DistilBertForMaskedLM, DistilBertForSequenceClassification,
           DistilBertForTokenClassification, DistilBertForQuestionAnswering, DistilBertForMultipleChoice]
WORDS = "the a cat dog sat on mat hello world b c d e f g h".split()
SENTENCES = ["the cat sat on the mat", "a dog", "hello world " * 20, "cat", "a b c d e f g h", "the dog sat"] * 3


def tiny_config(**overrides) -> DistilBertConfig:
    settings = dict(vocab_size=60, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=128)
    return DistilBertConfig(**{**settings, **overrides})


@pytest.mark.parametrize("model_class", CLASSES, ids=lambda cls: cls.__name__)
def test_every_head_round_trips_through_onnxruntime(model_class, tmp_path):
    torch.manual_seed(0)
    model = model_class(tiny_config()).eval()
    folder = export_onnx(model, tmp_path / "export")
    assert sorted(path.name for path in folder.iterdir()) == ["config.json", "model.onnx"]
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    runtime = OnnxRuntimeModel.from_pretrained(folder)
    generator = torch.Generator().manual_seed(1)
    for batch, length in ((1, 1), (5, 23), (2, 128)):  # batch and sequence axes are dynamic
        ids = torch.randint(1, 60, (batch, length), generator=generator)
        mask = torch.ones_like(ids)
        mask[0, length // 2 + 1:] = 0
        if model_class is DistilBertForMultipleChoice:
            ids, mask = ids.unsqueeze(1).repeat(1, 3, 1), mask.unsqueeze(1).repeat(1, 3, 1)  # (B, 3, T)
        with torch.inference_mode():
            expected = model(input_ids=ids, attention_mask=mask)
        names = [output.name for output in session.get_outputs()]
        raw = session.run(names, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
        wrapped = runtime(ids, mask)
        for name, array in zip(names, raw, strict=True):
            assert np.abs(expected[name].numpy() - array).max() <= 1e-4, (name, batch, length)
            assert torch.equal(wrapped[name], torch.from_numpy(array))


@pytest.fixture(scope="module")
def classifier_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx-classifier")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(vocab)}).save_pretrained(folder)
    torch.manual_seed(2)
    config = tiny_config(dim=64, hidden_dim=128, id2label={0: "NEGATIVE", 1: "POSITIVE"})
    DistilBertForSequenceClassification(config).save_pretrained(folder)
    return folder


def test_backend_onnxruntime_gives_the_torch_pipeline_results(classifier_folder):
    torch_results = pipeline("text-classification", model=classifier_folder, top_k=None)(SENTENCES, batch_size=4)
    runtime = pipeline("text-classification", model=classifier_folder, top_k=None, backend="onnxruntime")
    assert isinstance(runtime.model, OnnxRuntimeModel)
    for mine, theirs in zip(runtime(SENTENCES, batch_size=4), torch_results, strict=True):
        assert [row["label"] for row in mine] == [row["label"] for row in theirs]
        assert max(abs(a["score"] - b["score"]) for a, b in zip(mine, theirs, strict=True)) <= 1e-4


def test_a_pipelines_packed_model_exports_and_stays_packed(classifier_folder, tmp_path):
    from distilkit.modeling.kernels import PackedLinear

    classifier = pipeline("text-classification", model=classifier_folder, top_k=None)
    packed = [type(module) for module in classifier.model.modules() if isinstance(module, PackedLinear)]
    assert packed  # the pipeline packed its encoder for oneDNN
    export_onnx(classifier.model, tmp_path / "export")  # checked against torch in ONNX Runtime <= 1e-4
    assert [type(module) for module in classifier.model.modules() if isinstance(module, PackedLinear)] == packed
    runtime = pipeline("text-classification", model=tmp_path / "export", tokenizer=classifier_folder, top_k=None,
                       backend="onnxruntime")
    for mine, theirs in zip(runtime(SENTENCES), classifier(SENTENCES), strict=True):
        assert max(abs(a["score"] - b["score"]) for a, b in zip(mine, theirs, strict=True)) <= 1e-4


def test_export_command_int8_and_its_pipeline(classifier_folder, tmp_path, capsys):
    output = tmp_path / "int8"
    assert main(["export", "onnx", str(classifier_folder), str(output), "--int8"]) == 0
    assert capsys.readouterr().out.strip() == str(output)
    assert {"model.onnx", "config.json", "tokenizer.json", "vocab.txt"} <= {path.name for path in output.iterdir()}
    assert is_int8_graph(output / "model.onnx")
    int8 = pipeline("text-classification", model=output, backend="onnxruntime", dtype="int8")
    fp32 = pipeline("text-classification", model=classifier_folder)
    agree = sum(a["label"] == b["label"] for a, b in zip(int8(SENTENCES), fp32(SENTENCES), strict=True))
    assert agree >= len(SENTENCES) - 2


def test_a_failed_export_leaves_nothing(tmp_path, monkeypatch):
    def broken(module, args, path, **options):
        with open(path, "wb") as handle:
            handle.write(b"half a graph")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        export_onnx(DistilBertModel(tiny_config()), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_models_onnx_cannot_take_and_missing_extra(tmp_path, classifier_folder, monkeypatch):
    with pytest.raises(ConfigError, match="cannot be exported"):
        export_onnx(torch.nn.Linear(2, 2), tmp_path / "linear")
    quantized = DistilBertForSequenceClassification(tiny_config()).quantize("int8")
    with pytest.raises(ConfigError, match="int8=True"):
        export_onnx(quantized, tmp_path / "quantized")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if the extra were not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'distilkit\[onnx\]'") as caught:
        pipeline("text-classification", model=classifier_folder, backend="onnxruntime")
    assert "\n" not in str(caught.value)
