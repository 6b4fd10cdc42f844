"""The pipeline factory and engine: loading, call shapes, length-sorted batching, devices, bad input, own
models."""

import types
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import distilkit.pipelines as pipelines
from distilkit import (
    AutoConfig,
    AutoModelForSequenceClassification,
    DistilBertConfig,
    DistilBertForMaskedLM,
    DistilBertForMultipleChoice,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
)
from distilkit.errors import ConfigError, DistilkitError, InputError
from distilkit.models import defaults
from distilkit.pipelines import Pipeline, pipeline, register_pipeline
from distilkit.tokenization import DistilBertTokenizerFast

WORDS = (
    "the a is was in on of and to cat dog sat mat john paris france lives city river un ##aff ##able ##s "
    "hello world . , ? !"
).split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
SIZES = dict(vocab_size=len(VOCAB), dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64)
TEXTS = [
    "the cat sat on the mat",
    "john",
    "hello world , the dog lives in paris , france !",
    "a river",
    "the cat is unaffable",
    "was it the dog ?",
    "john lives in the city of paris on a river . the end .",
]


def tokenizer(**kwargs):
    return DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(VOCAB)}, **kwargs)


def model(cls=DistilBertForSequenceClassification, **config):
    torch.manual_seed(0)
    return cls(DistilBertConfig(**SIZES, **config))


@pytest.fixture
def saved(tmp_path):
    model(id2label={0: "NEG", 1: "POS"}).save_pretrained(tmp_path)
    tokenizer().save_pretrained(tmp_path)
    return tmp_path


# -- factory -------------------------------------------------------------------------------------------------


def test_path_loads_the_model_and_its_tokenizer(saved):
    classifier = pipeline("sentiment-analysis", model=saved, device="cpu")
    assert classifier.task == "text-classification"
    assert isinstance(classifier.model, DistilBertForSequenceClassification)
    assert classifier.tokenizer.get_vocab() == tokenizer().get_vocab()
    assert classifier("the cat sat")[0]["label"] in {"NEG", "POS"}


def test_instance_loaded_from_a_path_finds_its_tokenizer(saved):
    loaded = DistilBertForSequenceClassification.from_pretrained(saved)
    assert pipeline("text-classification", model=loaded).tokenizer is not None


def test_instance_without_tokenizer_source_asks_for_one():
    with pytest.raises(ConfigError, match="tokenizer="):
        pipeline("text-classification", model=model())


def test_tokenizer_path_is_loaded(saved):
    assert pipeline("text-classification", model=model(), tokenizer=saved).tokenizer.vocab_size == len(VOCAB)


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(InputError, match="question-answering"):
        pipeline("summarization", model=model(), tokenizer=tokenizer())


def test_missing_model_asks_the_default_resolver(saved, monkeypatch):
    with pytest.raises(DistilkitError, match="needs model=.*question-answering data"):
        pipeline("question-answering")  # the embedded defaults have no QA model
    asked = []
    monkeypatch.setattr(defaults, "resolve", lambda task: asked.append(task) or saved)
    classifier = pipeline("sentiment-analysis")
    assert asked == ["text-classification"] and isinstance(
        classifier.model, DistilBertForSequenceClassification
    )


def test_model_must_be_a_module_or_path():
    with pytest.raises(InputError, match="nn.Module"):
        pipeline("text-classification", model=42, tokenizer=tokenizer())


def test_tokenizer_larger_than_the_model_vocabulary_is_refused():
    big = DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(VOCAB + ["extra"])})
    with pytest.raises(ConfigError, match="do not belong together"):
        pipeline("text-classification", model=model(), tokenizer=big)


def test_options_are_checked_when_the_pipeline_is_built_and_when_called():
    with pytest.raises(InputError, match="top_k"):
        pipeline("text-classification", model=model(), tokenizer=tokenizer(), top_k=0)
    classifier = pipeline("text-classification", model=model(), tokenizer=tokenizer(), top_k=None)
    assert len(classifier("the cat")) == 2  # the construction-time option applies
    with pytest.raises(InputError, match="unknown option.*'temperature'.*function_to_apply"):
        classifier("the cat", temperature=2)


def test_dtype_runs_the_model_in_that_precision():
    reference = pipeline("text-classification", model=model(), tokenizer=tokenizer(), top_k=None)
    half = pipeline("text-classification", model=model(), tokenizer=tokenizer(), top_k=None, dtype="bfloat16")
    assert next(half.model.parameters()).dtype == torch.bfloat16
    for ours, full in zip(half("the cat sat"), reference("the cat sat"), strict=True):
        assert ours["label"] == full["label"] and isinstance(ours["score"], float)
        assert abs(ours["score"] - full["score"]) < 2e-2
    with pytest.raises(ConfigError, match="dtype"):
        pipeline("text-classification", model=model(), tokenizer=tokenizer(), dtype="float8")


def test_devices():
    classifier = pipeline("text-classification", model=model(), tokenizer=tokenizer(), device=-1)
    assert classifier.device == torch.device("cpu")
    assert next(classifier.model.parameters()).device == torch.device("cpu")
    with pytest.raises(InputError, match="device"):
        pipeline("text-classification", model=model(), tokenizer=tokenizer(), device="warp-drive")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA"):
            pipeline("text-classification", model=model(), tokenizer=tokenizer(), device=0)


def test_model_is_put_in_eval_mode():
    trained = model()
    trained.train()
    classifier = pipeline("text-classification", model=trained, tokenizer=tokenizer(), top_k=None)
    assert not classifier.model.training
    assert classifier("the cat sat") == classifier("the cat sat")


# -- call shapes ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier():
    return pipeline(
        "text-classification",
        model=model(id2label={0: "NEG", 1: "POS", 2: "MEH"}),
        tokenizer=tokenizer(),
        top_k=None,
    )


def test_single_list_tuple_generator_and_dataset(classifier):
    single = classifier(TEXTS[0])
    as_list = classifier(TEXTS)
    assert isinstance(single, list) and len(single) == 3 and single == as_list[0]
    assert classifier(tuple(TEXTS)) == as_list
    stream = classifier(text for text in TEXTS)
    assert not isinstance(stream, list)
    assert list(stream) == as_list

    class Dataset(torch.utils.data.Dataset):
        def __len__(self):
            return len(TEXTS)

        def __getitem__(self, index):
            return TEXTS[index]

    assert list(classifier(Dataset())) == as_list
    assert classifier([]) == []


def test_generator_is_consumed_lazily_in_windows(classifier, monkeypatch):
    monkeypatch.setattr(type(classifier), "stream_window", 2)
    pulled = []

    def texts():
        for text in TEXTS:
            pulled.append(text)
            yield text

    stream = classifier(texts(), batch_size=2)
    first = next(stream)
    assert len(pulled) == 2  # one window read, not the whole generator
    close([first, *stream], classifier(TEXTS), 1e-6)


def close(ours, theirs, tolerance):
    if isinstance(theirs, dict):
        assert ours.keys() == theirs.keys()
        for key in theirs:
            close(ours[key], theirs[key], tolerance)
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs)
        for mine, other in zip(ours, theirs, strict=True):
            close(mine, other, tolerance)
    elif isinstance(theirs, float):
        assert abs(ours - theirs) <= tolerance
    else:
        assert ours == theirs


TASK_CASES = [
    ("text-classification", DistilBertForSequenceClassification, {"num_labels": 3}, TEXTS, {"top_k": None}),
    (
        "token-classification",
        DistilBertForTokenClassification,
        {"id2label": {0: "O", 1: "B-X", 2: "I-X"}},
        TEXTS,
        {"aggregation_strategy": "average"},
    ),
    (
        "fill-mask",
        DistilBertForMaskedLM,
        {},
        [text.replace("the", "[MASK]", 1) + " [MASK]" for text in TEXTS],
        {},
    ),
    ("feature-extraction", DistilBertModel, {}, TEXTS, {}),
    (
        "zero-shot-classification",
        DistilBertForSequenceClassification,
        {"id2label": {0: "contradiction", 1: "neutral", 2: "entailment"}},
        TEXTS,
        {"candidate_labels": ["cat", "john lives", "a river in paris"]},
    ),
    (
        "question-answering",
        DistilBertForQuestionAnswering,
        {},
        [{"question": text, "context": " ".join(TEXTS[::-1])} for text in TEXTS],
        {"top_k": 2, "max_seq_len": 24},
    ),
    (
        "multiple-choice",
        DistilBertForMultipleChoice,
        {},
        [{"question": text, "choices": TEXTS[:3]} for text in TEXTS],
        {},
    ),
]


@pytest.mark.parametrize("task,cls,config,inputs,options", TASK_CASES, ids=[case[0] for case in TASK_CASES])
def test_results_do_not_depend_on_batch_size_or_input_order(task, cls, config, inputs, options):
    runner = pipeline(task, model=model(cls, **config), tokenizer=tokenizer(), **options)
    one = runner(inputs, batch_size=1)
    tolerance = 1e-5 if task == "feature-extraction" else 1e-6  # float noise of different batch shapes
    close(runner(inputs, batch_size=32), one, tolerance)
    order = sorted(range(len(inputs)), key=lambda index: len(str(inputs[index])))
    presorted = runner([inputs[index] for index in order], batch_size=3)
    close([presorted[order.index(index)] for index in range(len(inputs))], one, tolerance)
    close(runner(inputs[2], batch_size=32), one[2], tolerance)


class ShapeRecorder(nn.Module):
    """A classifier that records the shape of every batch it is given."""

    def __init__(self):
        super().__init__()
        self.config = types.SimpleNamespace(id2label={0: "A", 1: "B"}, max_position_embeddings=64)
        self.shapes, self.lengths = [], []

    def forward(self, input_ids, attention_mask):
        self.shapes.append(tuple(input_ids.shape))
        self.lengths.append(sorted(attention_mask.sum(-1).tolist()))
        return {"logits": torch.stack([attention_mask.sum(-1).float(), -attention_mask.sum(-1).float()], -1)}


def test_batches_hold_rows_of_similar_length_padded_only_to_their_longest():
    recorder = ShapeRecorder()
    texts = ["a " * 20, "a", "a " * 10, "a a", "a " * 19, "a " * 9]  # 22, 3, 12, 4, 21, 11 tokens
    results = pipeline("text-classification", model=recorder, tokenizer=tokenizer(), batch_size=2)(texts)
    assert recorder.lengths == [[21, 22], [11, 12], [3, 4]]
    assert recorder.shapes == [(2, 22), (2, 12), (2, 4)]
    assert [result["label"] for result in results] == ["A"] * 6  # the caller's order, one result each


# -- bad input -----------------------------------------------------------------------------------------------


def test_ten_thousand_words_are_truncated_not_a_crash(classifier):
    long_text = " ".join(["cat"] * 10_000)
    result = classifier(long_text)
    assert len(result) == 3 and all(0 <= entry["score"] <= 1 for entry in result)
    # truncation keeps the first max_position_embeddings tokens: the same as classifying them alone
    close(result, classifier(" ".join(["cat"] * 62)), 1e-6)
    with pytest.raises(InputError, match="10002 tokens but the model accepts at most 64"):
        classifier(long_text, truncation=False)


@pytest.mark.parametrize(
    "bad,message",
    [
        ("", "the input is an empty string"),
        ("   \n", "the input is an empty string"),
        (["the cat", ""], r"inputs\[1\] is an empty string"),
        (["the cat", None], r"inputs\[1\] must be a str, got NoneType"),
        (5, "the input must be a str, got int"),
        (b"the cat", "the input must be a str, got bytes"),
        (None, "must be a str, got NoneType"),
        ({"txt": "the cat"}, "text_pair"),
        ([["the cat", "a dog"]], r"inputs\[0\] is a list; to classify a text pair pass"),
    ],
)
def test_bad_inputs_raise_input_error(classifier, bad, message):
    with pytest.raises(InputError, match=message):
        classifier(bad)


def test_bad_item_in_a_stream_is_named(classifier):
    with pytest.raises(InputError, match="item 2 must be a str"):
        list(classifier(iter(["the cat", "a dog", 3.5])))


@pytest.mark.parametrize(
    "task,cls,config,bad",
    [
        ("token-classification", DistilBertForTokenClassification, {}, ""),
        ("fill-mask", DistilBertForMaskedLM, {}, ["[MASK]", 7]),
        ("feature-extraction", DistilBertModel, {}, " "),
        (
            "zero-shot-classification",
            DistilBertForSequenceClassification,
            {"id2label": {0: "entailment", 1: "no"}},
            "",
        ),
        ("multiple-choice", DistilBertForMultipleChoice, {}, {"question": "", "choices": ["a"]}),
        ("question-answering", DistilBertForQuestionAnswering, {}, {"question": "who?", "context": ""}),
    ],
)
def test_every_task_rejects_empty_and_non_string_text(task, cls, config, bad):
    runner = pipeline(task, model=model(cls, **config), tokenizer=tokenizer())
    options = {"candidate_labels": ["cat"]} if task == "zero-shot-classification" else {}
    with pytest.raises(InputError, match="empty string|must be a str"):
        runner(bad, **options)


# -- your own model ------------------------------------------------------------------------------------------


class KeywordClassifier(nn.Module):
    """Not a PreTrainedModel: anything whose output has `logits` (here a tuple) and a config with id2label
    works."""

    def __init__(self, keyword_id):
        super().__init__()
        self.keyword_id = keyword_id
        self.config = types.SimpleNamespace(id2label={0: "other", 1: "mentions-cats"})

    def forward(self, input_ids, attention_mask):
        hits = ((input_ids == self.keyword_id) & attention_mask.bool()).sum(-1).float()  # (B,)
        return (torch.stack([torch.zeros_like(hits), 4 * hits - 2], -1),)  # (B, 2)


def test_own_module_works_as_a_model():
    classifier = pipeline(
        "text-classification",
        model=KeywordClassifier(VOCAB.index("cat")),
        tokenizer=tokenizer(),
        batch_size=4,
    )
    labels = [result["label"] for result in classifier(["the cat sat", "the dog sat", "cat , cat"])]
    assert labels == ["mentions-cats", "other", "mentions-cats"]
    assert classifier("the cat sat", top_k=None)[0]["score"] == pytest.approx(1 / (1 + np.exp(-2)), abs=1e-6)


def test_model_output_without_the_field_the_task_reads_is_explained():
    class NoLogits(nn.Module):
        config = types.SimpleNamespace(id2label={0: "a"})

        def forward(self, input_ids, attention_mask):
            return {"scores": input_ids.float()}

    with pytest.raises(DistilkitError, match="no tensor 'logits'"):
        pipeline("text-classification", model=NoLogits(), tokenizer=tokenizer())("the cat")


class MyDistilConfig(DistilBertConfig):
    model_type = "my-distil"


class MyDistilForSequenceClassification(DistilBertForSequenceClassification):
    config_class = MyDistilConfig


@pytest.fixture
def registered():
    AutoConfig.register("my-distil", MyDistilConfig)
    AutoModelForSequenceClassification.register(MyDistilConfig, MyDistilForSequenceClassification)
    yield
    AutoConfig._registry.pop("my-distil")
    AutoModelForSequenceClassification._registry.pop(MyDistilConfig)


def test_class_registered_with_the_auto_classes_loads_by_path(registered, tmp_path):
    torch.manual_seed(0)
    MyDistilForSequenceClassification(MyDistilConfig(**SIZES)).save_pretrained(tmp_path)
    tokenizer().save_pretrained(tmp_path)
    classifier = pipeline("text-classification", model=tmp_path)
    assert type(classifier.model) is MyDistilForSequenceClassification
    assert classifier("the cat")[0]["label"] in {"LABEL_0", "LABEL_1"}


class LengthPipeline(Pipeline):
    """A new task: how many tokens each text has, and the model's mean activation."""

    task = "token-count"

    def _sanitize_parameters(self, **unknown):
        return {}, {}, {}

    def preprocess(self, items, names):
        return [[feature] for feature in pipelines.base.tokenizer_features(self.tokenizer(items))]

    def _forward(self, model_inputs):
        hidden = self.call_model(model_inputs).last_hidden_state
        lengths = self.lengths(model_inputs)
        return [
            {"tokens": length, "mean": float(hidden[row, :length].mean())}
            for row, length in enumerate(lengths)
        ]

    def postprocess(self, features, outputs):
        return outputs[0]


class OtherLengthPipeline(LengthPipeline):
    pass


@pytest.fixture
def token_count_task():
    yield
    pipelines.TASKS.pop("token-count", None)


def test_register_pipeline_adds_a_task(token_count_task, tmp_path):
    register_pipeline("token-count", LengthPipeline, DistilBertModel, aliases=["count"])
    register_pipeline(
        "token-count", LengthPipeline, DistilBertModel, aliases=["count"]
    )  # the same again: harmless
    assert pipelines.supported_tasks()["count"] == "token-count"
    model(DistilBertModel).save_pretrained(tmp_path)
    tokenizer().save_pretrained(tmp_path)
    counter = pipeline("count", model=tmp_path)
    assert counter.task == "token-count"
    assert [result["tokens"] for result in counter(["the cat", "a"], batch_size=2)] == [4, 3]
    with pytest.raises(ConfigError, match="already registered"):
        register_pipeline("token-count", OtherLengthPipeline, DistilBertModel)
    with pytest.raises(ConfigError, match="already registered"):
        register_pipeline("ner", LengthPipeline)
    with pytest.raises(ConfigError, match="subclass of distilkit.pipelines.Pipeline"):
        register_pipeline("other", dict)


def test_ordinary_input_raises_no_warning(classifier):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        classifier(TEXTS)
