"""distilkit.checkpoint: sizes, safetensors save/load (single, sharded, atomic), discovery order, reports.

Files written by the reference (`transformers` save_pretrained) and by `safetensors.torch.save_file` must
load, and the reference must load ours; the index format is compared with the reference's own in the same run.
"""

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import DistilBertConfig as ReferenceConfig
from transformers import DistilBertForSequenceClassification as ReferenceModel
from transformers.utils.hub import convert_file_size_to_int

from distilkit import checkpoint
from distilkit.checkpoint import (
    LoadReport,
    find_weight_files,
    load_state_dict,
    parse_size,
    rename_legacy_keys,
    save_state_dict,
)
from distilkit.errors import CheckpointError, InputError

TINY = dict(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=40)


def sample_state_dict():
    return {
        "embeddings.word_embeddings.weight": torch.randn(20, 8),
        "layer.0.weight": torch.randn(8, 8),
        "layer.0.bias": torch.randn(8),
        "head.weight": torch.randn(3, 8, dtype=torch.float64),
        "counts": torch.arange(5, dtype=torch.int64),
        "half": torch.randn(4, dtype=torch.float16),
        "brain": torch.randn(4).to(torch.bfloat16),
        "mask": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 8),
    }


def assert_same_state(loaded, expected):
    assert list(loaded) == list(expected) or sorted(loaded) == sorted(expected)
    for key, tensor in expected.items():
        assert loaded[key].dtype == tensor.dtype, key
        assert torch.equal(loaded[key], tensor), key


def weight_files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if "model" in path.name)


@pytest.fixture(scope="module")
def reference_model():
    torch.manual_seed(0)
    return ReferenceModel(ReferenceConfig(**TINY)).eval()


# ---------------------------------------------------------------- parse_size


@pytest.mark.parametrize(
    "size, expected",
    [("50GB", 50 * 10**9), ("10MB", 10 * 10**6), ("5GiB", 5 * 2**30), ("3KiB", 3072), ("1.5GB", 15 * 10**8),
     (" 20 kB ", 20_000), ("8Gb", 10**9), ("2TB", 2 * 10**12), ("123", 123), (4096, 4096)],
)  # fmt: skip
def test_parse_size(size, expected):
    assert parse_size(size) == expected


@pytest.mark.parametrize(
    "size", ["5GB", "10MB", "1KB", "3GiB", "7MiB", "2KiB", "5Gb", "10mb", "8kb", "50GB", 1234]
)
def test_parse_size_matches_reference(size):
    assert parse_size(size) == convert_file_size_to_int(size)


@pytest.mark.parametrize(
    "size", ["", "abc", "10XB", "-5GB", "0", 0, -1, True, 1.5, None, "1.5", "1e9", "GB", "5 G B"]
)
def test_parse_size_rejects_junk(size):
    with pytest.raises(InputError, match="size"):
        parse_size(size)


# ---------------------------------------------------------------- save / load round trips


def test_single_file_round_trip(tmp_path):
    state = sample_state_dict()
    written = save_state_dict(state, tmp_path)
    assert written == [tmp_path / "model.safetensors"]
    assert weight_files(tmp_path) == ["model.safetensors"]
    with safe_open(tmp_path / "model.safetensors", "pt") as handle:
        assert handle.metadata() == {"format": "pt"}
    assert_same_state(load_state_dict(find_weight_files(tmp_path)), state)


def test_non_contiguous_and_view_tensors_are_saved_by_value(tmp_path):
    base = torch.randn(6, 4)
    state = {
        "transposed": torch.randn(3, 5).t(),
        "top": base[:3],
        "bottom": base[3:],
        "strided": torch.randn(8)[::2],
    }
    save_state_dict(state, tmp_path)
    assert_same_state(load_state_dict([tmp_path / "model.safetensors"]), state)


def test_extra_metadata_is_kept_and_format_is_pt(tmp_path):
    save_state_dict({"a": torch.ones(2)}, tmp_path, metadata={"source": "test", "format": "np"})
    with safe_open(tmp_path / "model.safetensors", "pt") as handle:
        assert handle.metadata() == {"source": "test", "format": "pt"}


def test_sharded_round_trip_and_index(tmp_path):
    state = sample_state_dict()
    limit = 400
    written = save_state_dict(state, tmp_path, max_shard_size=limit)
    shards = [path for path in written if path.suffix == ".safetensors"]
    count = len(shards)
    assert count > 2
    assert [path.name for path in shards] == [
        f"model-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)
    ]
    assert written[-1] == tmp_path / "model.safetensors.index.json"
    assert not (tmp_path / "model.safetensors").exists()

    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert set(index) == {"metadata", "weight_map"}
    assert index["metadata"] == {
        "total_parameters": sum(tensor.numel() for tensor in state.values()),
        "total_size": sum(tensor.numel() * tensor.element_size() for tensor in state.values()),
    }
    assert set(index["weight_map"]) == set(state)
    for shard in shards:
        with safe_open(shard, "pt") as handle:
            keys = list(handle.keys())
            assert handle.metadata() == {"format": "pt"}
            assert all(index["weight_map"][key] == shard.name for key in keys)
            size = sum(state[key].numel() * state[key].element_size() for key in keys)
            assert size <= limit or len(keys) == 1

    assert find_weight_files(tmp_path) == shards
    assert_same_state(load_state_dict(shards), state)


def test_tensor_larger_than_the_limit_gets_its_own_shard(tmp_path):
    state = {"small": torch.zeros(2), "big": torch.zeros(100), "tail": torch.zeros(2)}
    save_state_dict(state, tmp_path, max_shard_size="100")
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert index["weight_map"] == {
        "small": "model-00001-of-00003.safetensors",
        "big": "model-00002-of-00003.safetensors",
        "tail": "model-00003-of-00003.safetensors",
    }


def test_custom_weights_name(tmp_path):
    state = {"a": torch.ones(200), "b": torch.ones(200)}
    save_state_dict(state, tmp_path, weights_name="adapter.safetensors", max_shard_size=1000)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "adapter-00001-of-00002.safetensors",
        "adapter-00002-of-00002.safetensors",
        "adapter.safetensors.index.json",
    ]


# ---------------------------------------------------------------- parity with the reference's files


def test_index_and_shards_equal_the_reference(tmp_path, reference_model):
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    reference_model.save_pretrained(theirs, max_shard_size="20KB")
    save_state_dict(reference_model.state_dict(), ours, max_shard_size="20KB")
    their_index = json.loads((theirs / "model.safetensors.index.json").read_text())
    our_index = json.loads((ours / "model.safetensors.index.json").read_text())
    assert len(set(their_index["weight_map"].values())) > 1
    assert our_index == their_index
    assert weight_files(ours) == weight_files(theirs)
    for name in set(their_index["weight_map"].values()):
        with safe_open(theirs / name, "pt") as their_shard, safe_open(ours / name, "pt") as our_shard:
            assert sorted(their_shard.keys()) == sorted(our_shard.keys())
            assert their_shard.metadata() == our_shard.metadata()
            for key in their_shard.keys():
                assert torch.equal(their_shard.get_tensor(key), our_shard.get_tensor(key))


@pytest.mark.parametrize("max_shard_size", ["50GB", "20KB"])
def test_reference_checkpoints_load(tmp_path, reference_model, max_shard_size):
    reference_model.save_pretrained(tmp_path, max_shard_size=max_shard_size)
    loaded = load_state_dict(find_weight_files(tmp_path))
    assert_same_state(loaded, reference_model.state_dict())


def test_reference_loads_our_sharded_checkpoint(tmp_path, reference_model):
    reference_model.config.save_pretrained(tmp_path)
    save_state_dict(reference_model.state_dict(), tmp_path, max_shard_size="20KB")
    reloaded = ReferenceModel.from_pretrained(tmp_path)
    assert_same_state(reloaded.state_dict(), reference_model.state_dict())


def test_file_from_plain_safetensors_save_file(tmp_path):
    state = {"a": torch.randn(3, 4), "b": torch.arange(6, dtype=torch.int32)}
    save_file(state, tmp_path / "model.safetensors")
    assert_same_state(load_state_dict(find_weight_files(tmp_path)), state)


# ---------------------------------------------------------------- save: input checks and stale files


def test_shared_memory_is_refused(tmp_path):
    weight = torch.randn(4, 4)
    with pytest.raises(InputError, match="'a' and 'b' share memory"):
        save_state_dict({"a": weight, "b": weight}, tmp_path)
    with pytest.raises(InputError, match="share memory"):
        save_state_dict({"first": weight[:3], "second": weight[2:]}, tmp_path)
    with pytest.raises(InputError, match="share memory"):
        save_state_dict({"whole": weight, "column": weight[:, 1]}, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "state, match",
    [({"a": [1.0, 2.0]}, "str -> torch.Tensor"), ({1: torch.ones(1)}, "str -> torch.Tensor"),
     ([("a", torch.ones(1))], "mapping"), ({"a": torch.empty(2, device="meta")}, "meta device")],
)  # fmt: skip
def test_bad_state_dicts_are_refused(tmp_path, state, match):
    with pytest.raises(InputError, match=match):
        save_state_dict(state, tmp_path)


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(InputError, match="weights_name"):
        save_state_dict({"a": torch.ones(1)}, tmp_path, weights_name="../model.safetensors")
    with pytest.raises(InputError, match="metadata"):
        save_state_dict({"a": torch.ones(1)}, tmp_path, metadata={"epoch": 3})
    with pytest.raises(InputError, match="size"):
        save_state_dict({"a": torch.ones(1)}, tmp_path, max_shard_size="lots")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="is a file"):
        save_state_dict({"a": torch.ones(1)}, tmp_path / "file")


def test_stale_weight_files_are_removed_and_others_kept(tmp_path):
    state = sample_state_dict()
    keep = ["config.json", "notes-00001-of-00002.safetensors", "pytorch_model.bin", "model.safetensors.bak"]
    for name in keep:
        (tmp_path / name).write_text("user file")

    def ours():
        return sorted(path.name for path in tmp_path.iterdir() if path.name not in keep)

    many = save_state_dict(state, tmp_path, max_shard_size=400)
    fewer = save_state_dict(state, tmp_path, max_shard_size=1000)
    assert len(fewer) < len(many)
    assert ours() == sorted(path.name for path in fewer)
    assert save_state_dict(state, tmp_path) == [tmp_path / "model.safetensors"]
    assert ours() == ["model.safetensors"]
    again = save_state_dict(state, tmp_path, max_shard_size=400)
    assert ours() == sorted(path.name for path in again)
    assert all((tmp_path / name).read_text() == "user file" for name in keep)
    assert_same_state(load_state_dict(find_weight_files(tmp_path)), state)


# ---------------------------------------------------------------- atomic save


def failing_writer(fail_on_call: int):
    """A save_file that writes the first shards, then dies half-way through writing shard `fail_on_call`."""
    calls = []

    def writer(tensors, filename, metadata=None):
        calls.append(filename)
        if len(calls) == fail_on_call:
            Path(filename).write_bytes(b'\x08\x00\x00\x00\x00\x00\x00\x00{"a": ')
            raise OSError(28, "No space left on device")
        save_file(tensors, filename, metadata=metadata)

    return writer


@pytest.mark.parametrize("old_shard_size, new_shard_size", [("50GB", 400), (400, 400), (400, "50GB")])
def test_a_failed_save_leaves_the_old_checkpoint_intact(
    tmp_path, monkeypatch, old_shard_size, new_shard_size
):
    old_state = sample_state_dict()
    save_state_dict(old_state, tmp_path, max_shard_size=old_shard_size)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}

    new_state = {
        key: tensor + 1 if tensor.is_floating_point() else tensor for key, tensor in old_state.items()
    }
    fail_on = 2 if new_shard_size == 400 else 1
    monkeypatch.setattr(checkpoint, "save_file", failing_writer(fail_on))
    with pytest.raises(CheckpointError, match="unchanged") as caught:
        save_state_dict(new_state, tmp_path, max_shard_size=new_shard_size)
    assert "No space left on device" in str(caught.value)

    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before
    assert_same_state(load_state_dict(find_weight_files(tmp_path)), old_state)


def test_an_interrupted_save_leaves_no_temporary_files(tmp_path, monkeypatch):
    def interrupted(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_state_dict({"a": torch.ones(2)}, tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- find_weight_files


def test_discovery_prefers_safetensors_then_index_then_pickle(tmp_path):
    state = {"a": torch.ones(300), "b": torch.zeros(300)}
    torch.save(state, tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pickle"):
        find_weight_files(tmp_path)
    assert find_weight_files(tmp_path, allow_pickle=True) == [tmp_path / "pytorch_model.bin"]

    save_state_dict(state, tmp_path, max_shard_size=1200)
    assert find_weight_files(tmp_path) == [
        tmp_path / "model-00001-of-00002.safetensors",
        tmp_path / "model-00002-of-00002.safetensors",
    ]
    save_state_dict(state, tmp_path)
    assert find_weight_files(tmp_path) == [tmp_path / "model.safetensors"]


def test_pickle_refusal_explains_why_and_how_to_opt_in(tmp_path):
    torch.save({"a": torch.ones(2)}, tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError) as caught:
        find_weight_files(tmp_path)
    message = str(caught.value)
    assert "pytorch_model.bin" in message and "arbitrary code" in message
    assert "allow_pickle=True" in message and "weights_only=True" in message
    with pytest.raises(CheckpointError, match="allow_pickle=True"):
        load_state_dict([tmp_path / "pytorch_model.bin"])


def test_pickle_opt_in_round_trip(tmp_path):
    state = {"a": torch.randn(3), "b": torch.arange(4)}
    torch.save(state, tmp_path / "pytorch_model.bin")
    assert_same_state(
        load_state_dict(find_weight_files(tmp_path, allow_pickle=True), allow_pickle=True), state
    )


def test_sharded_pickle_index_with_opt_in(tmp_path):
    first, second = {"a": torch.randn(3)}, {"b": torch.randn(2)}
    torch.save(first, tmp_path / "pytorch_model-00001-of-00002.bin")
    torch.save(second, tmp_path / "pytorch_model-00002-of-00002.bin")
    index = {
        "metadata": {},
        "weight_map": {"a": "pytorch_model-00001-of-00002.bin", "b": "pytorch_model-00002-of-00002.bin"},
    }
    (tmp_path / "pytorch_model.bin.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="pickle"):
        find_weight_files(tmp_path)
    files = find_weight_files(tmp_path, allow_pickle=True)
    assert_same_state(load_state_dict(files, allow_pickle=True), {**first, **second})


def test_nothing_found_lists_what_was_looked_for(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError) as caught:
        find_weight_files(tmp_path)
    for name in (
        "model.safetensors",
        "model.safetensors.index.json",
        "pytorch_model.bin",
        "pytorch_model.bin.index.json",
    ):
        assert name in str(caught.value)
    assert str(tmp_path) in str(caught.value)


@pytest.mark.parametrize(
    "index, match",
    [({"weight_map": {"a": "../outside.safetensors"}}, "outside the model directory"),
     ({"weight_map": {"a": "/tmp/outside.safetensors"}}, "outside the model directory"),
     ({"weight_map": {"a": "pytorch_model.bin"}}, "must end in '.safetensors'"),
     ({"weight_map": {"a": 3}}, "must end in '.safetensors'"),
     ({"weight_map": {"a": "model-00009-of-00009.safetensors"}}, "has no file 'model-00009-of-00009"),
     ({"metadata": {}}, "weight_map"), ({"weight_map": {}}, "weight_map"), ([1, 2], "weight_map")],
)  # fmt: skip
def test_bad_index_files(tmp_path, index, match):
    model = tmp_path / "model"
    model.mkdir()
    save_file({"a": torch.ones(1)}, tmp_path / "outside.safetensors")
    (model / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match=match):
        find_weight_files(model)



@pytest.mark.parametrize(
    "index, match",
    [({"weight_map": {"a": "../outside.h5"}}, "outside the model directory"),
     ({"weight_map": {"a": "model.safetensors"}}, "must end in '.h5'"),
     ({"weight_map": {}}, "weight_map"), ([1, 2], "weight_map"), (None, "not a valid JSON weight index")],
)  # fmt: skip
def test_tf_h5_index_files_get_the_same_checks(tmp_path, index, match):
    # tf_model.h5.index.json goes through checkpoint.shards_from_index, as the safetensors and pickle indexes do
    from distilkit.modeling.tf_weights import find_tf_weight_files

    (tmp_path / "tf_model-00002-of-00002.h5").write_bytes(b"")
    (tmp_path / "tf_model-00001-of-00002.h5").write_bytes(b"")
    good = {"weight_map": {"a": "tf_model-00002-of-00002.h5", "b": "tf_model-00001-of-00002.h5"}}
    (tmp_path / "tf_model.h5.index.json").write_text(json.dumps(good))
    assert [path.name for path in find_tf_weight_files(tmp_path)] == ["tf_model-00001-of-00002.h5",
                                                                      "tf_model-00002-of-00002.h5"]
    (tmp_path / "tf_model.h5.index.json").write_text("{" if index is None else json.dumps(index))
    with pytest.raises(CheckpointError, match=match):
        find_tf_weight_files(tmp_path)

def test_index_that_is_not_json(tmp_path):
    (tmp_path / "model.safetensors.index.json").write_bytes(b'{"weight_map": \xff')
    with pytest.raises(CheckpointError, match="not a valid JSON weight index"):
        find_weight_files(tmp_path)


def test_shard_symlinked_out_of_the_directory_is_refused(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    save_file({"a": torch.ones(1)}, tmp_path / "outside.safetensors")
    (model / "model.safetensors").symlink_to(tmp_path / "outside.safetensors")
    with pytest.raises(CheckpointError, match="symlink"):
        find_weight_files(model)


def test_sharded_model_from_a_prepopulated_hf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = tmp_path / "source"
    state = sample_state_dict()
    save_state_dict(state, source, max_shard_size=400)
    commit = "c" * 40
    repo = tmp_path / "cache" / "models--owner--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "blobs").mkdir()
    (repo / "snapshots" / commit).mkdir(parents=True)
    for number, path in enumerate(sorted(source.iterdir())):
        os.replace(path, repo / "blobs" / f"{number:064x}")
        (repo / "snapshots" / commit / path.name).symlink_to(f"../../blobs/{number:064x}")

    files = find_weight_files("owner/tiny", cache_dir=tmp_path / "cache")
    assert [path.name for path in files] == sorted(
        name for name in os.listdir(repo / "snapshots" / commit) if name.endswith("safetensors")
    )
    assert_same_state(load_state_dict(files), state)
    with pytest.raises(CheckpointError, match="owner/other"):
        find_weight_files("owner/other", cache_dir=tmp_path / "cache")


# ---------------------------------------------------------------- load_state_dict


def test_duplicate_keys_across_shards_are_refused(tmp_path):
    save_file({"a": torch.ones(1), "b": torch.ones(1)}, tmp_path / "one.safetensors")
    save_file({"b": torch.zeros(1)}, tmp_path / "two.safetensors")
    with pytest.raises(CheckpointError, match="'b' is stored twice") as caught:
        load_state_dict([tmp_path / "one.safetensors", tmp_path / "two.safetensors"])
    assert "one.safetensors" in str(caught.value) and "two.safetensors" in str(caught.value)


def test_pickle_that_is_not_a_state_dict(tmp_path):
    torch.save([torch.ones(2)], tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="does not hold a state dict"):
        load_state_dict([tmp_path / "pytorch_model.bin"], allow_pickle=True)


def test_unknown_file_kind(tmp_path):
    (tmp_path / "weights.h5").write_bytes(b"\x89HDF")
    with pytest.raises(CheckpointError, match="weights.h5"):
        load_state_dict([tmp_path / "weights.h5"])


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="Cannot read"):
        load_state_dict([tmp_path / "model.safetensors"])


# ---------------------------------------------------------------- legacy names and the load report


def test_rename_legacy_keys():
    gamma, beta, other = torch.ones(2), torch.zeros(2), torch.full((2,), 3.0)
    state = {
        "embeddings.LayerNorm.gamma": gamma,
        "layer.0.beta": beta,
        "gamma_scale": other,
        "q_lin.weight": other,
    }
    renamed = rename_legacy_keys(state)
    assert list(renamed) == ["embeddings.LayerNorm.weight", "layer.0.bias", "gamma_scale", "q_lin.weight"]
    assert renamed["embeddings.LayerNorm.weight"] is gamma and renamed["layer.0.bias"] is beta


def test_rename_legacy_keys_refuses_ambiguity():
    with pytest.raises(CheckpointError, match="LayerNorm.gamma"):
        rename_legacy_keys({"LayerNorm.weight": torch.ones(1), "LayerNorm.gamma": torch.ones(1)})


def test_load_report():
    assert LoadReport().is_clean
    assert "every weight" in str(LoadReport())
    report = LoadReport(
        missing=["classifier.weight"],
        unexpected=["vocab_projector.bias"],
        mismatched=[("pre_classifier.weight", (2, 32), (5, 32))],
    )
    assert not report.is_clean
    text = str(report)
    lines = text.splitlines()
    assert lines[0] == "LOAD REPORT"
    table = lines[1 : lines.index("")]
    assert len(table) == 5
    assert len({line.index("|") for line in table if "|" in line}) == 1
    assert "classifier.weight" in table[2] and "MISSING" in table[2]
    assert "vocab_projector.bias" in table[3] and "UNEXPECTED" in table[3]
    assert "MISMATCH" in table[4] and "(2, 32)" in table[4] and "(5, 32)" in table[4]
    assert "Notes:" in text


def test_non_finite_weights_warn_by_default_and_check_finite_refuses_them(tmp_path, caplog):
    """Issue 12, item 3: safetensors does not check values; one Inf weight made every output NaN without a word."""
    from distilkit import DistilBertConfig, DistilBertModel

    model = DistilBertModel(DistilBertConfig(vocab_size=30, dim=16, n_layers=1, n_heads=2, hidden_dim=24,
                                             max_position_embeddings=16))
    with torch.no_grad():
        model.transformer.layer[0].ffn.lin1.weight[3, 4] = float("inf")
        model.embeddings.LayerNorm.bias[0] = float("nan")
    model.save_pretrained(tmp_path)
    with caplog.at_level("WARNING", logger="distilkit.checkpoint"):
        DistilBertModel.from_pretrained(tmp_path)
    assert "2 weight(s) hold NaN or infinite values" in caplog.text
    assert "transformer.layer.0.ffn.lin1.weight" in caplog.text and "check_finite=True" in caplog.text
    with pytest.raises(CheckpointError, match=r"embeddings.LayerNorm.bias, transformer.layer.0.ffn.lin1.weight"):
        DistilBertModel.from_pretrained(tmp_path, check_finite=True)
