"""Task behaviour beyond reference parity: known answers from controlled models, options, and clear errors."""

import logging
import types
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from distilkit import (
    DistilBertConfig,
    DistilBertForMaskedLM,
    DistilBertForMultipleChoice,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertModel,
)
from distilkit.errors import InputError
from distilkit.pipelines import pipeline
from distilkit.tokenization import DistilBertTokenizer, DistilBertTokenizerFast

WORDS = (
    "the a is was in on of and to cat dog sat mat john marie lives paris berlin france who city un ##aff "
    "##able ##s . , ? !"
).split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
SIZES = dict(vocab_size=len(VOCAB), dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64)


def tokenizer(**kwargs):
    return DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(VOCAB)}, **kwargs)


def model(cls, **config):
    torch.manual_seed(0)
    return cls(DistilBertConfig(**SIZES, **config))


# -- text-classification -------------------------------------------------------------------------------------


def test_scores_are_the_softmax_or_sigmoid_of_the_model_logits():
    classifier = pipeline(
        "text-classification",
        model=model(DistilBertForSequenceClassification, num_labels=3),
        tokenizer=tokenizer(),
    )
    inputs = tokenizer()("the cat sat", return_tensors="pt")
    with torch.no_grad():
        logits = classifier.model(**inputs).logits[0]
    for function, expected in (
        ("softmax", logits.softmax(-1)),
        ("sigmoid", logits.sigmoid()),
        ("none", logits),
    ):
        scores = {
            entry["label"]: entry["score"]
            for entry in classifier("the cat sat", top_k=None, function_to_apply=function)
        }
        assert [scores[f"LABEL_{index}"] for index in range(3)] == pytest.approx(expected.tolist(), abs=1e-6)
    ranked = classifier("the cat sat", top_k=None)
    assert [entry["score"] for entry in ranked] == sorted(entry["score"] for entry in ranked)[::-1]
    assert classifier("the cat sat", top_k=2) == ranked[:2]
    with pytest.raises(InputError, match="function_to_apply='relu'"):
        classifier("the cat", function_to_apply="relu")


def test_output_shapes_follow_the_reference():
    classifier = pipeline(
        "text-classification", model=model(DistilBertForSequenceClassification), tokenizer=tokenizer()
    )
    assert (
        isinstance(classifier("the cat"), list) and len(classifier("the cat")) == 1
    )  # a lone string: [top label]
    assert set(classifier({"text": "the cat", "text_pair": "a dog"})) == {
        "label",
        "score",
    }  # a pair: bare dict
    assert [set(entry) for entry in classifier(["the cat", "a dog"])] == [{"label", "score"}] * 2
    assert [len(entry) for entry in classifier(["the cat", "a dog"], top_k=1)] == [1, 1]


def test_default_function_follows_problem_type_and_label_count():
    for config, expected in (
        ({"num_labels": 1}, "sigmoid"),
        ({"num_labels": 3}, "softmax"),
        ({"num_labels": 3, "problem_type": "multi_label_classification"}, "sigmoid"),
        ({"num_labels": 2, "problem_type": "regression"}, "none"),
    ):
        classifier = pipeline(
            "text-classification",
            model=model(DistilBertForSequenceClassification, **config),
            tokenizer=tokenizer(),
            top_k=None,
        )
        assert classifier("the cat") == classifier("the cat", function_to_apply=expected)


# -- token-classification ------------------------------------------------------------------------------------


class TokenTagger(nn.Module):
    """Logits looked up per token id: a tagger whose entities are known in advance."""

    labels = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}

    def __init__(self, tags):
        super().__init__()
        self.config = types.SimpleNamespace(id2label=self.labels, max_position_embeddings=64)
        self.table = torch.zeros(len(VOCAB), len(self.labels))
        self.table[:, 0] = 5.0
        for word, scores in tags.items():
            self.table[VOCAB.index(word)] = torch.tensor(scores)

    def forward(self, input_ids, attention_mask):
        return {"logits": self.table[input_ids]}  # (B, T, labels)


TAGS = {
    "john": [0, 6, 0, 0, 0],
    "marie": [0, 6, 0, 0, 0],
    "paris": [0, 0, 0, 6, 0],
    "france": [0, 0, 0, 6, 0],
    # un/##aff/##able: a word whose pieces disagree
    "un": [0, 0, 0, 4, 0],
    "##aff": [0, 7, 0, 0, 0],
    "##able": [0, 0, 0, 0, 5],
}


def ner(**options):
    return pipeline("ner", model=TokenTagger(TAGS), tokenizer=tokenizer(), **options)


def test_entities_with_character_offsets():
    text = "John lives in Paris , France"
    assert [
        (entity["entity_group"], entity["word"], entity["start"], entity["end"])
        for entity in ner()(text, aggregation_strategy="simple")
    ] == [("PER", "john", 0, 4), ("LOC", "paris", 14, 19), ("LOC", "france", 22, 28)]
    tokens = ner()(text)
    assert [(entity["entity"], entity["index"], entity["word"]) for entity in tokens] == [
        ("B-PER", 1, "john"),
        ("B-LOC", 4, "paris"),
        ("B-LOC", 6, "france"),
    ]
    expected = np.exp(6.0) / (np.exp(6.0) + 4)
    assert tokens[0]["score"] == pytest.approx(expected, rel=1e-6) and isinstance(tokens[0]["score"], float)
    assert [entity["entity"] for entity in ner()(text, ignore_labels=[])][:3] == ["B-PER", "O", "O"]


@pytest.mark.parametrize("strategy,label", [("first", "LOC"), ("max", "PER"), ("average", "PER")])
def test_word_strategies_give_one_label_per_word(strategy, label):
    (entity,) = ner()("unaffable", aggregation_strategy=strategy)
    assert (entity["entity_group"], entity["word"], entity["start"], entity["end"]) == (
        label,
        "unaffable",
        0,
        9,
    )


def test_simple_keeps_pieces_apart():
    entities = ner()("unaffable", aggregation_strategy="simple")
    assert [(entity["entity_group"], entity["word"]) for entity in entities] == [
        ("LOC", "un"),
        ("PER", "##aff"),
        ("LOC", "##able"),
    ]


def test_long_text_with_stride_finds_every_entity_once():
    text = " ".join(["john lives in paris ."] * 30)  # 150 words; windows of 64 tokens
    entities = ner()(text, aggregation_strategy="simple", stride=8)
    assert len(entities) == 60
    assert [entity["start"] for entity in entities] == sorted({entity["start"] for entity in entities})
    assert entities[-1]["end"] == text.rindex("paris") + 5


def test_long_text_without_stride_warns_that_its_tail_is_lost():
    with pytest.warns(UserWarning, match="was cut: entities past that point are not found"):
        entities = ner()(" ".join(["john lives in paris ."] * 30), aggregation_strategy="simple")
    assert len(entities) < 60
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ner()("john lives in paris", aggregation_strategy="simple")


def test_pure_python_tokenizer_gives_the_same_entities_and_answers():
    slow = DistilBertTokenizer(vocab={token: index for index, token in enumerate(VOCAB)})
    text = "John lives in Paris, France; unaffable Marie ?"
    slow_ner = pipeline("ner", model=TokenTagger(TAGS), tokenizer=slow)
    for strategy in ("none", "simple", "first", "average", "max"):
        fast_result = ner()(text, aggregation_strategy=strategy)
        assert slow_ner(text, aggregation_strategy=strategy) == fast_result and fast_result
    qa_model = model(DistilBertForQuestionAnswering)
    question = {"question": "who lives in paris ?", "context": " ".join([text] * 12)}
    options = {"top_k": 3, "max_seq_len": 32, "doc_stride": 8}
    fast_answers = pipeline("question-answering", model=qa_model, tokenizer=tokenizer())(question, **options)
    slow_answers = pipeline("question-answering", model=qa_model, tokenizer=slow)(question, **options)
    assert slow_answers == fast_answers


def test_token_classification_option_errors():
    with pytest.raises(InputError, match="not 'none'"):
        ner()("john", stride=4)
    with pytest.raises(InputError, match="aggregation_strategy='longest'"):
        ner()("john", aggregation_strategy="longest")
    with pytest.raises(InputError, match="ignore_labels"):
        ner()("john", ignore_labels="O")


# -- fill-mask -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def unmasker():
    return pipeline("fill-mask", model=model(DistilBertForMaskedLM), tokenizer=tokenizer())


def test_fill_mask_candidates(unmasker):
    inputs = tokenizer()("john lives in [MASK] .", return_tensors="pt")
    with torch.no_grad():
        probabilities = unmasker.model(**inputs).logits[0, 4].softmax(-1)
    best = probabilities.topk(3)
    candidates = unmasker("john lives in [MASK] .", top_k=3)
    assert [candidate["token"] for candidate in candidates] == best.indices.tolist()
    assert [candidate["score"] for candidate in candidates] == pytest.approx(best.values.tolist(), abs=1e-6)
    assert candidates[0]["sequence"] == f"john lives in {candidates[0]['token_str']}."
    two = unmasker("[MASK] lives in [MASK] .", top_k=2)
    assert len(two) == 2 and all(len(candidates) == 2 for candidates in two)
    assert all("[MASK]" in candidate["sequence"] for candidate in two[0])  # the other mask stays visible


def test_fill_mask_targets(unmasker, caplog):
    candidates = unmasker("john lives in [MASK] .", targets=["paris", "berlin", "paris"])
    assert len(candidates) == 2 and {candidate["token_str"] for candidate in candidates} == {
        "paris",
        "berlin",
    }
    with caplog.at_level(logging.WARNING):
        replaced = unmasker("john lives in [MASK] .", targets=["unaffable"])
    assert replaced[0]["token_str"] == "un" and "not in the vocabulary" in caplog.text
    with pytest.raises(InputError, match="targets"):
        unmasker("john [MASK]", targets=[])


def test_fill_mask_errors(unmasker):
    with pytest.raises(InputError, match=r"inputs\[1\] has no mask token '\[MASK\]'"):
        unmasker(["john lives in [MASK]", "john lives in paris"])
    with pytest.raises(InputError, match="unknown option"):
        unmasker("john [MASK]", top=2)
    no_mask = DistilBertTokenizerFast(
        vocab={token: index for index, token in enumerate(VOCAB)}, mask_token=None
    )
    with pytest.raises(InputError, match="no mask token"):
        pipeline("fill-mask", model=model(DistilBertForMaskedLM), tokenizer=no_mask)


# -- feature-extraction --------------------------------------------------------------------------------------


def test_token_features_and_pooled_sentence_embeddings():
    extractor = pipeline("feature-extraction", model=model(DistilBertModel), tokenizer=tokenizer())
    inputs = tokenizer()("the cat sat", return_tensors="pt")
    with torch.no_grad():
        hidden = extractor.model(**inputs).last_hidden_state[0]  # (5, 32)
    tokens = extractor("the cat sat")
    assert np.array(tokens).shape == (1, 5, 32)
    assert np.allclose(tokens[0], hidden.numpy(), atol=1e-6)
    assert extractor("the cat sat", return_tensors=True).shape == (1, 5, 32)
    mean = extractor("the cat sat", pooling="mean")
    assert np.allclose(mean, hidden.mean(0).numpy(), atol=1e-6)
    assert np.allclose(extractor("the cat sat", pooling="cls"), hidden[0].numpy(), atol=1e-6)
    unit = extractor(["the cat sat", "a dog"], pooling="mean", normalize=True)
    assert np.allclose(np.linalg.norm(unit, axis=-1), 1.0, atol=1e-6)
    assert np.allclose(unit[0], np.array(mean) / np.linalg.norm(mean), atol=1e-6)
    assert extractor("the cat sat", pooling="mean", return_tensors=True).shape == (32,)


def test_feature_extraction_options():
    extractor = pipeline("feature-extraction", model=model(DistilBertModel), tokenizer=tokenizer())
    long_text = "the cat " * 40
    with pytest.raises(InputError, match="pass truncation=True"):
        extractor(long_text)
    assert np.array(extractor(long_text, truncation=True)).shape == (1, 64, 32)
    assert np.array(extractor(long_text, tokenize_kwargs={"truncation": True, "max_length": 10})).shape == (
        1,
        10,
        32,
    )
    with pytest.raises(InputError, match="pooling='max'"):
        extractor("the cat", pooling="max")
    with pytest.raises(InputError, match="twice"):
        extractor("the cat", truncation=True, tokenize_kwargs={"truncation": True})


# -- zero-shot-classification --------------------------------------------------------------------------------

NLI = {0: "contradiction", 1: "neutral", 2: "entailment"}


def test_zero_shot_scores_from_entailment_logits():
    classifier = pipeline(
        "zero-shot-classification",
        model=model(DistilBertForSequenceClassification, id2label=NLI),
        tokenizer=tokenizer(),
    )
    labels = ["paris", "the dog", "a city"]
    pairs = tokenizer()(
        [("john lives in paris", f"This example is {label}.") for label in labels],
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        logits = classifier.model(**pairs).logits  # (3, 3)
    single = logits[:, 2].softmax(0)
    multi = logits[:, [0, 2]].softmax(-1)[:, 1]
    for options, expected in (({}, single), ({"multi_label": True}, multi)):
        result = classifier("john lives in paris", candidate_labels=labels, **options)
        order = expected.argsort(descending=True).tolist()
        assert result["labels"] == [labels[index] for index in order]
        assert result["scores"] == pytest.approx(expected[order].tolist(), abs=1e-6)
    assert classifier("john lives in paris", "paris, the dog, a city") == classifier(
        "john lives in paris", labels
    )


def test_zero_shot_errors(caplog):
    classifier = pipeline(
        "zero-shot-classification",
        model=model(DistilBertForSequenceClassification, id2label=NLI),
        tokenizer=tokenizer(),
    )
    with pytest.raises(InputError, match="needs candidate_labels"):
        classifier("john")
    with pytest.raises(InputError, match="candidate_labels must be a non-empty list"):
        classifier("john", candidate_labels=[])
    for template in ("About this.", "{} or {}"):
        with pytest.raises(InputError, match=r"hypothesis_template=.* needs exactly one \{\} where the label goes"):
            classifier("john", candidate_labels=["a"], hypothesis_template=template)
    with pytest.raises(InputError, match="leaves no room for the text"):
        classifier("john", candidate_labels=["the " * 70])
    with caplog.at_level(logging.WARNING):
        pipeline(
            "zero-shot-classification",
            model=model(DistilBertForSequenceClassification),
            tokenizer=tokenizer(),
        )
    assert "starts with 'entail'" in caplog.text


# -- multiple-choice -----------------------------------------------------------------------------------------


def test_choices_scored_as_one_full_multiple_choice_call():
    chooser = pipeline(
        "multiple-choice", model=model(DistilBertForMultipleChoice), tokenizer=tokenizer(), batch_size=8
    )
    choices = ["a mat", "the dog in paris", "un"]
    encoded = tokenizer()(
        [("the cat sat on", choice) for choice in choices], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        logits = chooser.model(**{key: value[None] for key, value in encoded.items()}).logits[0]  # (3,)
    expected = logits.softmax(-1)
    result = chooser("the cat sat on", choices=choices)
    assert [entry["index"] for entry in result] == expected.argsort(descending=True).tolist()
    assert [entry["choice"] for entry in result] == [choices[entry["index"]] for entry in result]
    assert [entry["score"] for entry in result] == pytest.approx(
        expected.sort(descending=True).values.tolist(), abs=1e-6
    )
    raw = chooser("the cat sat on", choices=choices, function_to_apply="none", top_k=1)
    assert raw[0]["score"] == pytest.approx(logits.max().item(), abs=1e-6)


def test_context_is_the_first_sequence():
    chooser = pipeline("multiple-choice", model=model(DistilBertForMultipleChoice), tokenizer=tokenizer())
    encoded = tokenizer()(
        [("john lives in paris", "who ? john"), ("john lives in paris", "who ? marie")],
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        expected = chooser.model(**{key: value[None] for key, value in encoded.items()}).logits[0].softmax(-1)
    result = chooser("who ?", choices=["john", "marie"], context="john lives in paris")
    assert {entry["choice"]: entry["score"] for entry in result} == pytest.approx(
        {"john": expected[0].item(), "marie": expected[1].item()}, abs=1e-6
    )
    as_dicts = chooser(
        [{"question": "who ?", "choices": ["john", "marie"], "context": "john lives in paris"}]
    )
    assert as_dicts == [result]
    assert chooser(
        ["who ?", "who ?"], choices=[["john", "marie"], ["john", "marie"]], context="john lives in paris"
    ) == [result, result]


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda chooser: chooser("who ?", choices=[]), "non-empty list"),
        (lambda chooser: chooser("who ?", choices="john"), "non-empty list"),
        (lambda chooser: chooser("who ?", choices=["john", ""]), r"\['choices'\]\[1\] is an empty string"),
        (lambda chooser: chooser(["a", "b"], choices=[["x"]]), "2 questions need 2 lists"),
        (lambda chooser: chooser({"question": "who"}), "'question' and 'choices'"),
        (lambda chooser: chooser("who ?", choices=["a"], function_to_apply="sigmoid"), "function_to_apply"),
    ],
)
def test_multiple_choice_errors(call, message):
    chooser = pipeline("multiple-choice", model=model(DistilBertForMultipleChoice), tokenizer=tokenizer())
    with pytest.raises(InputError, match=message):
        call(chooser)
