"""Parity with the reference's last TensorFlow classes (transformers 4.x `TFDistilBert*` on tf-keras), which
cannot share distilkit's environment (Keras 3 vs Keras 2): they run in their own venv, built by
`tests/parity/tf4_oracle/build_venv.sh`, through `tf4_oracle/oracle.py`. Run when DISTILKIT_TF4_PYTHON names that
venv's python (a dev-only oracle, like the other reference checks; CI has no such venv):

    DISTILKIT_TF4_PYTHON=/work/tf4-venv/bin/python .venv/bin/python -m pytest tests/parity/test_tf_reference_parity.py

Checked on the same weights: logits, per-example losses, hidden states, attentions and the output fields; the
reference loads distilkit's saved folder (safetensors) and distilkit's TF and PyTorch classes load the reference's
(`tf_model.h5`); a whole tf-keras model with a Lambda layer is refused.
"""

import json
import os
import subprocess
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import distilkit.modeling as pt  # noqa: E402
from distilkit import DistilBertConfig  # noqa: E402
from distilkit.errors import CheckpointError  # noqa: E402

ORACLE_PYTHON = os.environ.get("DISTILKIT_TF4_PYTHON")
pytestmark = pytest.mark.skipif(not ORACLE_PYTHON, reason="DISTILKIT_TF4_PYTHON does not name the 4.x TF oracle's "
                                                          "python (build it with tests/parity/tf4_oracle/build_venv.sh)")
ORACLE = Path(__file__).parent / "tf4_oracle" / "oracle.py"
TINY = dict(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=40)
CLASSES = ["DistilBertModel", "DistilBertForMaskedLM", "DistilBertForSequenceClassification",
           "DistilBertForTokenClassification", "DistilBertForQuestionAnswering", "DistilBertForMultipleChoice"]


def inputs_for(name: str, rng) -> tuple[dict, dict]:
    batch, length, choices = 3, 11, 2
    shape = (batch, choices, length) if name == "DistilBertForMultipleChoice" else (batch, length)
    ids = rng.integers(5, TINY["vocab_size"], shape).astype(np.int32)
    mask = np.ones_like(ids)
    mask[..., 0, 7:] = 0 if len(shape) == 3 else 1
    if len(shape) == 2:
        mask[0, 7:] = 0
    ids[mask == 0] = 0
    labels = {
        "DistilBertForSequenceClassification": {"labels": rng.integers(0, 2, batch)},
        "DistilBertForMultipleChoice": {"labels": rng.integers(0, choices, batch)},
        "DistilBertForTokenClassification": {"labels": np.where(mask == 1, rng.integers(0, 2, shape), -100)},
        "DistilBertForMaskedLM": {"labels": np.where(mask == 1, rng.integers(0, 99, shape), -100)},
        "DistilBertForQuestionAnswering": {"start_positions": rng.integers(0, 7, batch),
                                           "end_positions": rng.integers(0, 7, batch)},
    }.get(name, {})
    return {"input_ids": ids, "attention_mask": mask}, {key: value.astype(np.int32) for key, value in labels.items()}


@pytest.fixture(scope="module")
def oracle_run(tmp_path_factory):
    """Our folders for every class, the oracle's outputs on them and its own saved folders."""
    work = tmp_path_factory.mktemp("tf4")
    rng = np.random.default_rng(0)
    cases, data = [], {}
    for name in CLASSES:
        torch.manual_seed(0)
        getattr(pt, name)(DistilBertConfig(**TINY)).save_pretrained(work / f"{name}-ours")
        inputs, labels = inputs_for(name, rng)
        np.savez(work / f"{name}-inputs.npz", **inputs, **labels)
        data[name] = (inputs, labels)
        cases.append({"name": name, "class": "TF" + name, "source": str(work / f"{name}-ours"),
                      "inputs": f"{name}-inputs.npz", "labels": {key: key for key in labels}})
    (work / "job.json").write_text(json.dumps({"cases": cases}))
    result = subprocess.run([ORACLE_PYTHON, str(ORACLE), str(work)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return work, data


def compare(theirs: dict, ours) -> None:
    fields = {key.rsplit("_", 1)[0] if key[-1].isdigit() else key for key in theirs}
    assert fields == set(ours.keys())
    for key, value in theirs.items():
        if key[-1].isdigit():
            field, index = key.rsplit("_", 1)
            actual = np.asarray(ours[field][int(index)])
        else:
            actual = np.asarray(ours[key])
        assert actual.shape == value.shape, key
        np.testing.assert_allclose(actual, value, atol=1e-5, err_msg=key)


@pytest.mark.parametrize("name", CLASSES)
def test_same_outputs_as_the_reference_tf_classes_and_each_loads_the_others_folder(name, oracle_run):
    import distilkit.tf as dtf

    work, data = oracle_run
    inputs, labels = data[name]
    theirs = dict(np.load(work / f"{name}.npz"))
    ours = getattr(dtf, "TF" + name).from_pretrained(work / f"{name}-ours")
    compare(theirs, ours({**inputs, **labels}, output_hidden_states=True, output_attentions=True))

    saved = work / f"{name}-saved"
    assert (saved / "tf_model.h5").exists() and not (saved / "model.safetensors").exists()
    from_h5 = getattr(dtf, "TF" + name).from_pretrained(saved)
    assert from_h5.load_report.is_clean
    compare(theirs, from_h5({**inputs, **labels}, output_hidden_states=True, output_attentions=True))
    torch_model = getattr(pt, name).from_pretrained(saved, from_tf=True)
    reference_state = getattr(pt, name).from_pretrained(work / f"{name}-ours").state_dict()
    assert all(torch.equal(value, torch_model.state_dict()[key]) for key, value in reference_state.items())


def test_a_whole_keras_model_with_a_lambda_layer_is_refused(oracle_run):
    from distilkit.modeling.tf_weights import read_tf_h5

    work, _ = oracle_run
    with pytest.raises(CheckpointError, match="whole Keras model.*Lambda"):
        read_tf_h5(work / "whole-model.h5")
