"""The server's parts without a server: settings (flags over environment over defaults) and their documented
table, the error table, model specs, the batcher's queue rules and fault isolation, and `distilkit serve`'s
usage errors."""

from __future__ import annotations

import asyncio
import re
import types
from pathlib import Path

import pytest
from serving_helpers import save_models

from distilkit.cli import main as cli_main
from distilkit.errors import ConfigError, InputError
from distilkit.serving.batching import Batcher, Entry
from distilkit.serving.errors import ERRORS, ServeError, error_table
from distilkit.serving.metrics import Metrics
from distilkit.serving.served import parse_spec, resolve_specs
from distilkit.serving.settings import ServerSettings, parse_settings, settings_table

DOC = Path(__file__).resolve().parent.parent / "docs" / "serving.md"


def test_defaults_are_tei_s():
    settings = ServerSettings()
    assert (settings.payload_limit, settings.max_concurrent_requests, settings.max_client_batch_size,
            settings.max_batch_tokens, settings.host) == (2_000_000, 512, 32, 16384, "127.0.0.1")


def test_flags_beat_environment_beat_defaults():
    environ = {"DISTILKIT_SERVE_MAX_BATCH_TOKENS": "4096", "DISTILKIT_SERVE_AUTO_TRUNCATE": "yes",
               "DISTILKIT_SERVE_MODEL": "a, b:fill-mask", "DISTILKIT_SERVE_PORT": "9000"}
    settings = parse_settings(["--max-batch-tokens", "1024", "--port", "0"], environ)
    assert settings.max_batch_tokens == 1024 and settings.port == 0
    assert settings.auto_truncate is True and settings.model == ("a", "b:fill-mask")
    assert parse_settings(["--no-auto-truncate", "--model", "x", "--model", "y"], environ).model == ("x", "y")
    assert parse_settings([], {}).max_batch_requests is None


@pytest.mark.parametrize(("environ", "message"), [
    ({"DISTILKIT_SERVE_PAYLOAD_LIMIT": "lots"}, "DISTILKIT_SERVE_PAYLOAD_LIMIT: 'lots' is not a whole number"),
    ({"DISTILKIT_SERVE_AUTO_TRUNCATE": "maybe"}, "is not a boolean"),
    ({"DISTILKIT_SERVE_PORT": "70000"}, "not a port number"),
    ({"DISTILKIT_SERVE_MAX_INPUT_TOKENS": "9000", "DISTILKIT_SERVE_MAX_BATCH_TOKENS": "512"},
     "max_input_tokens=9000 is more than max_batch_tokens=512"),
])
def test_bad_settings_name_the_variable_and_the_fix(environ, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_settings([], environ)


def test_settings_validate_themselves():
    with pytest.raises(ConfigError, match="max_batch_tokens=0 must be an int >= 1"):
        ServerSettings(max_batch_tokens=0)
    with pytest.raises(ConfigError, match="model='x' must be a tuple"):
        ServerSettings(model="x")


def test_the_documented_tables_are_the_code_s():
    text = DOC.read_text(encoding="utf-8")
    assert settings_table() in text
    assert error_table() in text
    assert sorted({kind.status for kind in ERRORS.values()}) == [400, 404, 405, 413, 422, 429, 500, 503]
    with pytest.raises(KeyError, match="unknown error kind"):
        ServeError("teapot", "no")


def test_model_specs(tmp_path):
    folders = save_models(tmp_path, ("classifier", "encoder"))
    assert parse_spec(str(folders["classifier"])).task == "text-classification"
    assert parse_spec(str(folders["encoder"])).task == "feature-extraction"
    zero_shot = parse_spec(f"{folders['encoder']}:zero-shot-classification")
    assert (zero_shot.name, zero_shot.task) == ("encoder", "zero-shot-classification")
    assert parse_spec(f"{folders['encoder']}:ner").task == "token-classification"  # aliases work
    assert parse_spec("sentiment").task == "text-classification" and parse_spec("sentiment").is_default
    assert parse_spec("org/squad-model:question-answering").name == "squad-model"
    with pytest.raises(ConfigError, match="'nope' is not a task"):
        parse_spec(f"{folders['encoder']}:nope")
    with pytest.raises(ConfigError, match="no such directory"):
        parse_spec(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="say which task"):
        parse_spec("org/model")
    with pytest.raises(ConfigError, match="has no config.json"):
        parse_spec(str(tmp_path))
    names = [spec.name for spec in resolve_specs(ServerSettings(model=(
        str(folders["encoder"]), f"{folders['encoder']}:zero-shot-classification")))]
    assert names == ["encoder", "encoder-zero-shot-classification"]
    assert [spec.task for spec in resolve_specs(ServerSettings())] == [
        "text-classification", "token-classification", "feature-extraction", "zero-shot-classification"]


def test_serve_usage_errors_exit_2_with_one_line(tmp_path, capsys):
    assert cli_main(["serve", "--model", str(tmp_path / "missing")]) == 2
    assert cli_main(["serve", "--max-batch-tokens", "0"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "no such directory" in lines[0] and "--max-batch-tokens" in lines[1]


class FakePipeline:
    """Records each batch call; raises InputError for "bad" and RuntimeError for "crash"."""

    def __init__(self):
        self.calls = []

    def __call__(self, items, batch_size, **parameters):
        self.calls.append(list(items))
        if "bad" in items:
            raise InputError("inputs[1] is bad")
        if "crash" in items:
            raise RuntimeError("kernel exploded")
        return [f"{item}!" for item in items]


def batcher(max_batch_tokens=100, max_batch_requests=None):
    served = types.SimpleNamespace(name="fake", pipeline=FakePipeline())
    return Batcher(served, max_batch_tokens, max_batch_requests, 32, Metrics())


def test_a_batch_closes_on_tokens_or_inputs_and_keeps_arrival_order():
    async def scenario():
        queue = batcher(max_batch_tokens=10, max_batch_requests=3)
        loop = asyncio.get_running_loop()
        entries = [Entry(name, tokens, key, {}, loop.create_future()) for name, tokens, key in [
            ("a", 4, "x"), ("b", 4, "y"), ("c", 4, "x"), ("d", 4, "x"), ("e", 1, "x"), ("f", 1, "y")]]
        queue.pending.extend(entries)
        first = [entry.item for entry in queue.cut()]  # a, c fit 10 tokens; d would pass them: the batch closes
        second = [entry.item for entry in queue.cut()]  # the oldest left, b, decides the options
        third = [entry.item for entry in queue.cut()]
        queue.thread.shutdown()
        return first, second, third

    assert asyncio.run(scenario()) == (["a", "c"], ["b", "f"], ["d", "e"])


def test_a_too_large_input_still_runs_alone_and_inputs_limit_batches():
    async def scenario():
        queue = batcher(max_batch_tokens=10, max_batch_requests=2)
        loop = asyncio.get_running_loop()
        queue.pending.extend(Entry(name, tokens, "x", {}, loop.create_future())
                             for name, tokens in [("huge", 50), ("a", 1), ("b", 1), ("c", 1)])
        batches = [[entry.item for entry in queue.cut()] for _ in range(3)]
        queue.thread.shutdown()
        return batches

    assert asyncio.run(scenario()) == [["huge"], ["a", "b"], ["c"]]


def test_concurrent_requests_share_one_call_and_a_bad_input_fails_only_its_request():
    async def scenario():
        queue = batcher()
        queue.start()
        try:
            results = await asyncio.gather(
                queue.submit(["a", "b"], [1, 1], {}), queue.submit(["bad"], [1], {}), queue.submit(["c"], [1], {}),
                queue.submit(["crash"], [1], {}), return_exceptions=True)
        finally:
            await queue.stop()
        return results, queue.served.pipeline.calls

    results, calls = asyncio.run(scenario())
    assert results[0] == ["a!", "b!"] and results[2] == ["c!"]
    assert isinstance(results[1], ServeError) and results[1].status == 422 and "bad" in results[1].message
    assert isinstance(results[3], ServeError) and results[3].status == 500
    assert "kernel exploded" not in results[3].message  # details go to the log, not to the client
    assert calls[0] == ["a", "b", "bad", "c", "crash"]  # one batch, then each input alone to isolate the fault
    assert sorted(map(tuple, calls[1:])) == [("a",), ("b",), ("bad",), ("c",), ("crash",)]


def test_parameters_keep_batches_apart():
    async def scenario():
        queue = batcher()
        queue.start()
        try:
            await asyncio.gather(queue.submit(["a"], [1], {"top_k": 1}), queue.submit(["b"], [1], {"top_k": 2}),
                                 queue.submit(["c"], [1], {"top_k": 1}))
        finally:
            await queue.stop()
        return queue.served.pipeline.calls

    assert asyncio.run(scenario()) == [["a", "c"], ["b"]]
