"""`distilkit serve` end to end: real servers in subprocesses on ephemeral loopback ports, tiny random models.

Every route's JSON equals the in-process pipeline's output; batched-under-load results equal single ones; each
limit answers its status; hostile bodies get a 4xx while the server keeps serving; SIGTERM during load
completes every accepted request; the playground works in a real browser. All server tests share one xdist
group, so the servers boot once.
"""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import sys
import threading
import time

import httpx
import numpy as np
import pytest
from browser import browser, page  # noqa: F401 - pytest fixtures
from serving_helpers import ServerProcess, SlowRequest, metric, save_models

from distilkit import AutoModel, AutoTokenizer
from distilkit.explain import explain_json
from distilkit.pipelines import EmbeddingZeroShotPipeline, pipeline
from distilkit.serving.served import token_costs

pytestmark = pytest.mark.xdist_group("serving")

BATCH_SIZE = 32  # the servers' --batch-size, so in-process calls split rows the same way
SENTENCES = [
    "i loved it", "the film was great", "a dull and long story", "the plot is witty and gorgeous",
    "i hated the movie", "john lives in paris", "the cat sat on the mat", "a good dog", "awful , awful plot",
    "who lives in berlin ?", "marie loved the city", "the story was long and dull",
]


def plain(value):
    """The JSON a server sends for `value`."""
    return json.loads(json.dumps(value, default=lambda item: item.tolist()))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return save_models(tmp_path_factory.mktemp("serving-models"))


@pytest.fixture(scope="module")
def servers(models, tmp_path_factory):
    """Two servers booted side by side: `main` (`python -m distilkit.serving` with flags) serves every task;
    `limited` (`uvicorn --factory` with settings from the environment) has tiny limits and auto-truncation.
    The SIGTERM test, the last of this file, stops `main`."""
    specs = [str(models["classifier"]), str(models["ner"]), str(models["qa"]), str(models["mlm"]),
             str(models["encoder"]), f"{models['encoder']}:zero-shot-classification", str(models["choice"])]
    isolated = {"DISTILKIT_MODELS": str(tmp_path_factory.mktemp("no-defaults"))}  # never build a default
    limits = {"MODEL": str(models["classifier"]), "MAX_CONCURRENT_REQUESTS": "2", "PAYLOAD_LIMIT": "2048",
              "MAX_CLIENT_BATCH_SIZE": "4", "MAX_INPUT_TOKENS": "8", "AUTO_TRUNCATE": "true"}
    started = {
        "main": ServerProcess([arg for spec in specs for arg in ("--model", spec)] + [
            "--payload-limit", "300000", "--max-batch-tokens", "512"], env=isolated),
        "limited": ServerProcess(
            ["--factory", "distilkit.serving:create_app", "--host", "127.0.0.1", "--port", "0"],
            command=[sys.executable, "-m", "uvicorn"],
            env={**isolated, **{f"DISTILKIT_SERVE_{name}": value for name, value in limits.items()}}),
    }
    try:
        for server in started.values():
            server.wait_ready()
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module")
def local(models):
    """The in-process pipelines the servers run, for the expected outputs."""
    def build(task, name):
        return pipeline(task, model=str(models[name]), batch_size=BATCH_SIZE)

    encoder = AutoModel.from_pretrained(models["encoder"])
    return {
        "text-classification": build("text-classification", "classifier"),
        "token-classification": build("token-classification", "ner"),
        "question-answering": build("question-answering", "qa"),
        "fill-mask": build("fill-mask", "mlm"),
        "feature-extraction": build("feature-extraction", "encoder"),
        "zero-shot-classification": EmbeddingZeroShotPipeline(
            encoder, AutoTokenizer.from_pretrained(models["encoder"]), batch_size=BATCH_SIZE),
        "multiple-choice": build("multiple-choice", "choice"),
    }


def post(server, path, body, **kwargs):
    return httpx.post(f"{server.url}{path}", json=body, timeout=60, **kwargs)


QA = {"question": "where does marie live ?", "context": "marie lives in paris . john lives in berlin ."}
CHOICE = {"question": "the cat", "choices": ["sat on the mat", "is a city", "loved the film"]}
CASES = [  # (task, inputs, parameters)
    ("text-classification", "i loved it", {}),
    ("text-classification", "i loved it", {"top_k": None}),
    ("text-classification", ["i loved it", {"text": "a film", "text_pair": "dull"}], {"top_k": 1}),
    ("text-classification", {"text": "a film", "text_pair": "a dull story"}, {"function_to_apply": "sigmoid"}),
    ("token-classification", "john lives in paris", {}),
    ("token-classification", ["john lives in paris", "marie loved berlin"], {"aggregation_strategy": "simple"}),
    ("question-answering", QA, {}),
    ("question-answering", [QA, {"question": "who lives in berlin ?", "context": "john lives in berlin ."}],
     {"top_k": 2}),
    ("question-answering", {"question": "who lives in berlin ?",  # windows of 64 tokens over a long context
                            "context": "marie lives in paris . " * 12 + "john lives in berlin ."}, {"doc_stride": 16}),
    ("fill-mask", "the cat [MASK] on the mat", {"top_k": 3}),
    ("fill-mask", ["the [MASK] sat", "a [MASK] film"], {}),
    ("feature-extraction", "the cat sat", {}),
    ("feature-extraction", ["the cat sat", "a good dog"], {"pooling": "mean", "normalize": True}),
    ("zero-shot-classification", "the cat sat on the mat", {"candidate_labels": ["film", "city", "dog"]}),
    ("zero-shot-classification", ["i loved it", "paris"], {"candidate_labels": "film, city",
                                                          "multi_label": True}),
    ("multiple-choice", CHOICE, {}),
    ("multiple-choice", [CHOICE, {**CHOICE, "context": "the cat is on the mat ."}], {"top_k": 2}),
]


@pytest.mark.parametrize(("task", "inputs", "parameters"), CASES,
                         ids=[f"{case[0]}-{index}" for index, case in enumerate(CASES)])
def test_every_route_equals_the_in_process_pipeline(servers, local, task, inputs, parameters):
    response = post(servers["main"], f"/v1/{task}", {"inputs": inputs, "parameters": parameters})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == plain(local[task](inputs, **parameters))


@pytest.mark.parametrize(("task", "inputs", "parameters"), CASES,
                         ids=[f"{case[0]}-{index}" for index, case in enumerate(CASES)])
def test_token_costs_are_the_real_tokens_the_pipeline_runs(local, task, inputs, parameters):
    runner = local[task]
    items = inputs if isinstance(inputs, list) else [inputs]
    preprocess, _, _ = runner._sanitize_parameters(**parameters)
    rows = runner.preprocess(items, [f"inputs[{index}]" for index in range(len(items))], **preprocess)
    expected = [sum(len(row["input_ids"]) for row in item_rows) for item_rows in rows]
    assert token_costs(runner, task, items, parameters) == expected


def test_openai_embeddings_equal_the_in_process_sentence_embeddings(servers, local):
    texts = ["the cat sat", "i loved the film"]
    expected = plain(local["feature-extraction"](texts, pooling="mean", normalize=True))
    # OpenAI clients always name a model; an unknown name falls back to the served embedding model
    response = post(servers["main"], "/v1/embeddings", {"input": texts, "model": "text-embedding-3-small"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["object"] == "list" and answer["model"] == "encoder"
    assert [item["index"] for item in answer["data"]] == [0, 1]
    assert [item["embedding"] for item in answer["data"]] == expected
    tokens = sum(len(ids) for ids in local["feature-extraction"].tokenizer(texts)["input_ids"])
    assert answer["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    encoded = post(servers["main"], "/v1/embeddings", {"input": texts[0], "encoding_format": "base64"}).json()
    vector = np.frombuffer(base64.b64decode(encoded["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_array_equal(vector, np.float32(expected[0]))
    wrong = post(servers["main"], "/v1/embeddings", {"input": "x", "dimensions": 7})
    assert wrong.status_code == 422 and "dimensions=7" in wrong.json()["error"]


def test_explain_equals_the_in_process_explanation(servers, local):
    main = servers["main"]
    text = "the plot is witty and gorgeous"
    options = {"n_steps": 16, "method": "riemann_trapezoid", "internal_batch_size": 8, "with_attention": True}
    response = post(main, "/v1/explain", {"inputs": text, "parameters": options})
    assert response.status_code == 200, response.text
    expected = explain_json(local["text-classification"], text, **options)
    assert response.json() == plain({"model": "classifier", **expected})
    entities = post(main, "/v1/explain", {"inputs": "john lives in paris", "model": "ner",
                                          "parameters": {"n_steps": 8, "with_attention": False}}).json()
    assert entities["task"] == "token-classification" and entities["attention"] is None
    too_many = post(main, "/v1/explain", {"inputs": text, "parameters": {"n_steps": 301}})
    assert "max_explain_steps=300" in error_of(too_many, 422, "validation")
    error_of(post(main, "/v1/explain", {"inputs": text, "model": "encoder"}), 404, "not_found")
    assert httpx.get(f"{main.url}/info").json()["explain"] is True


async def load(url, bodies, concurrency):
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        return await asyncio.gather(*(client.post(path, json=body) for path, body in bodies))


def test_batched_under_load_equals_single_requests(servers):
    main = servers["main"]
    single = {text: post(main, "/v1/text-classification", {"inputs": text, "parameters": {"top_k": None}}).json()
              for text in SENTENCES}
    batches_before = metric(main.url, "distilkit_batch_inputs_count")
    inputs_before = metric(main.url, "distilkit_batch_inputs_sum")
    sentences = [SENTENCES[index % len(SENTENCES)] for index in range(96)]
    # a client list of 32 longer inputs costs more than --max-batch-tokens 512: it spans several batches
    long_list = [" ".join([text] * 3) for text in SENTENCES] * 3
    bodies = [("/v1/text-classification", {"inputs": text, "parameters": {"top_k": None}}) for text in sentences]
    bodies.insert(40, ("/v1/text-classification", {"inputs": long_list[:32], "parameters": {"top_k": None}}))
    responses = asyncio.run(load(main.url, bodies, 64))
    assert [response.status_code for response in responses] == [200] * len(bodies)
    answers = [response.json() for response in responses]
    listed = answers.pop(40)
    for text, answer in zip(sentences, answers, strict=True):
        assert [entry["label"] for entry in answer] == [entry["label"] for entry in single[text]]
        assert [entry["score"] for entry in answer] == pytest.approx([entry["score"] for entry in single[text]],
                                                                      abs=1e-5)
    alone = post(main, "/v1/text-classification", {"inputs": long_list[:32], "parameters": {"top_k": None}}).json()
    assert len(listed) == 32
    for got, expected in zip(listed, alone, strict=True):
        assert [entry["score"] for entry in got] == pytest.approx([entry["score"] for entry in expected], abs=1e-5)
    batches = metric(main.url, "distilkit_batch_inputs_count") - batches_before
    inputs = metric(main.url, "distilkit_batch_inputs_sum") - inputs_before
    assert inputs == len(sentences) + 32 + 32  # every input of the load, then the list sent alone
    assert batches < len(bodies), "concurrent requests should have shared batches"


def error_of(response, status, kind):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "type"} and body["type"] == kind and body["error"]
    return body["error"]


def test_each_limit_returns_its_status(servers, local):
    limited = servers["limited"]
    route = "/v1/text-classification"
    assert "payload_limit=2,048" in error_of(post(limited, route, {"inputs": "a " * 2000}), 413, "payload_too_large")
    assert "max_client_batch_size=4" in error_of(post(limited, route, {"inputs": ["a"] * 5}), 422, "validation")
    error_of(post(limited, route, {"inputs": 5}), 422, "validation")
    error_of(post(limited, route, {"inputs": "a", "parameters": {"top_k": "2"}}), 422, "validation")
    error_of(post(limited, route, {"inputs": "a", "unknown": 1}), 422, "validation")
    error_of(post(limited, route, {"inputs": ""}), 400, "empty_input")
    error_of(post(limited, route, {"inputs": ["a", "  "]}), 400, "empty_input")
    error_of(post(limited, route, {"inputs": []}), 400, "empty_input")
    error_of(post(limited, route, {"inputs": "a", "model": "other"}), 404, "not_found")
    error_of(post(limited, "/v1/fill-mask", {"inputs": "a [MASK]"}), 404, "not_found")
    error_of(httpx.get(f"{limited.url}{route}"), 405, "method_not_allowed")
    error_of(httpx.get(f"{limited.url}/no/such/route"), 404, "not_found")
    # auto-truncate: 12 one-token words cut to 8 tokens ([CLS] + 6 words + [SEP]), as the tokenizer would
    text = "the cat sat on the mat and the dog sat on it"
    answer = post(limited, route, {"inputs": text, "parameters": {"top_k": None}})
    assert answer.status_code == 200
    assert answer.json() == plain(local["text-classification"](text, top_k=None, max_length=8))
    assert answer.json() == plain(local["text-classification"]("the cat sat on the mat", top_k=None))
    # max_concurrent_requests=2: two requests still uploading their body hold both slots
    slow = [SlowRequest(limited.port, route, {"inputs": "i loved it"}) for _ in range(2)]
    deadline = time.monotonic() + 30
    while metric(limited.url, "distilkit_requests_in_flight") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    refused = post(limited, route, {"inputs": "i loved it"})
    assert "max_concurrent_requests" in error_of(refused, 429, "overloaded")
    assert refused.headers["retry-after"] == "1"
    for request in slow:
        status, _, body = request.finish()
        assert status == 200 and body == plain(local["text-classification"]("i loved it"))
    assert post(limited, route, {"inputs": "i loved it"}).status_code == 200


def test_input_limits_in_tokens(servers):
    main = servers["main"]
    too_long = " ".join(["cat"] * 70)  # 72 tokens, the model takes 64 and auto-truncate is off
    message = error_of(post(main, "/v1/text-classification", {"inputs": [too_long]}), 422, "validation")
    assert "inputs[0] has 72 tokens" in message and "max_input_tokens=64" in message
    # one input whose rows (the text and 200 label hypotheses) cost more than --max-batch-tokens 512
    labels = [f"city {index}" for index in range(200)]
    body = {"inputs": "the cat", "parameters": {"candidate_labels": labels}}
    assert "max_batch_tokens=512" in error_of(post(main, "/v1/zero-shot-classification", body), 422, "validation")


HOSTILE = {
    "10 MB of JSON": b'{"inputs": "' + b"a" * 10_000_000 + b'"}',
    "deeply nested JSON": b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "nested under the recursion limit": b'{"inputs": "a", "parameters": {"top_k": ' + b"[" * 900 + b"]" * 900
                                        + b"}}",
    "non-UTF-8 bytes": b'{"inputs": "caf\xe9 \xff\xfe"}',
    "100k-item list": json.dumps({"inputs": ["a"] * 100_000}).encode(),
    "NaN parameter": b'{"inputs": "a", "parameters": {"top_k": NaN}}',
    "Infinity parameter": b'{"inputs": "a", "parameters": {"top_k": -Infinity}}',
    "truncated JSON": b'{"inputs": "a", "parame',
    "empty body": b"",
    "JSON that is not an object": b'["a", "b"]',
    "lone surrogate escape": b'{"inputs": "\\ud800 cat"}',
    "huge number": b'{"inputs": "a", "parameters": {"top_k": 1' + b"0" * 5000 + b"}}",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_bodies_get_a_4xx_and_the_server_keeps_serving(servers, name):
    main = servers["main"]
    response = httpx.post(f"{main.url}/v1/text-classification", content=HOSTILE[name],
                          headers={"content-type": "application/json"}, timeout=60)
    assert 400 <= response.status_code < 500, response.text
    assert set(response.json()) == {"error", "type"}
    assert post(main, "/v1/text-classification", {"inputs": "i loved it"}).status_code == 200
    assert httpx.get(f"{main.url}/health").json() == {"status": "ok"}


def test_operation_routes(servers):
    main = servers["main"]
    assert httpx.get(f"{main.url}/ready").json()["status"] == "ready"
    info = httpx.get(f"{main.url}/info").json()
    assert {model["task"] for model in info["models"]} == {
        "text-classification", "token-classification", "question-answering", "fill-mask", "feature-extraction",
        "zero-shot-classification", "multiple-choice"}
    assert info["limits"]["max_batch_tokens"] == 512 and info["limits"]["payload_limit"] == 300000
    assert info["limits"]["max_concurrent_requests"] == 512  # TEI's default
    assert {"distilkit", "torch", "fastapi", "uvicorn"} <= set(info["versions"])
    post(main, "/v1/fill-mask", {"inputs": "the [MASK] sat"})
    metrics = httpx.get(f"{main.url}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    for name in ("distilkit_requests_total", "distilkit_request_duration_seconds_bucket", "distilkit_queue_depth",
                 "distilkit_batch_inputs_bucket", "distilkit_batch_tokens_bucket", "distilkit_tokens_total",
                 "distilkit_tokens_per_second", "distilkit_requests_in_flight", "distilkit_errors_total"):
        assert name in metrics.text, name
    assert 'distilkit_requests_total{route="/v1/fill-mask",status="200"}' in metrics.text
    schema = httpx.get(f"{main.url}/openapi.json").json()
    assert {f"/v1/{task}" for task in info["tasks"]} | {"/v1/embeddings", "/health", "/metrics"} <= set(
        schema["paths"])
    assert "QuestionAnsweringRequest" in schema["components"]["schemas"]
    docs = httpx.get(f"{main.url}/docs").text
    assert "/docs/assets/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    script = httpx.get(f"{main.url}/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    assert httpx.get(f"{main.url}/docs/assets/..%2F..%2Fsettings.py").status_code == 404


def test_playground_in_a_real_browser(servers, page):  # noqa: F811 - the fixture from browser.py
    main = servers["main"]
    sentence = "the plot is witty and gorgeous"
    expected = post(main, "/v1/text-classification", {"inputs": sentence, "parameters": {"top_k": None}}).json()
    page.goto(main.url + "/")
    page.wait_for_selector("#task option", state="attached")
    page.select_option("#task", "text-classification|classifier")
    page.fill("#text", sentence)
    page.click("#run")
    page.wait_for_function("document.getElementById('label').textContent.length > 0")
    assert page.text_content("#label") == expected[0]["label"]
    assert expected[0]["label"] in page.text_content("#result")
    # token attributions and an attention map from the explain layer
    page.click("#explain")
    page.wait_for_selector("#attributions .token")
    explanation = post(main, "/v1/explain", {"inputs": sentence}).json()
    assert page.locator("#attributions .token").count() == len(explanation["targets"][0]["attributions"])
    assert page.text_content("#label") == explanation["prediction"]["label"]
    canvas_size = page.evaluate("[document.getElementById('attention').width, document.getElementById('attention').height]")
    assert canvas_size[0] == canvas_size[1] > 0
    page.select_option("#attention-view", "0:1")  # layer 1, head 2
    page.select_option("#target", "1")
    # entities are highlighted in the text itself
    page.select_option("#task", "token-classification|ner")
    page.fill("#text", "john lives in paris")
    page.click("#run")
    page.wait_for_function("document.getElementById('label').textContent.length > 0")
    entities = post(main, "/v1/token-classification",
                    {"inputs": "john lives in paris", "parameters": {"aggregation_strategy": "simple"}}).json()
    marks = page.locator("#result mark")
    assert marks.count() == len(entities)
    assert page.text_content("#result").startswith("john lives in paris"[: entities[0]["start"]])
    # a model's error shows as text, not a crash
    page.select_option("#task", "fill-mask|mlm")
    page.fill("#text", "no mask here")
    page.click("#run")
    page.wait_for_function("document.getElementById('error').textContent.length > 0")
    assert "422 validation" in page.text_content("#error")
    assert page.problems == [msg for msg in page.problems if "422" in msg]  # only the expected failed call


def test_sigterm_during_load_completes_every_accepted_request(servers):
    """Last in the file: it stops the main server."""
    server = servers["main"]
    route = "/v1/text-classification"
    texts = [" ".join([text] * 4) for text in SENTENCES] * 2 + SENTENCES[:8]  # 32 inputs of up to 50 tokens
    expected = plain(local_results(server, route, texts))
    slow = [SlowRequest(server.port, route, {"inputs": texts[:2]}) for _ in range(2)]
    results: list = []

    async def traffic():
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
            return await asyncio.gather(*(client.post(route, json={"inputs": texts}) for _ in range(96)))

    sender = threading.Thread(target=lambda: results.extend(asyncio.run(traffic())))
    sender.start()
    deadline = time.monotonic() + 60
    # SIGTERM while requests are in flight and inputs still wait for the batcher (the tiny model answers the whole
    # load in a few seconds, so the metrics are polled rather than waited on)
    while time.monotonic() < deadline:
        in_flight, queued = (metric(server.url, name) for name in ("distilkit_requests_in_flight",
                                                                   "distilkit_queue_depth"))
        if in_flight >= 12 and queued > 0:
            break
        time.sleep(0.01)
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    with pytest.raises(httpx.ConnectError):  # no new connections once stopping
        httpx.get(f"{server.url}/health", timeout=5)
    finished = [request.finish() for request in slow]  # bodies that arrive after SIGTERM still get answers
    sender.join(timeout=120)
    assert [status for status, _, _ in finished] == [200, 200]
    assert [body for _, _, body in finished] == [expected[:2]] * 2
    assert [response.status_code for response in results] == [200] * 96
    for response in results:
        assert [entry["label"] for entry in response.json()] == [entry["label"] for entry in expected]
    assert server.process.wait(timeout=60) in (0, -signal.SIGTERM)
    assert queued > 0, "the load should still have been queued when SIGTERM came"


def local_results(server, route, texts):
    return httpx.post(f"{server.url}{route}", json={"inputs": texts}, timeout=60).json()


@pytest.mark.slow
def test_with_no_model_the_embedded_defaults_are_served():
    """Builds the default models first if they are not cached (about 12 minutes on 2 cores), like the
    user's first `distilkit serve`."""
    server = ServerProcess([])
    try:
        server.wait_ready(timeout=3600)
        info = httpx.get(f"{server.url}/info").json()
        assert [(model["name"], model["task"]) for model in info["models"]] == [
            ("sentiment", "text-classification"), ("ner", "token-classification"),
            ("embeddings", "feature-extraction"), ("embeddings-zero-shot-classification", "zero-shot-classification")]
        label = post(server, "/v1/text-classification", {"inputs": "A gorgeous, witty, moving film."}).json()
        assert label[0]["label"] == "POSITIVE"
        assert post(server, "/v1/text-classification", {"inputs": "Dull, lifeless and far too long."}).json()[0][
            "label"] == "NEGATIVE"
        vectors = post(server, "/v1/embeddings", {"input": ["a cat", "a kitten"]}).json()["data"]
        assert len(vectors[0]["embedding"]) == 384
        assert np.linalg.norm(vectors[0]["embedding"]) == pytest.approx(1.0, abs=1e-5)
        ranked = post(server, "/v1/zero-shot-classification", {
            "inputs": "The striker scored twice in the final.",
            "parameters": {"candidate_labels": ["football", "cooking", "finance"]}}).json()
        assert ranked["labels"][0] == "football"
        assert isinstance(post(server, "/v1/token-classification", {"inputs": "Obama visited Paris"}).json(), list)
    finally:
        server.stop()
