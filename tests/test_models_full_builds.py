"""Full builds of the trained default models, checked against the held-out scores the issue asks for.

Marked `slow`: together they take about half an hour on 2 cores (31 min measured), far over the default suite's budget, so `make test`
skips them and `make test-slow` runs them (one at a time: the builds use every core).
"""

import json

import pytest

from distilkit.models import registry
from distilkit.pipelines import pipeline

pytestmark = pytest.mark.slow
FILL_MASK_TOP5 = 0.40  # the build here: 0.467


@pytest.fixture
def models_root(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILKIT_MODELS", str(tmp_path / "models"))
    return tmp_path / "models"


def built(name):
    folder = registry.ensure(name)
    return folder, json.loads((folder / registry.MANIFEST).read_text())


def test_sentiment_reaches_85_percent_on_the_held_out_split(models_root):
    folder, manifest = built("sentiment")
    assert manifest["test_accuracy"] >= 0.85
    classifier = pipeline("sentiment-analysis", model=folder)
    results = classifier(["A gorgeous, witty, moving film.", "Two hours of my life I will never get back."])
    assert [result["label"] for result in results] == ["POSITIVE", "NEGATIVE"]


def test_ner_finds_entities_on_the_held_out_split(models_root):
    folder, manifest = built("ner")
    assert manifest["test_f1"] >= 0.40  # builds here: 0.438, 0.537
    entities = pipeline("ner", model=folder)("Barack Obama visited Paris with Google", aggregation_strategy="simple")
    assert entities


def test_fill_mask_predicts_held_out_words(models_root):
    folder, manifest = built("fill-mask")
    assert manifest["top5"] >= FILL_MASK_TOP5
    predictions = pipeline("fill-mask", model=folder)("She was [MASK] happy to see him.")
    assert len(predictions) == 5
