"""Parity with the reference library, computed in the same run: same keys, same module tree, same numbers,
and checkpoints that each library loads from the other."""

import json

import pytest
import torch
import transformers

import distilkit
from distilkit import modeling
from distilkit.configuration import DistilBertConfig

CLASSES = [
    "DistilBertModel",
    "DistilBertForMaskedLM",
    "DistilBertForSequenceClassification",
    "DistilBertForTokenClassification",
    "DistilBertForQuestionAnswering",
    "DistilBertForMultipleChoice",
]
TINY = dict(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=40)
# Full width and depth; a small vocabulary keeps the test fast without changing any code path.
FULL = dict(vocab_size=1000, dim=768, n_layers=6, n_heads=12, hidden_dim=3072)
TOLERANCE = 1e-5


def make_inputs(name: str, vocab_size: int, batch: int = 3, length: int = 9):
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(1, vocab_size, (batch, length), generator=generator)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[1, 5:] = 0
    mask[2, 7:] = 0
    ids = ids.masked_fill(mask == 0, 0)
    if name == "DistilBertForMultipleChoice":
        return {"input_ids": ids.view(1, batch, length).repeat(2, 1, 1),
                "attention_mask": mask.view(1, batch, length).repeat(2, 1, 1)}
    return {"input_ids": ids, "attention_mask": mask}


def label_sets(name: str, inputs: dict, num_labels: int, vocab_size: int):
    """(config overrides, labels kwargs) pairs covering every loss of the class."""
    ids = inputs["input_ids"]
    generator = torch.Generator().manual_seed(2)
    if name == "DistilBertForMaskedLM":
        labels = ids.clone()
        labels[:, ::2] = -100
        return [({}, {"labels": labels})]
    if name == "DistilBertForSequenceClassification":
        batch = ids.size(0)
        return [
            ({"num_labels": 1}, {"labels": torch.randn(batch, generator=generator)}),
            ({"num_labels": 3}, {"labels": torch.randint(0, 3, (batch,), generator=generator)}),
            ({"num_labels": 3}, {"labels": torch.randint(0, 2, (batch, 3), generator=generator).float()}),
        ]
    if name == "DistilBertForTokenClassification":
        labels = torch.randint(0, num_labels, ids.shape, generator=generator)
        labels[inputs["attention_mask"] == 0] = -100
        return [({}, {"labels": labels})]
    if name == "DistilBertForQuestionAnswering":
        length = ids.size(1)
        # the second and third rows point outside the window: clamped and ignored
        return [({}, {"start_positions": torch.tensor([1, length + 5, 2]),
                      "end_positions": torch.tensor([3, 4, length + 9])})]
    if name == "DistilBertForMultipleChoice":
        return [({}, {"labels": torch.tensor([0, 2])})]
    return [({}, {})]


def flatten_output(output) -> list[torch.Tensor]:
    tensors = []
    for value in output.values() if hasattr(output, "values") else output:
        if isinstance(value, tuple):
            tensors.extend(value)
        elif value is not None:
            tensors.append(value)
    return tensors


def assert_outputs_close(reference_output, our_output, label: str) -> None:
    assert list(reference_output.keys()) == list(our_output.keys()), label
    expected, actual = flatten_output(reference_output), flatten_output(our_output)
    assert len(expected) == len(actual), label
    for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
        assert left.shape == right.shape, f"{label}[{index}]"
        difference = (left - right).abs().max().item()
        assert difference <= TOLERANCE, f"{label}[{index}] differs by {difference}"


def run(model, inputs, labels=None):
    with torch.no_grad():
        return model(**{key: value.contiguous() for key, value in inputs.items()}, **(labels or {}),
                     output_hidden_states=True, output_attentions=True)


@pytest.mark.parametrize("name", CLASSES)
def test_keys_shapes_and_module_tree_match(name):
    reference = getattr(transformers, name)(transformers.DistilBertConfig(**TINY))
    ours = getattr(modeling, name)(DistilBertConfig(**TINY))
    reference_state, our_state = reference.state_dict(), ours.state_dict()
    assert list(reference_state) == list(our_state)
    assert {key: value.shape for key, value in reference_state.items()} == \
        {key: value.shape for key, value in our_state.items()}
    assert str(reference) == str(ours)


@pytest.mark.parametrize("size", ["tiny", pytest.param("full", marks=pytest.mark.slow)])
@pytest.mark.parametrize("name", CLASSES)
def test_reference_checkpoint_loads_and_matches(name, size, tmp_path):
    sizes = TINY if size == "tiny" else FULL
    inputs = make_inputs(name, sizes["vocab_size"])
    for overrides, labels in label_sets(name, inputs, 2, sizes["vocab_size"]):
        reference_config = transformers.DistilBertConfig(**sizes, **overrides)
        reference = getattr(transformers, name)._from_config(reference_config, attn_implementation="eager").eval()
        reference.save_pretrained(tmp_path / "reference")
        ours = getattr(modeling, name).from_pretrained(tmp_path / "reference")
        assert not ours.training
        assert_outputs_close(run(reference, inputs, labels), run(ours, inputs, labels), f"{name} {overrides}")
        assert ours.config.problem_type == reference.config.problem_type


@pytest.mark.parametrize("size", ["tiny", pytest.param("full", marks=pytest.mark.slow)])
@pytest.mark.parametrize("name", CLASSES)
def test_our_checkpoint_loads_in_reference(name, size, tmp_path):
    sizes = TINY if size == "tiny" else FULL
    inputs = make_inputs(name, sizes["vocab_size"])
    for overrides, labels in label_sets(name, inputs, 2, sizes["vocab_size"]):
        ours = getattr(modeling, name)(DistilBertConfig(**sizes, **overrides)).eval()
        ours.save_pretrained(tmp_path / "ours")
        reference, info = getattr(transformers, name).from_pretrained(
            tmp_path / "ours", attn_implementation="eager", output_loading_info=True)
        assert not any(info[key] for key in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
        assert_outputs_close(run(reference.eval(), inputs, labels), run(ours, inputs, labels), f"{name} {overrides}")


def test_sdpa_attentions_are_real(tmp_path):
    """The reference returns an empty tuple under SDPA; we return the same probabilities as eager."""
    reference = transformers.DistilBertModel._from_config(transformers.DistilBertConfig(**TINY),
                                                          attn_implementation="eager").eval()
    reference.save_pretrained(tmp_path)
    ours = modeling.DistilBertModel.from_pretrained(tmp_path)
    assert ours.attn_implementation == "sdpa"
    inputs = make_inputs("DistilBertModel", TINY["vocab_size"])
    expected, actual = run(reference, inputs).attentions, run(ours, inputs).attentions
    assert len(actual) == TINY["n_layers"]
    for left, right in zip(expected, actual, strict=True):
        assert right.shape == (3, TINY["n_heads"], 9, 9)
        assert (left - right).abs().max() <= TOLERANCE
        assert torch.all(right[1, :, :, 5:] == 0)  # padded keys get exactly zero weight


def test_sinusoidal_positions_match(tmp_path):
    config = dict(TINY, sinusoidal_pos_embds=True)
    reference = transformers.DistilBertModel(transformers.DistilBertConfig(**config))
    ours = modeling.DistilBertModel(DistilBertConfig(**config))
    table_reference = reference.embeddings.position_embeddings.weight
    table_ours = ours.embeddings.position_embeddings.weight
    assert (table_reference - table_ours).abs().max() <= 1e-6


@pytest.mark.parametrize("overrides", [{}, {"num_labels": 3, "problem_type": "regression",
                                           "finetuning_task": "sst2"}, {"id2label": {0: "NEG", 1: "POS"}},
                                       {"sinusoidal_pos_embds": True, "activation": "relu", "dim": 64, "n_heads": 4}])
def test_config_json_loads_both_ways(overrides, tmp_path):
    ours = DistilBertConfig(**overrides)
    ours.save_pretrained(tmp_path / "ours")
    reference = transformers.DistilBertConfig.from_pretrained(tmp_path / "ours")
    reference.save_pretrained(tmp_path / "reference")
    back = DistilBertConfig.from_pretrained(tmp_path / "reference")

    ours_file = json.loads((tmp_path / "ours" / "config.json").read_text())
    reference_file = json.loads((tmp_path / "reference" / "config.json").read_text())
    version_keys = {"transformers_version", "distilkit_version"}
    assert {k: v for k, v in ours_file.items() if k not in version_keys} == \
        {k: v for k, v in reference_file.items() if k not in version_keys}
    for field in list(DistilBertConfig.model_fields) + ["num_labels", "id2label", "label2id", "problem_type"]:
        assert getattr(reference, field) == getattr(ours, field) == getattr(back, field), field
    assert back.hidden_size == reference.hidden_size == ours.dim
    assert isinstance(next(iter(back.id2label)), int)


def test_package_does_not_import_reference():
    import ast
    import pathlib

    for path in pathlib.Path(distilkit.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(name.split(".")[0] == "transformers" for name in names), path
