"""Embedded default models: the real embeddings default equals the original sentence-transformers computation,
zero-shot by embedding similarity, and each training recipe end to end on a tiny slice of its real data
(fetch -> convert -> train -> save -> load -> pipeline)."""

import json

import numpy as np
import pytest
import torch
import transformers

from distilkit.errors import DistilkitError
from distilkit.models import defaults, recipes, registry
from distilkit.models.assets import minilm_dir
from distilkit.pipelines import EmbeddingZeroShotPipeline, pipeline

SENTENCES = ["A gorgeous, witty film.", "The plot is thin and the jokes fall flat.", "Paris is in France."]


@pytest.fixture
def models_root(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILKIT_MODELS", str(tmp_path / "models"))
    return tmp_path / "models"


def original_sentence_embeddings(texts):
    """sentence-transformers' recipe for all-MiniLM-L6-v2, computed with the reference library's BertModel."""
    source = minilm_dir()
    tokenizer = transformers.AutoTokenizer.from_pretrained(source)
    model = transformers.BertModel.from_pretrained(source).eval()
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()


def test_embeddings_default_equals_the_original_model(models_root):
    extractor = pipeline("feature-extraction", batch_size=2)
    assert (models_root / "embeddings" / "manifest.json").is_file()
    ours = np.array(extractor(SENTENCES, pooling="mean", normalize=True))
    assert np.abs(ours - original_sentence_embeddings(SENTENCES)).max() <= 1e-5
    card = (models_root / "embeddings" / "README.md").read_text()
    assert "all-MiniLM-L6-v2" in card


def test_zero_shot_default_ranks_by_similarity(models_root):
    classifier = pipeline("zero-shot-classification")
    assert isinstance(classifier, EmbeddingZeroShotPipeline)
    labels = ["cinema", "geography", "cooking"]
    result = classifier(SENTENCES[2], candidate_labels=labels)
    assert set(result) == {"sequence", "labels", "scores"} and sorted(result["labels"]) == sorted(labels)
    assert result["labels"][0] == "geography"
    # the scores are softmax(20 * cosine) of the original model's embeddings of text and hypotheses
    vectors = original_sentence_embeddings([SENTENCES[2]] + [f"This example is {label}." for label in labels])
    logits = 20 * vectors[1:] @ vectors[0]
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert np.allclose([result["scores"][result["labels"].index(label)] for label in labels], expected, atol=1e-5)
    multi = classifier(SENTENCES[2], candidate_labels=labels, multi_label=True)
    assert all(0.0 <= score <= 1.0 for score in multi["scores"])


def test_question_answering_has_no_default(models_root):
    with pytest.raises(DistilkitError, match="question-answering"):
        defaults.resolve("question-answering")


@pytest.mark.parametrize(("name", "task", "text"), [
    ("sentiment", "sentiment-analysis", "A gorgeous film."),
    ("ner", "ner", "Barack Obama visited Paris"),
    ("fill-mask", "fill-mask", "She was [MASK] happy."),
])
def test_recipe_end_to_end_on_a_tiny_slice(name, task, text, models_root, monkeypatch):
    builders = {"sentiment": recipes.build_sentiment, "ner": recipes.build_ner, "fill-mask": recipes.build_fill_mask}
    overrides = {"fill-mask": {"max_steps": 2}}.get(name, {"epochs": 1})

    def quick(folder):
        return builders[name](folder, limit=24, overrides=overrides)

    monkeypatch.setitem(recipes.RECIPES, name, registry.Recipe(name, "tiny slice", quick))
    runner = pipeline(task)
    folder = models_root / name
    card = (folder / "README.md").read_text()
    assert "Hyper-parameters" in card and "Held-out results" in card
    assert json.loads((folder / "manifest.json").read_text())["recipe"] == name
    result = runner(text)
    assert result  # loaded from the cache and ran
    # a second call reuses the cache
    mtime = (folder / "model.safetensors").stat().st_mtime_ns
    pipeline(task)
    assert (folder / "model.safetensors").stat().st_mtime_ns == mtime
    # the reference library loads what the recipe saved
    reference_class = {"sentiment": transformers.DistilBertForSequenceClassification,
                       "ner": transformers.DistilBertForTokenClassification,
                       "fill-mask": transformers.DistilBertForMaskedLM}[name]
    _, info = reference_class.from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]


def test_fill_mask_training_loss_equals_the_models_own(tmp_path):
    from distilkit import DistilBertConfig, DistilBertForMaskedLM
    from distilkit.training import TrainingArguments

    torch.manual_seed(0)
    model = DistilBertForMaskedLM(DistilBertConfig(vocab_size=50, dim=16, hidden_dim=32, n_layers=2, n_heads=2))
    model.eval()
    ids = torch.randint(5, 50, (3, 7))
    mask = torch.ones_like(ids)
    mask[1, 4:] = 0
    labels = torch.full_like(ids, -100)
    labels[0, 2], labels[1, 1], labels[2, 5] = 7, 9, 11
    inputs = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    trainer = recipes.masked_positions_trainer()(model=model, args=TrainingArguments(output_dir=str(tmp_path)))
    expected = model(**inputs).loss
    assert torch.allclose(trainer.compute_loss(model, inputs), expected, atol=1e-6)
