"""Saves are all-or-nothing for the folder (issue 12, item 2).

A forked child runs a save and is SIGKILLed just before its k-th file-system step (every write-open, rename,
delete, mkdir, as reported by Python's audit hooks); for every k until the save completes, the folder must load as
the whole old version or the whole new one — weights, `config.json`'s labels, tokenizer and processor files alike —
and files of the user's that the save does not own stay. Before the fix, a kill between the renames of a sharded
save (or between the weights and `config.json`) left a mixed checkpoint that loaded without a word.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from distilkit import DistilBertConfig, DistilBertForSequenceClassification, DistilBertTokenizerFast
from distilkit._io import JOURNAL_NAME, read_json, recover, staged_directory, write_text_atomic
from distilkit.errors import CheckpointError
from distilkit.processors import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2Processor
from distilkit.training import Trainer, TrainingArguments

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked child (POSIX only)")

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "movie", "the", "was"]
MUTATING_EVENTS = {"os.rename", "os.remove", "os.rmdir", "os.mkdir", "shutil.rmtree", "os.truncate", "os.link",
                   "os.symlink", "os.chmod"}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # nothing multi-threaded is running when the test forks
    yield
    torch.set_num_threads(threads)


def _mutates(event: str, args: tuple, root: str) -> bool:
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(letter in mode for letter in "wax+")) or (
            mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        return bool(writing) and isinstance(path, (str, bytes, os.PathLike)) and os.fsdecode(path).startswith(root)
    if event in MUTATING_EVENTS:
        return any(isinstance(arg, (str, bytes, os.PathLike)) and os.fsdecode(arg).startswith(root) for arg in args)
    return False


def _killer(root: str, step: int) -> Callable[[str, tuple], None]:
    seen = [0]

    def hook(event: str, args: tuple) -> None:
        if _mutates(event, args, root):
            if seen[0] == step:
                os.kill(os.getpid(), signal.SIGKILL)
            seen[0] += 1

    return hook


def kill_at_every_step(folder: Path, save: Callable[[], None], check: Callable[[], str]) -> list[str]:
    """Run `save` in a child killed before its k-th step, for k = 0, 1, ... until it completes; after each kill
    `check()` names the version the folder loads as, and the folder is then put back to its old state."""
    pristine = folder.with_name(folder.name + "-pristine")
    shutil.copytree(folder, pristine)
    outcomes = []
    for step in range(500):
        pid = os.fork()
        if pid == 0:  # the child: count file-system steps inside the folder, die at the chosen one
            try:
                sys.addaudithook(_killer(str(folder), step))
                save()
            except BaseException:
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        assert killed or os.WEXITSTATUS(status) == 0, f"the save failed in the child at step {step}"
        outcomes.append(check())
        if not killed:
            assert outcomes[-1] == "new", "a completed save must load as the new version"
            assert not (folder / JOURNAL_NAME).exists()
            assert not [path for path in folder.iterdir() if path.name.startswith(".distilkit-staging-")]
            return outcomes
        shutil.rmtree(folder)
        shutil.copytree(pristine, folder)
    raise AssertionError("the save never completed")


def tiny_model(labels: list[str], seed: int) -> DistilBertForSequenceClassification:
    torch.manual_seed(seed)
    config = DistilBertConfig(vocab_size=len(WORDS) + 1, dim=16, n_layers=2, n_heads=2, hidden_dim=24,
                              max_position_embeddings=16, id2label=dict(enumerate(labels)))
    return DistilBertForSequenceClassification(config)


def version_of(state: dict[str, torch.Tensor], versions: dict[str, dict[str, torch.Tensor]]) -> str:
    for name, expected in versions.items():
        if state.keys() == expected.keys() and all(torch.equal(state[key], expected[key]) for key in expected):
            return name
    raise AssertionError("the weights are a mix of the old and the new save")


def test_a_model_save_killed_at_any_step_loads_as_the_old_or_the_new_version(tmp_path):
    folder = tmp_path / "model"
    old = tiny_model(["neg", "pos"], seed=0)
    new = tiny_model(["negative", "positive"], seed=1)
    old.save_pretrained(folder, max_shard_size=3000)  # sharded: several files and an index
    assert len(list(folder.glob("model-*-of-*.safetensors"))) >= 3
    (folder / "README.md").write_text("the user's notes")
    weights = {"old": {k: v.clone() for k, v in old.state_dict().items()},
               "new": {k: v.clone() for k, v in new.state_dict().items()}}
    labels = {"old": "neg", "new": "negative"}

    def check() -> str:
        loaded = DistilBertForSequenceClassification.from_pretrained(folder)
        version = version_of(loaded.state_dict(), weights)
        assert loaded.config.id2label[0] == labels[version], "new weights with the old config.json (or the reverse)"
        assert (folder / "README.md").read_text() == "the user's notes"
        return version

    outcomes = kill_at_every_step(folder, lambda: new.save_pretrained(folder), check)
    assert "old" in outcomes and outcomes.count("new") > 1  # killed before and after the commit point
    # the new save is one file: the old shards and their index are gone, nothing of the old version is left
    assert sorted(path.name for path in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]


def write_words(folder: Path, words: list[str]) -> DistilBertTokenizerFast:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    return DistilBertTokenizerFast.from_pretrained(folder)


def test_trainer_save_model_killed_at_any_step_keeps_model_tokenizer_and_arguments_together(tmp_path):
    folder = tmp_path / "out"
    old_tokenizer = write_words(tmp_path / "old-vocab", WORDS)
    new_tokenizer = write_words(tmp_path / "new-vocab", WORDS + ["great"])
    old, new = tiny_model(["neg", "pos"], seed=0), tiny_model(["neg", "pos"], seed=1)
    arguments = {"old": TrainingArguments(output_dir=str(folder), learning_rate=1e-3, disable_tqdm=True),
                 "new": TrainingArguments(output_dir=str(folder), learning_rate=2e-3, disable_tqdm=True)}
    Trainer(old, arguments["old"], processing_class=old_tokenizer).save_model()
    (folder / "checkpoint-7").mkdir()  # a folder of the user's run, untouched by save_model
    weights = {"old": {k: v.clone() for k, v in old.state_dict().items()},
               "new": {k: v.clone() for k, v in new.state_dict().items()}}
    vocab_sizes = {"old": len(WORDS), "new": len(WORDS) + 1}
    rates = {"old": 1e-3, "new": 2e-3}
    trainer = Trainer(new, arguments["new"], processing_class=new_tokenizer)

    def check() -> str:
        version = version_of(DistilBertForSequenceClassification.from_pretrained(folder).state_dict(), weights)
        assert len(DistilBertTokenizerFast.from_pretrained(folder)) == vocab_sizes[version]
        assert json.loads((folder / "training_args.json").read_text())["learning_rate"] == rates[version]
        assert (folder / "checkpoint-7").is_dir()
        return version

    outcomes = kill_at_every_step(folder, trainer.save_model, check)
    assert set(outcomes) == {"old", "new"}


def test_a_processor_save_killed_at_any_step_loads_as_the_old_or_the_new_version(tmp_path):
    folder = tmp_path / "processor"
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "A": 5, "B": 6}

    def processor(sampling_rate: int, extra: dict[str, int]) -> Wav2Vec2Processor:
        tokenizer = Wav2Vec2CTCTokenizer(vocab={**vocab, **extra})
        return Wav2Vec2Processor(Wav2Vec2FeatureExtractor(sampling_rate=sampling_rate), tokenizer)

    processor(16000, {}).save_pretrained(folder)
    new = processor(8000, {"C": 7})
    versions = {16000: ("old", 7), 8000: ("new", 8)}

    def check() -> str:
        loaded = Wav2Vec2Processor.from_pretrained(folder)
        version, size = versions[loaded.feature_extractor.sampling_rate]
        assert len(loaded.tokenizer.vocab) == size, "the feature extractor and the tokenizer come from two saves"
        return version

    assert set(kill_at_every_step(folder, lambda: new.save_pretrained(folder), check)) == {"old", "new"}


def test_a_tokenizer_save_replaces_the_older_saves_tokenizer_files_only(tmp_path):
    folder = tmp_path / "tokenizer"
    folder.mkdir()
    (folder / "special_tokens_map.json").write_text('{"unk_token": "[NOPE]"}')  # left by an older save
    (folder / "notes.txt").write_text("mine")
    written = write_words(tmp_path / "vocab", WORDS).save_pretrained(folder)
    assert sorted(Path(path).name for path in written) == ["tokenizer.json", "tokenizer_config.json", "vocab.txt"]
    assert all(Path(path).parent == folder for path in written)
    assert sorted(path.name for path in folder.iterdir()) == [
        "notes.txt", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]
    assert DistilBertTokenizerFast.from_pretrained(folder).unk_token == "[UNK]"


def test_a_failed_save_leaves_the_folder_as_it_was(tmp_path):
    folder = tmp_path / "model"
    tiny_model(["neg", "pos"], seed=0).save_pretrained(folder)
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    with pytest.raises(RuntimeError, match="disk full"), staged_directory(folder) as stage:
        write_text_atomic(stage.path / "config.json", "{}")
        raise RuntimeError("disk full")
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before


def test_a_hostile_journal_cannot_reach_outside_the_folder(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "precious.txt").write_text("keep")
    journal = {"version": 1, "staging": ".distilkit-staging-x", "files": [], "remove": ["../precious.txt"]}
    (folder / JOURNAL_NAME).write_text(json.dumps(journal))
    with pytest.raises(CheckpointError, match=r"names '../precious.txt', which is not a file of the folder"):
        recover(folder)
    assert (tmp_path / "precious.txt").read_text() == "keep"


def test_bounded_json_reads_name_the_file_and_the_cause(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)
    with pytest.raises(CheckpointError, match="nested too deeply"):
        read_json(path, error=CheckpointError)
    path.write_text('{"lr": NaN}')
    with pytest.raises(CheckpointError, match="non-JSON constant NaN"):
        read_json(path, error=CheckpointError)
    assert read_json(path, allow_nan=True)["lr"] != 0
    path.write_text("[" + "1," * 1000 + "1]")
    with pytest.raises(CheckpointError, match="over the 100-byte limit"):
        read_json(path, error=CheckpointError, max_bytes=100)
