"""Completeness of integrated gradients on the default sentiment model: at 50 steps (50 gradient evaluations) of
the default method, |delta| <= 1% of |F(text) - F(baseline)| for at least 95% of 200 held-out Rotten Tomatoes
sentences.

Marked `slow`: it needs the default sentiment model (built on first use, about 5 min on 2 cores) and 200
attributions; `make test-slow` runs it. The distribution of the relative error is printed (pytest -s).
"""

import numpy as np
import pytest

from distilkit import explain
from distilkit.explain.attribution import DEFAULT_METHOD
from distilkit.models import registry
from distilkit.models.data import rotten_tomatoes, split
from distilkit.models.recipes import SENTIMENT
from distilkit.pipelines import pipeline

pytestmark = pytest.mark.slow


def held_out_sentences(count: int) -> list[str]:
    """The first `count` sentences of the recipe's own test split (never used for training or selection)."""
    test, _ = split(rotten_tomatoes(), [SENTIMENT["test_fraction"]], seed=SENTIMENT["split_seed"])
    return [text for text, _ in test[:count]]


def test_completeness_on_200_held_out_sentences_at_50_steps():
    classifier = pipeline("sentiment-analysis", model=registry.ensure("sentiment"))
    errors, differences = [], []
    for text in held_out_sentences(200):
        result = explain.attributions(classifier, text, n_steps=50)  # the default method
        assert result.method == DEFAULT_METHOD
        difference = result.value - result.baseline_value
        assert result.delta == pytest.approx(float(result.scores.sum()) - difference, abs=1e-4)
        errors.append(abs(result.delta) / max(abs(difference), 1e-12))
        differences.append(abs(difference))
    errors, differences = np.array(errors), np.array(differences)
    quantiles = np.quantile(errors, [0.5, 0.9, 0.95, 0.99, 1.0])
    print(f"\nmethod={DEFAULT_METHOD!r}, |delta| / |F(x) - F(baseline)| over {len(errors)} sentences: "
          f"median {quantiles[0]:.2e}, "
          f"90% {quantiles[1]:.2e}, 95% {quantiles[2]:.2e}, 99% {quantiles[3]:.2e}, max {quantiles[4]:.2e}; "
          f"within 1%: {np.mean(errors <= 0.01):.1%}; median |F(x) - F(baseline)| {np.median(differences):.3f}")
    for name, rows in (("|F(x) - F(baseline)| < 1", differences < 1), ("|F(x) - F(baseline)| >= 1", differences >= 1)):
        print(f"  {name}: {rows.sum()} sentences, within 1%: {np.mean(errors[rows] <= 0.01) if rows.any() else 0:.1%}")
    assert np.mean(errors <= 0.01) >= 0.95
