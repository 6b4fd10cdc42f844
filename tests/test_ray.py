"""Ray Data batch inference (`distilkit.ray`): on a local Ray with 2 actors the results equal the in-process
pipeline, in input order, for text classification, NER and feature extraction, read through read_parquet,
read_json, read_csv and from_items; an actor killed mid-run is restarted and its batch retried; bad input
fails before any batch is scheduled; `distilkit run --ray` resumes a torn output file.

One Ray session serves the whole module (starting Ray takes seconds on a busy machine).
"""

import json
import os
import random
import signal
import sys
import threading
import time
import warnings

import pytest
import ray
import ray.data
import torch
from corpus import EDGE_CASES

import distilkit.ray
from distilkit import (
    DistilBertConfig,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
)
from distilkit.cli import main
from distilkit.errors import CheckpointError, InputError, MissingExtraError
from distilkit.pipelines import pipeline
from distilkit.tokenization import DistilBertTokenizerFast

WORDS = (
    "the a is was in on of and to cat dog sat mat john paris france lives city river un ##aff ##able ##s "
    "hello world . , ? !"
).split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
SIZES = dict(vocab_size=len(VOCAB), dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=128)


def w2_like(count: int = 1024) -> list[str]:
    """`count` sentences of 8 to 64 words like the W2 benchmark set (1,024 review sentences of 8-64 tokens),
    drawn from the tiny vocabulary, with the corpus's hostile strings (scripts, emoji, controls) mixed in."""
    rng = random.Random(0)
    words = [word for word in WORDS if not word.startswith("##")]
    hostile = [text for text in EDGE_CASES if text.strip()]
    sentences = [" ".join(rng.choices(words, k=rng.randint(8, 64))) for _ in range(count - len(hostile))]
    for index, text in enumerate(hostile):
        sentences.insert(index * 31, text)
    return sentences


SENTENCES = w2_like()


def save(folder, cls, **config):
    torch.manual_seed(0)
    cls(DistilBertConfig(**SIZES, **config)).save_pretrained(folder)
    DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(VOCAB)}).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        "text-classification": save(root / "classifier", DistilBertForSequenceClassification,
                                    id2label={0: "NEGATIVE", 1: "POSITIVE"}),
        "token-classification": save(root / "ner", DistilBertForTokenClassification,
                                     id2label={0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}),
        "feature-extraction": save(root / "encoder", DistilBertModel),
    }


def descendants(pid: int) -> dict[int, str]:
    """Live descendant processes of `pid` -> their command line, read from /proc."""
    parents, titles = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    stat = handle.read().rsplit(b")", 1)[1].split()
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    title = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            if stat[0] != b"Z":  # zombies are dead, only not yet reaped
                parents[int(entry)], titles[int(entry)] = int(stat[1]), title
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                found[child] = titles[child]
                frontier.append(child)
    return found


@pytest.fixture(scope="module")
def session():
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    deadline = time.monotonic() + 30
    while descendants(os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = descendants(os.getpid())
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left running after ray.shutdown(): {left}"


def in_process(task, model, texts, **options):
    return pipeline(task, model=model, batch_size=32, device=-1, **options)(texts)


def assert_same_entities(actual, expected):
    assert len(actual) == len(expected)
    for mine, theirs in zip(actual, expected, strict=True):
        assert {k: v for k, v in mine.items() if k != "score"} == {k: v for k, v in theirs.items() if k != "score"}
        assert abs(mine["score"] - theirs["score"]) <= 1e-6


def test_text_classification_over_json_csv_parquet_and_items_equals_in_process_in_order(session, models,
                                                                                       tmp_path):
    import pyarrow
    import pyarrow.csv
    import pyarrow.parquet

    rows = [{"id": index, "text": text} for index, text in enumerate(SENTENCES)]
    quarter = len(rows) // 4
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows[:quarter]), encoding="utf-8")
    pyarrow.csv.write_csv(pyarrow.Table.from_pylist(rows[quarter : 2 * quarter]), tmp_path / "b.csv")
    for part in range(2):  # several files: their order, then their rows'
        chunk = rows[2 * quarter + part * quarter // 2 : 2 * quarter + (part + 1) * quarter // 2]
        pyarrow.parquet.write_table(pyarrow.Table.from_pylist(chunk), tmp_path / f"c-{part}.parquet")
    dataset = ray.data.read_json(str(tmp_path / "a.jsonl")).union(
        ray.data.read_csv(str(tmp_path / "b.csv")),
        ray.data.read_parquet([str(tmp_path / f"c-{part}.parquet") for part in range(2)]),
        ray.data.from_items(rows[3 * quarter :]),
    )
    model = models["text-classification"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scored = distilkit.ray.map_pipeline(dataset, "sentiment-analysis", model=model, batch_size=32,
                                            num_actors=2, num_cpus_per_actor=1)
        results = scored.take_all()
    about_our_calls = [str(warning.message) for warning in caught
                       if any(word in str(warning.message) for word in
                              ("map_batches", "ActorPoolStrategy", "ray_remote_args", "concurrency", "repartition"))]
    assert about_our_calls == []
    # input order is the order the input dataset yields its rows (Ray's union interleaves its parts' blocks)
    order = [row["id"] for row in dataset.take_all()]
    assert sorted(order) == list(range(len(SENTENCES)))
    assert [row["id"] for row in results] == order
    texts = [SENTENCES[index] for index in order]
    assert [row["text"] for row in results] == texts
    expected = in_process("text-classification", model, texts)
    assert [row["label"] for row in results] == [result["label"] for result in expected]
    assert max(abs(row["score"] - result["score"]) for row, result in zip(results, expected, strict=True)) <= 1e-6


def test_ner_and_feature_extraction_chained_equal_in_process(session, models, tmp_path):
    path = tmp_path / "reviews.jsonl"
    path.write_text("".join(json.dumps({"review": text, "n": index}) + "\n" for index, text in enumerate(SENTENCES)),
                    encoding="utf-8")
    tagged = distilkit.ray.map_pipeline(ray.data.read_json(str(path)), "ner", model=models["token-classification"],
                                        text_column="review", aggregation_strategy="simple", num_actors=2)
    rows = distilkit.ray.map_pipeline(tagged, "feature-extraction", model=models["feature-extraction"],
                                      text_column="review", num_actors=1).take_all()
    entities = in_process("ner", models["token-classification"], SENTENCES, aggregation_strategy="simple")
    features = in_process("feature-extraction", models["feature-extraction"], SENTENCES)
    assert [row["n"] for row in rows] == list(range(len(SENTENCES)))
    assert sum(len(found) for found in entities) > len(SENTENCES)  # the check has something to compare
    for row, found, vectors in zip(rows, entities, features, strict=True):
        assert_same_entities(list(row["entities"]), found)
        actual = torch.tensor([[list(token) for token in sequence] for sequence in row["features"]])
        assert actual.shape == torch.tensor(vectors).shape
        assert (actual - torch.tensor(vectors)).abs().max() <= 1e-6


def busy_map_worker(stop: threading.Event, killed: list[int]) -> None:
    """Kill (SIGKILL) the first Ray Data actor process seen executing a batch: Ray names a busy actor's
    process `ray::MapWorker(...).<method>`."""
    while not stop.is_set():
        for pid, title in descendants(os.getpid()).items():
            if title.startswith("ray::MapWorker(") and ")." in title:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.005)


def test_an_actor_killed_mid_run_is_restarted_and_nothing_is_lost_or_repeated(session, models):
    model = models["text-classification"]
    items = [{"id": index, "text": text} for index, text in enumerate(SENTENCES)]
    scored = distilkit.ray.map_pipeline(ray.data.from_items(items), "text-classification", model=model,
                                        batch_size=8, num_actors=2, rows_per_call=16)
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=busy_map_worker, args=(stop, killed))
    killer.start()
    try:
        rows = scored.take_all()
    finally:
        stop.set()
        killer.join()
    assert killed, "no busy actor was seen, so none was killed"
    assert killed[0] not in descendants(os.getpid())
    expected = in_process("text-classification", model, SENTENCES)
    assert [row["id"] for row in rows] == list(range(len(SENTENCES)))  # complete, in order, no duplicate
    assert [row["label"] for row in rows] == [result["label"] for result in expected]
    assert max(abs(row["score"] - result["score"]) for row, result in zip(rows, expected, strict=True)) <= 1e-6


def test_cli_resumes_a_torn_output_file_without_duplicates_or_gaps(session, models, tmp_path, capsys):
    model = models["text-classification"]
    source = tmp_path / "big.jsonl"
    source.write_text("".join(json.dumps({"id": index, "text": text}) + "\n" for index, text in enumerate(SENTENCES))
                      + "\n", encoding="utf-8")  # a trailing blank line is not a record
    expected = in_process("text-classification", model, SENTENCES)
    out = tmp_path / "preds.jsonl"
    done = [{"id": index, "text": SENTENCES[index], **expected[index]} for index in range(300)]
    out.write_text("".join(json.dumps(row) + "\n" for row in done) + '{"id": 300, "te', encoding="utf-8")

    arguments = ["run", "text-classification", "--file", str(source), "--out", str(out), "--ray", "--model", model,
                 "--actors", "2", "--batch-size", "16"]
    assert main(arguments) == 0
    assert f"{len(SENTENCES) - 300} rows written" in capsys.readouterr().out
    rows = [json.loads(line) for line in out.read_bytes().split(b"\n")[:-1]]  # U+2028 in a text is no break
    assert [row["id"] for row in rows] == list(range(len(SENTENCES)))
    assert [row["text"] for row in rows] == SENTENCES
    assert [row["label"] for row in rows] == [result["label"] for result in expected]
    assert max(abs(row["score"] - result["score"]) for row, result in zip(rows, expected, strict=True)) <= 1e-6

    assert main(arguments) == 0  # finished: nothing left to do, nothing scheduled
    assert "0 rows written" in capsys.readouterr().out
    assert out.read_bytes().count(b"\n") == len(SENTENCES)


def test_cli_refuses_an_output_file_of_another_input(session, models, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text("the cat sat\nthe dog sat\n", encoding="utf-8")
    out = tmp_path / "preds.jsonl"
    out.write_text(json.dumps({"text": "something else", "label": "POSITIVE"}) + "\n", encoding="utf-8")
    code = main(["run", "ner", "--file", str(source), "--out", str(out), "--ray", "--model", models["token-classification"]])
    error = capsys.readouterr().err
    assert code == 1 and "does not continue" in error and error.count("\n") == 1
    assert main(["run", "ner", "--out", str(out), "--ray"]) == 2
    assert "--ray, --out and --file go together" in capsys.readouterr().err


def test_bad_input_fails_before_any_batch_is_scheduled(session, models):
    dataset = ray.data.from_items([{"review": "the cat sat"}])
    with pytest.raises(InputError, match="no column 'text'.*text_column="):
        distilkit.ray.map_pipeline(dataset, "text-classification", model=models["text-classification"])
    with pytest.raises(CheckpointError, match="cannot be loaded on a Ray worker") as caught:
        distilkit.ray.map_pipeline(dataset, "ner", model="/no/such/model/dir", text_column="review")
    assert "\n" not in str(caught.value)
    gold = ray.data.from_items([{"text": "the cat sat", "label": "POSITIVE"}])
    with pytest.raises(InputError, match="already has a column 'label'"):
        distilkit.ray.map_pipeline(gold, "text-classification", model=models["text-classification"])
    with pytest.raises(InputError, match="one text per row"):
        distilkit.ray.map_pipeline(dataset, "question-answering", model=models["text-classification"])
    with pytest.raises(InputError, match="ray.data.Dataset"):
        distilkit.ray.map_pipeline([{"text": "x"}], "ner", model=models["token-classification"])
    with pytest.raises(InputError, match="num_actors"):
        distilkit.ray.map_pipeline(dataset, "ner", model=models["token-classification"], num_actors=0)


def test_ray_not_installed_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'distilkit\[ray\]'") as caught:
        distilkit.ray.map_pipeline(None, "ner", model="x")
    assert "\n" not in str(caught.value)
