"""distilkit.remote against a fake OpenAI-compatible server on loopback: correct answers, every fault the issue
lists (off-label values, bad JSON, fences, refusals, truncation, 429 with Retry-After, 5xx, a hang, a server that
rejects or ignores response_format, missing logprobs), the cost bound, the secret kept, and the same consumer
code on a local model and a remote one."""

from __future__ import annotations

import json
import logging
import pickle
import re
import time
import warnings
from pathlib import Path

import pytest
import torch
from fake_openai import P_ANSWER, P_BOOLEAN, P_LABEL, P_TYPE, FakeOpenAI

from distilkit import (
    DistilBertConfig,
    DistilBertTokenizerFast,
    InputError,
    RemoteAnswerError,
    RemoteError,
    RemoteTimeoutError,
)
from distilkit.pipelines import (
    QuestionAnsweringPipeline,
    TextClassificationPipeline,
    TokenClassificationPipeline,
    ZeroShotClassificationPipeline,
    pipeline,
)
from distilkit.pipelines.remote import MAX_REASKS
from distilkit.remote import OpenAICompatible
from distilkit.remote.answers import InvalidAnswer, Reply, TokenScores, locate_answer, locate_mentions
from distilkit.remote.backend import Completion

KEY = "sk-test-0123456789abcdef-do-not-leak"
SENTIMENT = ["POSITIVE", "NEGATIVE"]
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
CONTEXT = "John lives in Paris. Marie lives in Berlin."
TEXTS = ["I loved it", "Dull and far too long", "A great film", "I hate it"]
EXPECTED = ["POSITIVE", "NEGATIVE", "POSITIVE", "NEGATIVE"]


@pytest.fixture(scope="module")
def server():
    fake = FakeOpenAI()
    url = fake.start()
    fake.url = url
    yield fake
    fake.stop()


def backend(server, behaviour, **options):
    return OpenAICompatible(behaviour, base_url=server.url, api_key=KEY, backoff=0.01, **options)


def check_ner(text, entities):
    for entity in entities:
        assert text[entity["start"] : entity["end"]] == entity["word"]
        assert entity["entity_group"] in ("PER", "LOC")


def check_qa(context, answer):
    assert context[answer["start"] : answer["end"]] == answer["answer"]


def run_all_tasks(model):
    """Every task once on `model`; checks the invariants and returns the results."""
    clf = pipeline("text-classification", model=model, labels=SENTIMENT)
    labels = clf(TEXTS)
    assert all(result["label"] in SENTIMENT for result in labels)
    zsc = pipeline("zero-shot-classification", model=model)
    zero_shot = zsc(["I love sports", "Paris politics"], candidate_labels=["sports", "politics", "food"])
    assert all(set(result["labels"]) == {"sports", "politics", "food"} for result in zero_shot)
    ner = pipeline("ner", model=model, labels=NER_LABELS)
    text = "John met John and Marie in Paris"
    entities = ner(text)
    check_ner(text, entities)
    qa = pipeline("question-answering", model=model)
    answer = qa(question="Where does Marie live?", context=CONTEXT)
    check_qa(CONTEXT, answer)
    return labels, zero_shot, entities, answer, [clf, zsc, ner, qa]


def test_correct_answers_have_the_local_shapes_exact_offsets_and_logprob_scores(server):
    labels, zero_shot, entities, answer, pipes = run_all_tasks(backend(server, "good"))
    assert [result["label"] for result in labels] == EXPECTED
    assert all(result["score"] == pytest.approx(P_LABEL) for result in labels)
    assert zero_shot[0]["labels"][0] == "sports" and zero_shot[1]["labels"][0] == "politics"
    assert zero_shot[0]["scores"] == pytest.approx([P_LABEL, (1 - P_LABEL) / 2, (1 - P_LABEL) / 2])
    # the repeated name is found twice, at its two places, in reading order
    assert [(e["word"], e["start"], e["end"]) for e in entities] == [
        ("John", 0, 4), ("John", 9, 13), ("Marie", 18, 23), ("Paris", 27, 32)
    ]
    assert [e["entity_group"] for e in entities] == ["PER", "PER", "PER", "LOC"]
    assert all(e["score"] == pytest.approx(P_TYPE) for e in entities)
    assert answer == {"score": pytest.approx(P_ANSWER), "start": 36, "end": 42, "answer": "Berlin"}
    clf, zsc, ner, qa = pipes
    assert isinstance(clf, TextClassificationPipeline) and isinstance(zsc, ZeroShotClassificationPipeline)
    assert isinstance(ner, TokenClassificationPipeline) and isinstance(qa, QuestionAnsweringPipeline)
    # the local call shapes: a lone string gives [dict]; top_k=None every label, best first
    assert clf("I love it") == [{"label": "POSITIVE", "score": pytest.approx(P_LABEL)}]
    ranked = clf("I love it", top_k=None)
    assert [r["label"] for r in ranked] == SENTIMENT
    assert [r["score"] for r in ranked] == pytest.approx([P_LABEL, 1 - P_LABEL])
    multi = zsc("sports and food", candidate_labels=["sports", "politics", "food"], multi_label=True)
    assert multi["labels"][:2] == ["sports", "food"]
    assert multi["scores"] == pytest.approx([P_BOOLEAN, P_BOOLEAN, 1 - P_BOOLEAN])
    assert qa([{"question": "Who lives in Paris?", "context": CONTEXT}] * 2) == [
        {"score": pytest.approx(P_ANSWER), "start": 0, "end": 4, "answer": "John"}
    ] * 2
    assert clf.usage.requests == len(TEXTS) + 2 and clf.usage.reasks == clf.usage.retries == 0
    assert clf.usage.total_tokens == clf.usage.prompt_tokens + clf.usage.completion_tokens > 0
    # temperature 0, a seed, a strict schema with the labels as an enum
    body = next(r["body"] for r in server.requests if r["behaviour"] == "good" and "label" in r["body"]["messages"][0]["content"])
    assert body["temperature"] == 0 and body["seed"] == 0 and body["logprobs"] is True
    schema = body["response_format"]["json_schema"]
    assert schema["strict"] is True and schema["schema"]["properties"]["label"]["enum"] == SENTIMENT


FAULTS = ["offlabel", "badjson", "fenced", "refusal", "length", "ratelimit", "error500", "reject-schema",
          "ignore-schema", "nologprobs", "reject-logprobs"]


@pytest.mark.parametrize("behaviour", FAULTS)
def test_every_fault_ends_in_a_valid_result_within_the_request_bound(server, behaviour):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the negotiation warnings are checked on their own below
        labels, zero_shot, entities, answer, pipes = run_all_tasks(backend(server, behaviour))
    assert [result["label"] for result in labels] == EXPECTED
    assert [e["word"] for e in entities] == ["John", "John", "Marie", "Paris"]
    assert answer["answer"] == "Berlin"
    if behaviour in ("nologprobs", "reject-logprobs"):  # no log-probabilities: no scores, none invented
        assert all(result["score"] is None for result in labels) and answer["score"] is None
        assert all(score is None for result in zero_shot for score in result["scores"])
    else:
        assert all(result["score"] == pytest.approx(P_LABEL) for result in labels)
    retried = {"ratelimit", "error500"}
    for prompt, count in server.count(behaviour).items():
        # answered requests: 1 + at most MAX_REASKS; transport failures are retried on top, and counted apart
        answered = [r for r in server.requests if r["behaviour"] == behaviour and r["input"] == prompt]
        failed = 1 if behaviour in retried else 0
        negotiation = {"reject-schema": 2, "reject-logprobs": 1}.get(behaviour, 0)
        assert count <= 1 + MAX_REASKS + failed + negotiation, (prompt, answered)
    usage = pipes[0].usage
    assert usage.requests <= len(TEXTS) * (1 + MAX_REASKS)
    if behaviour in retried:
        assert usage.retries == len(TEXTS)
    if behaviour in ("offlabel", "badjson", "refusal", "length"):
        assert usage.reasks == len(TEXTS) and usage.requests == 2 * len(TEXTS)
        assert usage.total_tokens >= 2 * len(TEXTS) * 5  # the tokens of the rejected answers count too


def test_retry_after_is_honoured(server):
    clf = pipeline("text-classification", model=backend(server, "ratelimit-seconds"), labels=SENTIMENT)
    began = time.monotonic()
    assert clf("What a great day")[0]["label"] == "POSITIVE"
    assert time.monotonic() - began >= 1.0  # the server said Retry-After: 1
    assert clf.usage.retries == 1 and clf.usage.requests == 1
    # a wait the timeout cannot hold fails at once, saying why
    short = pipeline("text-classification", model=backend(server, "ratelimit-seconds", timeout=0.5), labels=SENTIMENT)
    began = time.monotonic()
    with pytest.raises(RemoteTimeoutError, match="HTTP 429.*would pass the timeout"):
        short("Another day")
    assert time.monotonic() - began < 0.5


@pytest.mark.parametrize("behaviour", ["offlabel-always", "refusal-always"])
def test_answers_that_never_validate_end_in_a_typed_error_after_two_reasks(server, behaviour):
    clf = pipeline("text-classification", model=backend(server, behaviour), labels=SENTIMENT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RemoteAnswerError) as caught:
            clf(["fine", "This one is never right"])
    message = str(caught.value)
    assert "inputs[" in message and "3 tries" in message
    assert ("MAYBE" in message) if behaviour == "offlabel-always" else ("can't help" in message)
    assert server.count(behaviour)["Text: This one is never right"] == 1 + MAX_REASKS
    ner = pipeline("ner", model=backend(server, behaviour), labels=NER_LABELS)
    with warnings.catch_warnings(), pytest.raises(RemoteAnswerError, match="John lives here"):
        warnings.simplefilter("ignore")
        ner("John lives here")


def test_a_hang_ends_in_a_timeout_error_within_the_total_timeout(server):
    clf = pipeline("text-classification", model=backend(server, "hang", timeout=0.6), labels=SENTIMENT)
    began = time.monotonic()
    with pytest.raises(RemoteTimeoutError, match="0.6 s"):
        clf("anything")
    assert time.monotonic() - began < 3.0
    began = time.monotonic()
    with pytest.raises(RemoteTimeoutError):
        clf("anything else", timeout=0.3)  # per call
    assert time.monotonic() - began < 2.0


def test_format_negotiation_is_cached_per_backend_and_warns_once_per_step(server):
    model = backend(server, "reject-formats", max_concurrency=1)
    clf = pipeline("text-classification", model=model, labels=SENTIMENT)
    with pytest.warns(UserWarning, match="response_format='text'"):
        assert clf("great") == [{"label": "POSITIVE", "score": pytest.approx(P_LABEL)}]
    assert model.format == "text"
    before = len(server.requests)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        clf(["I love it", "dull"])
    later = server.requests[before:]
    assert len(later) == 2 and all("response_format" not in r["body"] for r in later)
    assert "format='text'" in repr(model)
    ignoring = backend(server, "ignore-schema", max_concurrency=1)
    with pytest.warns(UserWarning, match="ignored response_format='json_schema'"):
        pipeline("text-classification", model=ignoring, labels=SENTIMENT)("great")
    assert ignoring.format == "json_object"


def test_concurrency_is_limited(server):
    clf = pipeline("text-classification", model=backend(server, "slow", max_concurrency=3), labels=SENTIMENT)
    assert [r["label"] for r in clf(TEXTS * 2)] == EXPECTED * 2
    assert 1 < server.most_in_flight["slow"] <= 3


def test_the_api_key_never_shows(server, tmp_path, caplog):
    model = backend(server, "echo-key")
    assert KEY not in repr(model) and KEY not in repr(pipeline("ner", model=model, labels=["PER"]))
    clf = pipeline("text-classification", model=model, labels=SENTIMENT)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(RemoteError) as caught:
            clf("hello")
    assert server.headers[-1]["authorization"] == f"Bearer {KEY}"  # the server did get it, and echoed it
    assert "401" in str(caught.value) and KEY not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert KEY not in caplog.text
    model.save_pretrained(tmp_path)
    saved = (tmp_path / "remote_config.json").read_text()
    assert KEY not in saved and json.loads(saved)["model"] == "echo-key"
    assert KEY not in str(pickle.dumps(model))
    reloaded = OpenAICompatible.from_pretrained(tmp_path, api_key="other")
    assert reloaded.settings() == model.settings()


def test_openai_prefix_reads_the_environment(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    qa = pipeline("question-answering", model="openai:good")
    assert qa(question="Who lives in Berlin?", context=CONTEXT)["answer"] == "Marie"
    assert server.headers[-1]["authorization"] == f"Bearer {KEY}"
    clf = pipeline("sentiment-analysis", model="openai:good", labels=SENTIMENT, model_kwargs={"max_concurrency": 2})
    assert clf.model.max_concurrency == 2


def test_bad_options_are_clear_errors(server):
    model = backend(server, "good")
    with pytest.raises(InputError, match="label set"):
        pipeline("text-classification", model=model)
    with pytest.raises(InputError, match="top_k=3"):
        pipeline("question-answering", model=model, top_k=3)
    with pytest.raises(InputError, match="aggregation_strategy='simple'"):
        pipeline("ner", model=model, labels=["PER"], aggregation_strategy="none")
    with pytest.raises(InputError, match="fill-mask"):
        pipeline("fill-mask", model=model)
    with pytest.raises(InputError, match="tokenizer"):
        pipeline("ner", model=model, labels=["PER"], tokenizer="bert")
    with pytest.raises(InputError, match="timeout"):
        pipeline("ner", model=model, labels=["PER"], timeout=-1)
    with pytest.raises(InputError, match="empty"):
        pipeline("text-classification", model=model, labels=SENTIMENT)(" ")
    with pytest.raises(InputError, match="max_concurency"):
        pipeline("ner", model="openai:good", labels=["PER"], model_kwargs={"max_concurency": 2, "base_url": server.url})


def test_an_unreachable_server_is_a_remote_error_after_the_retries():
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = OpenAICompatible("any", base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, backoff=0.01)
    clf = pipeline("text-classification", model=model, labels=SENTIMENT)
    with pytest.raises(RemoteError, match="kept failing .APIConnectionError. after 2 retries"):
        clf("hello")
    assert clf.usage.retries == 2 and clf.usage.requests == 0


def test_mentions_are_located_deterministically():
    text = "Al met Alice. Al and Al left."
    # whole words first, in reading order; a repeat takes the next free occurrence
    assert locate_mentions(text, ["Al", "Alice", "Al", "Al"]) == [(0, 2), (7, 12), (14, 16), (21, 23)]
    assert locate_mentions(text, ["Alice", "Al"]) == [(7, 12), (14, 16)]  # the next free one after Alice
    assert locate_mentions("paris and PARIS", ["Paris", "Paris"]) == [(0, 5), (10, 15)]  # case-insensitively
    with pytest.raises(InvalidAnswer, match="does not occur"):
        locate_mentions(text, ["Bob"])
    with pytest.raises(InvalidAnswer, match="more often"):
        locate_mentions(text, ["Alice", "Alice"])
    assert locate_answer("in Berlin, Berlin.", " Berlin ") == (3, 9)
    with pytest.raises(InvalidAnswer, match="not a substring"):
        locate_answer("in Berlin", "Munich")


def test_labels_sharing_a_prefix_are_scored_only_where_the_tokens_tell_them_apart():
    content = '{"label": "POSITIVE"}'
    tokens = [('{"label": "', 0.0, []), ("POS", -0.1, [("POS", -0.1), ("NEG", -2.5), ("NEU", -3.0)]),
              ("ITIVE", -0.2, [("ITIVE", -0.2), ('"', -1.8)]), ('"}', 0.0, [])]
    reply = Reply({"label": "POSITIVE"}, 0, len(content), Completion(content, None, "stop", "json_schema", tokens), True)
    scores = TokenScores(reply).choice_probabilities(11, 19, ["POSITIVE", "POS", "NEGATIVE", "NEUTRAL", "NEU"])
    assert scores["POSITIVE"] == pytest.approx(torch.tensor(-0.3).exp().item())
    assert scores["POS"] == pytest.approx(torch.tensor(-0.1 - 1.8).exp().item())  # "POS" then the closing quote
    assert scores["NEGATIVE"] == pytest.approx(torch.tensor(-2.5).exp().item())
    assert scores["NEUTRAL"] is None and scores["NEU"] is None  # "NEU" starts both: not told apart


def test_same_consumer_code_on_a_local_model_and_a_remote_one(server, tmp_path):
    """One consumer script, run on tiny local DistilBERTs and on the fake server: the same structure."""
    from distilkit import (
        DistilBertForQuestionAnswering,
        DistilBertForSequenceClassification,
        DistilBertForTokenClassification,
    )

    words = "i loved it dull and far too long john met marie in paris where does live ? . lives berlin".split()
    tokenizer = DistilBertTokenizerFast(
        vocab={t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])}, model_max_length=64
    )
    sizes = dict(vocab_size=len(tokenizer), dim=32, n_layers=1, n_heads=2, hidden_dim=64, max_position_embeddings=64)
    torch.manual_seed(0)
    for name, model in (
        ("sentiment", DistilBertForSequenceClassification(DistilBertConfig(**sizes, id2label=dict(enumerate(SENTIMENT))))),
        ("ner", DistilBertForTokenClassification(DistilBertConfig(**sizes, id2label=dict(enumerate(NER_LABELS))))),
        ("qa", DistilBertForQuestionAnswering(DistilBertConfig(**sizes))),
    ):
        model.save_pretrained(tmp_path / name)
        tokenizer.save_pretrained(tmp_path / name)

    def consume(clf, ner, qa) -> dict:
        """The consumer: reads labels, scores, entity spans and answers the same way whatever the model."""
        out = {"labels": [], "entities": [], "answers": []}
        for result in clf(["I loved it", "Dull and far too long"]):
            out["labels"].append((type(result["label"]).__name__, type(result["score"]).__name__))
        for entity in ner("John met Marie in Paris"):
            out["entities"].append(sorted(entity))
        answer = qa(question="Where does Marie live?", context=CONTEXT)
        out["answers"].append((sorted(answer), CONTEXT[answer["start"] : answer["end"]] == answer["answer"]))
        return out

    local = consume(
        pipeline("sentiment-analysis", model=str(tmp_path / "sentiment")),
        pipeline("ner", model=str(tmp_path / "ner"), aggregation_strategy="simple", ignore_labels=[]),
        pipeline("question-answering", model=str(tmp_path / "qa")),
    )
    config = DistilBertConfig.from_pretrained(tmp_path / "ner")  # the remote model reads the local labels
    model = backend(server, "good")
    remote = consume(
        pipeline("sentiment-analysis", model=model, labels=DistilBertConfig.from_pretrained(tmp_path / "sentiment")),
        pipeline("ner", model=model, labels=config, aggregation_strategy="simple"),
        pipeline("question-answering", model=model),
    )
    assert local["labels"] == remote["labels"] == [("str", "float")] * 2
    assert local["answers"] == remote["answers"] == [(["answer", "end", "score", "start"], True)]
    assert remote["entities"] and local["entities"]
    assert {tuple(keys) for keys in local["entities"]} == {tuple(keys) for keys in remote["entities"]} == {
        ("end", "entity_group", "score", "start", "word")
    }


DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_the_remote_examples_in_the_docs_run_against_the_fake_server(server, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.chdir(tmp_path)
    blocks = [
        block
        for page in ("pipelines.md", "remote.md")
        for block in re.findall(r"```python remote\n(.*?)```", (DOCS / page).read_text(encoding="utf-8"), re.DOTALL)
    ]
    assert len(blocks) >= 3
    namespace: dict = {"__name__": "remote_guide", "BASE_URL": server.url}
    for number, block in enumerate(blocks, start=1):
        # the examples name gpt-4o-mini and my-llm; the fake server answers them as "good"
        code = block.replace("gpt-4o-mini", "good").replace("\"my-llm\"", "\"good\"")
        code = code.replace("http://localhost:8000/v1", server.url)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exec(compile(code, f"remote example {number}", "exec"), namespace)
        except Exception as error:
            pytest.fail(f"remote example {number} failed: {type(error).__name__}: {error}\n{block}")
