"""int8 accuracy on the built default models, on their held-out test splits: sentiment within 0.5 point of
float32, NER entity F1 within 1 point. Marked `slow`: it builds the defaults when they are not cached (about 5 and
6 minutes on 2 cores); `make test-slow` runs it."""

import pytest
import torch

from distilkit import AutoModelForTokenClassification, AutoTokenizer
from distilkit.models import registry
from distilkit.models.data import rotten_tomatoes, split, wnut_ner
from distilkit.models.recipes import NER, SENTIMENT
from distilkit.pipelines import pipeline
from distilkit.training.metrics import entity_scores

pytestmark = pytest.mark.slow


def test_int8_sentiment_within_half_a_point_of_float32():
    folder = registry.ensure("sentiment")
    test, _ = split(rotten_tomatoes(), [SENTIMENT["test_fraction"]], seed=SENTIMENT["split_seed"])
    texts, labels = [text for text, _ in test], ["POSITIVE" if label else "NEGATIVE" for _, label in test]
    scores = {}
    for dtype in (None, "int8"):
        results = pipeline("sentiment-analysis", model=folder, dtype=dtype)(texts, batch_size=32)
        scores[dtype] = sum(result["label"] == label for result, label in zip(results, labels, strict=True)) / len(texts)
    print(f"sentiment held-out accuracy: float32 {scores[None]:.4f}, int8 {scores['int8']:.4f} ({len(texts)} sentences)")
    assert scores["int8"] >= scores[None] - 0.005


def word_predictions(model, tokenizer, sentences) -> list[list[str]]:
    """The tag of each word's first sub-token, as the NER recipe scores it."""
    predictions = []
    for start in range(0, len(sentences), 32):
        words = [sentence for sentence, _ in sentences[start:start + 32]]
        batch = tokenizer(words, is_split_into_words=True, truncation=True, max_length=128, padding=True,
                          return_tensors="pt")
        with torch.inference_mode():
            ids = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        packed=True).logits.argmax(-1)
        for row, sentence_words in enumerate(words):
            tags, seen = [], set()
            for position, word in enumerate(batch.word_ids(row)):
                if word is not None and word not in seen:
                    seen.add(word)
                    tags.append(model.config.id2label[int(ids[row, position])])
            predictions.append(tags + ["O"] * (len(sentence_words) - len(tags)))  # words cut by truncation
    return predictions


def test_int8_ner_within_one_point_of_float32():
    folder = registry.ensure("ner")
    test, _ = split(wnut_ner(), [NER["test_fraction"]], seed=NER["split_seed"])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    references = [tags for _, tags in test]
    model = AutoModelForTokenClassification.from_pretrained(folder).eval()
    fp32 = entity_scores(references, word_predictions(model, tokenizer, test))["f1"]
    int8 = entity_scores(references, word_predictions(model.quantize("int8"), tokenizer, test))["f1"]
    print(f"NER held-out entity F1: float32 {fp32:.4f}, int8 {int8:.4f} ({len(test)} tweets)")
    assert int8 >= fp32 - 0.01
