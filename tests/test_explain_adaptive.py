"""method="adaptive" integrated gradients: the node rule on known functions, a model whose logit takes a sharp
detour along the path (where a fixed 50-point Gauss-Legendre rule is off and the adaptive rule is not), the
true completeness residual, the pipeline and command default, and bad arguments."""

import numpy as np
import pytest
import torch
from test_explain import TEXT, VOCAB, classifier, tokenizer
from torch import nn

from distilkit import explain
from distilkit.errors import InputError
from distilkit.explain.attribution import DEFAULT_METHOD, PANEL_NODES, adaptive_points
from distilkit.pipelines import pipeline


def detour(u):
    """F along the path (u in [0, 1]): a gentle slope, a narrow bump at u = 0.53 and a kink at u = 0.7."""
    return 0.3 * u + 0.8 * torch.exp(-((u - 0.53) / 0.03) ** 2) + 0.5 * torch.relu(u - 0.7)


class DetourClassifier(nn.Module):
    """Two logits (-F, F) of the summed embeddings, rescaled so that the baseline is u = 0 and `text` u = 1: on
    the straight path of integrated gradients F(alpha) = detour(alpha) exactly."""

    def __init__(self, text: str):
        super().__init__()
        torch.manual_seed(0)
        self.embeddings = nn.Embedding(len(VOCAB), 8)
        ids = tokenizer()(text, return_tensors="pt")["input_ids"]  # (1, T)
        baseline = torch.where((ids == 2) | (ids == 3), ids, torch.zeros_like(ids))  # [CLS] [PAD] ... [SEP]
        with torch.no_grad():
            self.low, self.high = float(self.embeddings(baseline).sum()), float(self.embeddings(ids).sum())

    def forward(self, input_ids, attention_mask=None):
        u = (self.embeddings(input_ids).sum((1, 2)) - self.low) / (self.high - self.low)  # (B,)
        value = detour(u)  # (B,)
        return {"logits": torch.stack([-value, value], -1)}  # (B, 2)


def test_adaptive_nodes_integrate_known_functions_and_follow_the_variation():
    grid = np.linspace(0, 1, 101)
    profile = np.tanh((grid - 0.3) / 0.02)  # F jumps by ~2 around 0.3
    nodes, weights = explain.integration_points(50, "adaptive", profile)
    assert nodes.shape == weights.shape == (50,)
    assert np.all(np.diff(nodes) > 0) and nodes.min() > 0 and nodes.max() < 1 and np.all(weights > 0)
    assert weights.sum() == pytest.approx(1, abs=1e-12)
    # every panel is Gauss-Legendre with >= PANEL_NODES points: exact for polynomials of degree < 2 * PANEL_NODES
    for degree in range(2 * PANEL_NODES):
        assert weights @ nodes ** degree == pytest.approx(1 / (degree + 1), abs=1e-12)
    assert weights @ np.cos(3 * nodes) == pytest.approx(np.sin(3) / 3, abs=1e-9)
    # half the nodes follow |dF|: the 10% of the path around the jump holds far more than 10% of them
    assert np.sum(np.abs(nodes - 0.3) < 0.05) >= 15
    # a flat F (or several targets that do not move) spreads the panels evenly
    flat_nodes, flat_weights = explain.integration_points(50, "adaptive", np.zeros((2, 101)))
    assert np.allclose(np.diff(flat_nodes[::PANEL_NODES]), 0.1) and flat_weights.sum() == pytest.approx(1)
    # fewer steps than a panel holds: one panel, the plain Gauss-Legendre rule
    np.testing.assert_allclose(explain.integration_points(3, "adaptive", profile),
                               explain.integration_points(3, "gausslegendre"), atol=1e-15)


def test_adaptive_resolves_a_sharp_detour_that_fixed_gauss_legendre_misses():
    text = "the cat sat on the mat"
    model = DetourClassifier(text)
    fixed = explain.attributions(model, tokenizer(), text, target=1, n_steps=50, method="gausslegendre")
    adaptive = explain.attributions(model, tokenizer(), text, target=1, n_steps=50, method="adaptive")
    difference = float(detour(torch.tensor(1.0)) - detour(torch.tensor(0.0)))
    for result in (fixed, adaptive):
        assert result.value - result.baseline_value == pytest.approx(difference, abs=1e-5)
        # delta stays the true completeness residual
        assert result.delta == pytest.approx(float(result.scores.sum()) - difference, abs=1e-5)
    assert abs(fixed.delta) > 0.01 * difference  # 50 fixed points miss the bump
    assert abs(adaptive.delta) < 0.005 * difference
    assert abs(adaptive.delta) < abs(fixed.delta) / 3


def test_adaptive_on_a_real_model_is_chunk_independent_and_complete():
    ours = classifier()
    whole = explain.attributions(ours, tokenizer(), TEXT, n_steps=20, method="adaptive", internal_batch_size=50)
    chunked = explain.attributions(ours, tokenizer(), TEXT, n_steps=20, method="adaptive", internal_batch_size=3)
    np.testing.assert_allclose(whole.scores, chunked.scores, atol=1e-5)
    encoding = tokenizer()(TEXT, return_tensors="pt")
    baseline = torch.where((encoding["input_ids"] == 2) | (encoding["input_ids"] == 3), encoding["input_ids"], 0)
    index = whole.details["index"]
    with torch.no_grad():
        value = float(ours(**encoding).logits[0, index])
        base = float(ours(input_ids=baseline, attention_mask=encoding["attention_mask"]).logits[0, index])
    assert whole.value == pytest.approx(value, abs=1e-5) and whole.baseline_value == pytest.approx(base, abs=1e-5)
    assert whole.delta == pytest.approx(float(whole.scores.sum()) - (value - base), abs=1e-5)
    assert whole.method == "adaptive" and whole.n_steps == 20


def test_pipeline_and_command_use_the_default_method():
    runner = pipeline("text-classification", model=classifier(), tokenizer=tokenizer())
    default = runner(TEXT, explain=True)[0]
    explicit = runner(TEXT, explain={"method": DEFAULT_METHOD})[0]
    assert default["attributions"] == explicit["attributions"] and default["delta"] == explicit["delta"]
    data = explain.explain_json(runner, TEXT, with_attention=False)
    assert data["settings"]["method"] == DEFAULT_METHOD


def test_adaptive_bad_arguments_give_clear_errors():
    with pytest.raises(InputError, match="method='adaptive' places its nodes by the target's values"):
        explain.integration_points(50, "adaptive")
    with pytest.raises(InputError, match=r"profile must hold F at >= 2 evenly spaced path positions.*\(1,\)"):
        adaptive_points(50, [0.5])
    with pytest.raises(InputError, match="profile must hold"):
        adaptive_points(50, np.zeros((2, 3, 4)))
    with pytest.raises(InputError, match="not all finite"):
        adaptive_points(50, [0.0, float("nan"), 1.0])
    with pytest.raises(InputError, match="n_steps must be an int >= 1, got 0"):
        explain.integration_points(0, "adaptive", [0.0, 1.0])
    with pytest.raises(InputError, match="method='adaptiv' is not one of .*adaptive"):
        explain.attributions(classifier(), tokenizer(), TEXT, method="adaptiv")
    runner = pipeline("text-classification", model=classifier(), tokenizer=tokenizer())
    with pytest.raises(InputError, match="explain method='Adaptive' is not one of"):
        runner(TEXT, explain={"method": "Adaptive"})
