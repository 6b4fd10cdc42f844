"""Metrics: hand-checked cases, and random cases against scikit-learn, seqeval and scipy computed in the same run."""

import math
import random

import numpy as np
import pytest

from distilkit.errors import InputError
from distilkit.training import (
    EvalPrediction,
    accuracy,
    classification_metrics,
    entity_scores,
    get_entities,
    mean_squared_error,
    normalize_answer,
    pearson,
    precision_recall_f1,
    regression_metrics,
    spearman,
    squad_metrics,
)


def test_classification_by_hand():
    predictions, references = [0, 1, 1, 2], [0, 1, 2, 2]
    assert accuracy(predictions, references) == 0.75
    per_label = precision_recall_f1(predictions, references, average=None)
    assert per_label[1] == {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    assert per_label[2] == {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    macro = precision_recall_f1(predictions, references)
    assert macro["f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    # a label never predicted has precision 0 (zero_division), as scikit-learn reports it
    assert precision_recall_f1([0, 0], [0, 1], average=None)[1]["precision"] == 0.0


@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
def test_classification_matches_scikit_learn(average):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(20):
        references = rng.integers(0, 4, size=30)
        predictions = np.where(rng.random(30) < 0.6, references, rng.integers(0, 5, size=30))
        ours = precision_recall_f1(predictions, references, average=average)
        precision, recall, f1, support = sklearn_metrics.precision_recall_fscore_support(
            references, predictions, average=average, zero_division=0)
        if average is None:
            labels = sorted(set(references) | set(predictions))
            assert [ours[label]["precision"] for label in labels] == pytest.approx(list(precision))
            assert [ours[label]["recall"] for label in labels] == pytest.approx(list(recall))
            assert [ours[label]["f1"] for label in labels] == pytest.approx(list(f1))
            assert [ours[label]["support"] for label in labels] == list(support)
        else:
            assert (ours["precision"], ours["recall"], ours["f1"]) == pytest.approx((precision, recall, f1))
        assert accuracy(predictions, references) == pytest.approx(
            sklearn_metrics.accuracy_score(references, predictions))


def test_classification_metrics_take_logits_and_skip_ignored_positions():
    logits = np.array([[[2.0, 0.0], [0.0, 1.0], [5.0, 0.0]]])  # (1, 3, 2): token classification
    labels = np.array([[0, 0, -100]])
    scores = classification_metrics(EvalPrediction(logits, labels))
    assert scores["accuracy"] == 0.5


def test_entities_follow_conlleval_chunking():
    assert get_entities(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 1), ("LOC", 3, 3)]
    assert get_entities(["I-PER", "I-PER", "O"]) == [("PER", 0, 1)]  # I- after O starts an entity
    assert get_entities(["B-PER", "I-LOC"]) == [("PER", 0, 0), ("LOC", 1, 1)]  # a type change splits
    assert get_entities(["B-PER", "B-PER"]) == [("PER", 0, 0), ("PER", 1, 1)]
    with pytest.raises(InputError, match="B-, I-"):
        get_entities(["PER"])


def test_entity_scores_by_hand():
    references = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predictions = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    scores = entity_scores(references, predictions)
    assert (scores["precision"], scores["recall"], scores["f1"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert scores["accuracy"] == 5 / 6
    assert scores["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert scores["per_type"]["ORG"]["precision"] == 0.5
    with pytest.raises(InputError, match="sequence 0"):
        entity_scores([["O", "O"]], [["O"]])


def test_entity_scores_match_seqeval():
    seqeval_metrics = pytest.importorskip("seqeval.metrics")
    rng = random.Random(0)
    tags = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    for _ in range(30):
        references = [[rng.choice(tags) for _ in range(rng.randrange(1, 12))] for _ in range(8)]
        # predictions: the references with some tags changed (ill-formed sequences included)
        predictions = [[tag if rng.random() < 0.7 else rng.choice(tags) for tag in row] for row in references]
        ours = entity_scores(references, predictions)
        assert ours["precision"] == pytest.approx(seqeval_metrics.precision_score(references, predictions))
        assert ours["recall"] == pytest.approx(seqeval_metrics.recall_score(references, predictions))
        assert ours["f1"] == pytest.approx(seqeval_metrics.f1_score(references, predictions))
        assert ours["accuracy"] == pytest.approx(seqeval_metrics.accuracy_score(references, predictions))
        report = seqeval_metrics.classification_report(references, predictions, output_dict=True, zero_division=0)
        for kind, scores in ours["per_type"].items():
            if kind in report:
                assert scores["f1"] == pytest.approx(report[kind]["f1-score"])
                assert scores["support"] == report[kind]["support"]


def test_squad_normalisation_and_scores():
    assert normalize_answer("  The  Eiffel-Tower!! ") == "eiffeltower"
    assert normalize_answer("an Apple a day") == "apple day"
    scores = squad_metrics(["the Eiffel Tower", "in Paris", "nothing"],
                           [["Eiffel Tower"], ["Paris, France", "paris"], ["Berlin"]])
    assert scores["exact_match"] == pytest.approx(100 * 1 / 3)
    # "in paris" vs "paris": precision 1/2, recall 1 -> F1 2/3; the best of the two answers counts
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3 + 0) / 3)
    assert squad_metrics({"q1": "blue"}, {"q1": ["Blue."]}) == {"exact_match": 100.0, "f1": 100.0}
    assert squad_metrics([""], [[""]]) == {"exact_match": 100.0, "f1": 100.0}  # unanswerable, answered so
    with pytest.raises(InputError, match="no prediction"):
        squad_metrics({}, {"q1": ["x"]})


def test_regression_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for _ in range(10):
        references = rng.integers(0, 5, size=25).astype(float)  # many ties
        predictions = references + rng.normal(0, 1.5, size=25)
        predictions[:5] = predictions[5]  # ties on the prediction side too
        assert pearson(predictions, references) == pytest.approx(stats.pearsonr(predictions, references)[0])
        assert spearman(predictions, references) == pytest.approx(stats.spearmanr(predictions, references)[0])
    assert mean_squared_error([1.0, 2.0], [2.0, 4.0]) == 2.5
    assert math.isnan(pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    scores = regression_metrics(EvalPrediction(np.array([[0.5], [1.5], [3.0]]), np.array([0.0, 2.0, 3.0])))
    assert scores["spearman"] == pytest.approx(1.0) and scores["mse"] == pytest.approx(0.5 / 3)


def test_metrics_reject_mismatched_or_empty_input():
    with pytest.raises(InputError, match="shape"):
        accuracy([1, 2], [1])
    with pytest.raises(InputError, match="empty"):
        accuracy([], [])
    with pytest.raises(InputError, match="average"):
        precision_recall_f1([1], [1], average="samples")
