"""Pipelines: same results as the reference's pipelines, computed in the same run.

Each tiny random model is built once from a config, saved to a directory with a vocab.txt, and loaded from
that directory by both libraries (the reference's tokenizer reads a directory holding only vocab.txt). Labels,
order and structure must match exactly; scores to 1e-5. Question answering left the reference in 5.3; the last
test compares with 5.2 when a copy of it is available (see `reference_52`), and hand-checked cases are in
tests/test_pipelines_question_answering.py.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import transformers

from distilkit import DistilBertConfig, modeling
from distilkit.pipelines import pipeline

TOLERANCE = 1e-5
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
UNCASED = (
    SPECIAL
    + (
        "the a an is was in on of and to for with at by it he she they his her who what where when "
        "john paris france berlin germany lives lived city river cafe un ##aff ##able ##s ##ed ##ing "
        "new york wolf ##gang mar ##ie cu ##rie . , ! ? ' - ( )"
    ).split()
)
CASED = (
    SPECIAL
    + (
        "the a is was in on of and to for with at He She They John Paris France Berlin Germany lives "
        "lived city New York Wolf ##gang Mar ##ie Cu ##rie Un ##aff ##able ##s ##ed un café . , ! ? -"
    ).split()
)
TEXTS_UNCASED = [
    "John lives in Paris, France.",
    "Marie Curie lived in Paris with her unaffable cat!",
    "Wolfgang was in Berlin and New York; who is he?",
    "the river in the city",
    "Café (unaffable) lived on a river - in Germany",
]
TEXTS_CASED = [
    "John lives in Paris, France.",
    "Marie Curie lived in Paris and New York!",
    "Wolfgang was in Berlin with John; Un unaffable city.",
    "He lived in a café in Germany",
]
NER_LABELS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC", 5: "MISC"}
NLI_LABELS = {0: "contradiction", 1: "neutral", 2: "entailment"}


def build(directory, class_name, vocab, config_kwargs=None, tokenizer_config=None, seed=0):
    """A random model saved with its vocab.txt, loadable by both libraries. The classifier weights are scaled
    up so that labels are decided by clear margins, not by float noise."""
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = DistilBertConfig(
        vocab_size=len(vocab),
        dim=32,
        n_layers=2,
        n_heads=4,
        hidden_dim=37,
        max_position_embeddings=64,
        **(config_kwargs or {}),
    )
    model = getattr(modeling, class_name)(config)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith(("classifier", "pre_classifier", "qa_outputs", "vocab_projector")):
                parameter.normal_(0.0, 1.0)
    model.save_pretrained(directory)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    if tokenizer_config is not None:
        (directory / "tokenizer_config.json").write_text(json.dumps(tokenizer_config), encoding="utf-8")
    return directory


def reference(task, directory, auto_class, **kwargs):
    model = getattr(transformers, auto_class).from_pretrained(directory)
    tokenizer = transformers.DistilBertTokenizer.from_pretrained(directory)
    return transformers.pipeline(task, model=model, tokenizer=tokenizer, device=-1, **kwargs)


def same(ours, theirs, path="result"):
    """Equal structure, keys, labels and ints; floats to TOLERANCE."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs), (
            f"{path}: keys {list(ours)} != {list(theirs)}"
        )
        for key in theirs:
            same(ours[key], theirs[key], f"{path}[{key!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert isinstance(ours, list) and len(ours) == len(theirs), f"{path}: {ours!r} != {theirs!r}"
        for index, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
            same(mine, other, f"{path}[{index}]")
    elif isinstance(theirs, str) or isinstance(theirs, (bool, int)) and not hasattr(theirs, "dtype"):
        assert ours == theirs, f"{path}: {ours!r} != {theirs!r}"
    else:
        assert abs(float(ours) - float(theirs)) <= TOLERANCE, f"{path}: {ours!r} != {theirs!r}"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipelines")
    return {
        "softmax": build(
            root / "softmax",
            "DistilBertForSequenceClassification",
            UNCASED,
            {"id2label": {0: "negative", 1: "neutral", 2: "positive"}},
        ),
        "single": build(root / "single", "DistilBertForSequenceClassification", UNCASED, {"num_labels": 1}),
        "multi": build(
            root / "multi",
            "DistilBertForSequenceClassification",
            UNCASED,
            {"num_labels": 4, "problem_type": "multi_label_classification"},
        ),
        "regression": build(
            root / "regression",
            "DistilBertForSequenceClassification",
            UNCASED,
            {"num_labels": 2, "problem_type": "regression"},
        ),
        "ner-uncased": build(
            root / "ner-uncased",
            "DistilBertForTokenClassification",
            UNCASED,
            {"id2label": NER_LABELS},
            seed=1,
        ),
        "ner-cased": build(
            root / "ner-cased",
            "DistilBertForTokenClassification",
            CASED,
            {"id2label": NER_LABELS},
            {"do_lower_case": False},
            seed=2,
        ),
        "ner-windows": build(
            root / "ner-windows",
            "DistilBertForTokenClassification",
            UNCASED,
            {"id2label": NER_LABELS},
            {"model_max_length": 12},
            seed=3,
        ),
        "mlm": build(root / "mlm", "DistilBertForMaskedLM", UNCASED, seed=4),
        "base": build(
            root / "base", "DistilBertModel", CASED, tokenizer_config={"do_lower_case": False}, seed=5
        ),
        "nli": build(
            root / "nli", "DistilBertForSequenceClassification", UNCASED, {"id2label": NLI_LABELS}, seed=6
        ),
    }


def test_tokenizers_agree_on_the_test_texts(folders):
    """The precondition of every comparison below: both libraries see the same tokens."""
    from distilkit import AutoTokenizer

    for folder, texts in (("ner-uncased", TEXTS_UNCASED), ("ner-cased", TEXTS_CASED)):
        ours = AutoTokenizer.from_pretrained(folders[folder])
        theirs = transformers.DistilBertTokenizer.from_pretrained(folders[folder])
        for text in texts:
            assert ours(text)["input_ids"] == theirs(text)["input_ids"], text
            assert ours.tokenize(text) == theirs.tokenize(text)
        assert "[UNK]" in ours.tokenize(texts[-1] + " zebra")


TOP_K = [("unset", {}), ("none", {"top_k": None}), ("one", {"top_k": 1}), ("two", {"top_k": 2})]
FUNCTIONS = [None, "softmax", "sigmoid", "none"]


@pytest.mark.parametrize("folder", ["softmax", "single", "multi", "regression"])
def test_text_classification(folders, folder):
    ours = pipeline("text-classification", model=folders[folder], device=-1)
    batched = pipeline("text-classification", model=folders[folder], device=-1, batch_size=4)
    theirs = reference("text-classification", folders[folder], "AutoModelForSequenceClassification")
    pairs = [
        {"text": TEXTS_UNCASED[0], "text_pair": TEXTS_UNCASED[1]},
        {"text": TEXTS_UNCASED[2], "text_pair": "a"},
    ]
    for _, top_k in TOP_K:
        for function in FUNCTIONS:
            options = {**top_k, **({"function_to_apply": function} if function else {})}
            for inputs in (TEXTS_UNCASED[0], TEXTS_UNCASED, pairs[0], pairs):
                expected = theirs(inputs, **options)
                same(ours(inputs, **options), expected)
                same(batched(inputs, **options), expected)


@pytest.mark.parametrize("strategy", ["none", "simple", "first", "average", "max"])
@pytest.mark.parametrize("folder,texts", [("ner-uncased", TEXTS_UNCASED), ("ner-cased", TEXTS_CASED)])
def test_token_classification(folders, folder, texts, strategy):
    ours = pipeline("token-classification", model=folders[folder], device=-1, batch_size=3)
    theirs = reference("token-classification", folders[folder], "AutoModelForTokenClassification")
    found = 0
    for ignore in (None, [], ["O", "MISC"]):
        options = {
            "aggregation_strategy": strategy,
            **({"ignore_labels": ignore} if ignore is not None else {}),
        }
        expected = theirs(texts, **options)
        same(ours(texts, **options), expected)
        same(ours(texts[0], **options), theirs(texts[0], **options))
        found += sum(len(entities) for entities in expected)
    assert found > 0  # the comparison saw real entities


@pytest.mark.parametrize("strategy", ["simple", "first", "average", "max"])
def test_token_classification_stride_windows(folders, strategy):
    """model_max_length=12 splits every text into overlapping windows whose entities are merged."""
    ours = pipeline("ner", model=folders["ner-windows"], device=-1, batch_size=5)
    theirs = reference("ner", folders["ner-windows"], "AutoModelForTokenClassification")
    text = " ".join(TEXTS_UNCASED)
    for stride in (2, 5):
        expected = theirs(text, aggregation_strategy=strategy, stride=stride)
        assert len(expected) > 3
        same(ours(text, aggregation_strategy=strategy, stride=stride), expected)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"top_k": 1},
        {"top_k": 3},
        {"targets": ["paris", "city", "the"]},
        {"targets": ["paris", "berlin"], "top_k": 5},
        {"targets": "river", "top_k": 2},
    ],
)
def test_fill_mask(folders, options):
    ours = pipeline("fill-mask", model=folders["mlm"], device=-1, batch_size=2)
    theirs = reference("fill-mask", folders["mlm"], "AutoModelForMaskedLM")
    for text in (
        "John lives in [MASK], France.",
        "[MASK] lives in the [MASK] of Paris!",
        "the [MASK] is unaffable",
    ):
        same(ours(text, **options), theirs(text, **options))
    texts = ["John lives in [MASK].", "the [MASK] river in [MASK]", "a [MASK]"]
    same(ours(texts, **options), theirs(texts, **options))


def test_fill_mask_target_outside_the_vocabulary_uses_its_first_piece(folders):
    ours = pipeline("fill-mask", model=folders["mlm"], device=-1)
    theirs = reference("fill-mask", folders["mlm"], "AutoModelForMaskedLM")
    text = "John lives in [MASK]."
    same(ours(text, targets=["unaffable", "paris"]), theirs(text, targets=["unaffable", "paris"]))


def test_feature_extraction(folders):
    ours = pipeline("feature-extraction", model=folders["base"], device=-1, batch_size=4)
    theirs = reference("feature-extraction", folders["base"], "AutoModel")
    same(ours(TEXTS_CASED[0]), theirs(TEXTS_CASED[0]))
    same(ours(TEXTS_CASED), theirs(TEXTS_CASED))
    assert torch.allclose(
        ours(TEXTS_CASED[1], return_tensors=True), theirs(TEXTS_CASED[1], return_tensors=True), atol=TOLERANCE
    )


@pytest.mark.parametrize("multi_label", [False, True])
# labels made of known words: two all-[UNK] labels tie, and the reference orders ties by an unstable sort
@pytest.mark.parametrize("labels", [["city"], ["john", "river", "city", "france"], "paris, berlin"])
def test_zero_shot(folders, multi_label, labels):
    ours = pipeline("zero-shot-classification", model=folders["nli"], device=-1, batch_size=4)
    theirs = reference("zero-shot-classification", folders["nli"], "AutoModelForSequenceClassification")
    options = {"candidate_labels": labels, "multi_label": multi_label}
    same(ours(TEXTS_UNCASED[1], **options), theirs(TEXTS_UNCASED[1], **options))
    same(ours(TEXTS_UNCASED[:3], **options), theirs(TEXTS_UNCASED[:3], **options))
    template = "It is about {}!"
    same(
        ours(TEXTS_UNCASED[0], hypothesis_template=template, **options),
        theirs(TEXTS_UNCASED[0], hypothesis_template=template, **options),
    )


# -- question answering against the reference's last version with the pipeline (5.2) -------------------------


def reference_52():
    """A directory holding transformers 5.2.x (and httpx, which it imports), from `DISTILKIT_TRANSFORMERS_52`:

    pip download transformers==5.2.0 --no-deps -d /tmp/tf52 && unzip -q -o /tmp/tf52/*.whl -d /tmp/tf52/site
    pip install --target /tmp/tf52/site httpx
    DISTILKIT_TRANSFORMERS_52=/tmp/tf52/site pytest tests/parity/test_pipelines_parity.py
    """
    path = os.environ.get("DISTILKIT_TRANSFORMERS_52")
    return path if path and os.path.isdir(os.path.join(path, "transformers")) else None


QA_CASES = [
    {
        "question": "who lives in paris?",
        "context": "John lives in Paris, France. Marie Curie lived in Berlin.",
    },
    {"question": "where?", "context": " ".join(TEXTS_UNCASED * 3)},  # several windows
    {"question": "what is the city by the river?", "context": " ".join(TEXTS_UNCASED[::-1] * 2)},
]
QA_OPTIONS = [
    {},
    {"top_k": 3},
    {"handle_impossible_answer": True, "top_k": 2},
    {"align_to_words": False},
    {"max_answer_len": 4, "top_k": 2},
    {"max_seq_len": 24, "doc_stride": 6, "top_k": 2},
]

RUN_52 = textwrap.dedent("""
    import importlib.metadata, json, sys
    # 5.2 pins older tokenizers/huggingface_hub releases than this environment has; its pipeline code does not
    # care
    real = importlib.metadata.version
    importlib.metadata.version = lambda name: {"tokenizers": "0.23.0", "huggingface-hub": "1.3.0",
                                               "huggingface_hub": "1.3.0"}.get(name) or real(name)
    import transformers
    assert transformers.__version__.startswith("5.2"), transformers.__version__
    folder, cases, options = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    qa = transformers.pipeline("question-answering",
                               model=transformers.DistilBertForQuestionAnswering.from_pretrained(folder),
                               tokenizer=transformers.DistilBertTokenizer.from_pretrained(folder), device=-1)
    print(json.dumps([[qa(**case, **option) for case in cases] for option in options]))
""")


@pytest.mark.skipif(reference_52() is None, reason="set DISTILKIT_TRANSFORMERS_52 to a transformers 5.2 copy")
def test_question_answering_matches_reference_52(tmp_path):
    # the reference sizes its windows from the tokenizer alone, so tell the tokenizer about the 64 positions
    folder = build(
        tmp_path / "qa",
        "DistilBertForQuestionAnswering",
        UNCASED,
        tokenizer_config={"model_max_length": 64},
        seed=7,
    )
    environment = {**os.environ, "PYTHONPATH": reference_52()}
    completed = subprocess.run(
        [sys.executable, "-c", RUN_52, str(folder), json.dumps(QA_CASES), json.dumps(QA_OPTIONS)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    expected = json.loads(completed.stdout.strip().splitlines()[-1])
    qa = pipeline("question-answering", model=folder, device=-1, batch_size=4)
    for option, results in zip(QA_OPTIONS, expected, strict=True):
        for case, theirs in zip(QA_CASES, results, strict=True):
            same(qa(**case, **option), theirs, f"{case['question']!r} {option}")
