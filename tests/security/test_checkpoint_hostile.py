"""Hostile checkpoint files: pickles that run code, malformed and mutated safetensors, escaping shard names.

Checklist items 1-3 and 9: pickle is refused (and with the opt-in only `weights_only=True` runs, never a
retry), every malformed safetensors file gives a `CheckpointError` with the path and the cause before anything
is allocated, and random byte mutations of a valid file give either a valid state dict or a `CheckpointError`,
nothing else.
"""

import json
import pickle
import struct
from fractions import Fraction

import pytest
import safetensors.torch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import SafetensorError

from distilkit import checkpoint
from distilkit.checkpoint import find_weight_files, load_state_dict
from distilkit.errors import CheckpointError

# ---------------------------------------------------------------- pickle


class WritesMarker:
    """Unpickling this object runs code: it creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def write_hostile_pickle(path, marker, zip_format):
    payload = {"weight": torch.ones(2), "payload": WritesMarker(marker)}
    if zip_format:
        torch.save(payload, path)
    else:
        with open(path, "wb") as handle:
            pickle.dump(payload, handle, protocol=2)


@pytest.mark.parametrize("zip_format", [True, False], ids=["torch.save", "raw-pickle"])
def test_hostile_pickle_never_runs(tmp_path, monkeypatch, zip_format):
    model, marker = tmp_path / "model", tmp_path / "marker"
    model.mkdir()
    write_hostile_pickle(model / "pytorch_model.bin", marker, zip_format)

    with pytest.raises(CheckpointError, match="pickle"):
        find_weight_files(model)
    with pytest.raises(CheckpointError, match="allow_pickle=True"):
        load_state_dict([model / "pytorch_model.bin"])
    assert not marker.exists()

    real_load, calls = torch.load, []

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    files = find_weight_files(model, allow_pickle=True)
    with pytest.raises(CheckpointError, match="never retries"):
        load_state_dict(files, allow_pickle=True)
    assert not marker.exists()
    assert calls == [True], "torch.load must run once, with weights_only=True, and never be retried"

    # Control: the file really is hostile; an unsafe load creates the marker.
    monkeypatch.undo()
    if zip_format:
        torch.load(model / "pytorch_model.bin", weights_only=False)
    else:
        pickle.loads((model / "pytorch_model.bin").read_bytes())
    assert marker.exists()


def test_pickle_with_a_disallowed_global_is_refused(tmp_path):
    torch.save({"weight": torch.ones(2), "scale": Fraction(1, 3)}, tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_state_dict([tmp_path / "pytorch_model.bin"], allow_pickle=True)


def test_safetensors_beside_a_hostile_pickle_is_used(tmp_path):
    marker = tmp_path / "marker"
    write_hostile_pickle(tmp_path / "pytorch_model.bin", marker, zip_format=True)
    safetensors.torch.save_file({"weight": torch.ones(2)}, tmp_path / "model.safetensors")
    files = find_weight_files(tmp_path)
    assert files == [tmp_path / "model.safetensors"]
    assert torch.equal(load_state_dict(files)["weight"], torch.ones(2))
    assert not marker.exists()


# ---------------------------------------------------------------- malformed safetensors (checklist B.1)


def build(header, data=b"", header_size=None):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if header_size is None else header_size) + raw + data


def entry(dtype="F32", shape=(4,), offsets=(0, 16)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


VALID = safetensors.torch.save(
    {"a": torch.arange(4, dtype=torch.float32), "b": torch.ones(2, 3, dtype=torch.int64)}
)

MALFORMED = {
    "empty": (b"", "fewer than the 8-byte header length"),
    "shorter than the length prefix": (b"\x01\x02\x03", "fewer than the 8-byte header length"),
    "truncated": (VALID[:-5], "truncated"),
    "header length larger than the file": (build({"a": entry()}, bytes(16), header_size=4000), "only"),
    "200 MB header claim": (build({"a": entry()}, bytes(16), header_size=200_000_000), "limit"),
    "overlapping offsets": (
        build({"a": entry(shape=(2,), offsets=(0, 8)), "b": entry(shape=(2,), offsets=(4, 12))}, bytes(12)),
        "overlaps",
    ),
    "hole between tensors": (
        build({"a": entry(shape=(1,), offsets=(0, 4)), "b": entry(shape=(1,), offsets=(8, 12))}, bytes(12)),
        "gap",
    ),
    "shape/offset mismatch": (build({"a": entry(shape=(3,))}, bytes(16)), "span 16 bytes"),
    "trailing bytes": (VALID + b"\x00" * 8, "trailing"),
    "non-string metadata": (build({"__metadata__": {"format": 1}, "a": entry()}, bytes(16)), "__metadata__"),
    "metadata not an object": (build({"__metadata__": "pt", "a": entry()}, bytes(16)), "__metadata__"),
    "overflowing shape": (build({"a": entry(shape=(2**62, 2**62, 2**62))}, bytes(16)), "bytes"),
    "negative shape": (build({"a": entry(shape=(-4,))}, bytes(16)), "invalid shape"),
    "boolean in shape": (build({"a": entry(shape=(True,), offsets=(0, 4))}, bytes(4)), "invalid shape"),
    "float offsets": (build({"a": entry(offsets=(0.0, 16.0))}, bytes(16)), "invalid data_offsets"),
    "reversed offsets": (build({"a": entry(shape=(0,), offsets=(16, 0))}, bytes(16)), "invalid data_offsets"),
    "one offset": (build({"a": entry(offsets=(16,))}, bytes(16)), "invalid data_offsets"),
    "offsets past the end": (build({"a": entry(shape=(400,), offsets=(0, 1600))}, bytes(16)), "truncated"),
    "unknown dtype": (build({"a": entry(dtype="X9")}, bytes(16)), "unsupported dtype"),
    "sub-byte dtype": (build({"a": entry(dtype="F4", shape=(32,))}, bytes(16)), "unsupported dtype"),
    "entry not an object": (build({"a": 5}, bytes(16)), "not an object"),
    "duplicate key": (
        build(
            b'{"a": ' + json.dumps(entry()).encode() + b', "a": ' + json.dumps(entry()).encode() + b"}",
            bytes(16),
        ),
        "twice",
    ),
    "header not JSON": (build(b"{not json}", bytes(16)), "not valid JSON"),
    "header not an object": (build(b"[1, 2]", bytes(16)), "does not start with"),
    "invalid UTF-8 in header": (build(b'{"\xff": 1}', bytes(16)), "not valid JSON"),
    "NaN in header": (
        build(b'{"a": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 16]}}', bytes(16)),
        "NaN",
    ),
    "deeply nested header": (
        build(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", bytes(16)),
        "not valid JSON",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_safetensors_are_rejected_before_allocation(tmp_path, monkeypatch, case):
    data, cause = MALFORMED[case]
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)

    def must_not_run(*args, **kwargs):
        raise AssertionError("tensors were read from a file that failed validation")

    monkeypatch.setattr(checkpoint, "load_file", must_not_run)
    with pytest.raises(CheckpointError, match="not a valid safetensors file") as caught:
        load_state_dict([path])
    assert str(path) in str(caught.value)
    assert cause in str(caught.value)


# Where we are stricter than safetensors' reader, on purpose: the format forbids duplicate keys but the reader
# keeps the last one silently; F4 tensors are valid in the format but safetensors.torch fails with a KeyError.
STRICTER = {"duplicate key": "keeps the last", "sub-byte dtype": "KeyError"}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_the_malformed_files_are_malformed_for_safetensors_too(case):
    """Cross-check: safetensors' own reader rejects each file too; the validator is not stricter than it."""
    if case in STRICTER:
        pytest.skip(f"deliberately stricter than safetensors ({STRICTER[case]})")
    with pytest.raises(SafetensorError):
        safetensors.torch.load(MALFORMED[case][0])


def test_the_valid_file_is_valid(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(VALID)
    loaded = load_state_dict([tmp_path / "model.safetensors"])
    assert torch.equal(loaded["a"], torch.arange(4, dtype=torch.float32))
    assert torch.equal(loaded["b"], torch.ones(2, 3, dtype=torch.int64))


def test_a_directory_named_like_a_weight_file(tmp_path):
    (tmp_path / "model.safetensors").mkdir()
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_state_dict([tmp_path / "model.safetensors"])


# ---------------------------------------------------------------- random mutations (checklist item 3)


def mutations():
    positions = st.integers(0, len(VALID) - 1)
    flips = st.lists(st.tuples(positions, st.integers(0, 7)), min_size=1, max_size=8).map(
        lambda flips: ("flip", flips)
    )
    overwrite = st.tuples(positions, st.binary(min_size=1, max_size=16)).map(
        lambda change: ("overwrite", change)
    )
    truncate = positions.map(lambda length: ("truncate", length))
    insert = st.tuples(positions, st.binary(min_size=1, max_size=16)).map(lambda change: ("insert", change))
    return st.one_of(flips, overwrite, truncate, insert)


def mutate(kind, change):
    data = bytearray(VALID)
    if kind == "flip":
        for position, bit in change:
            data[position] ^= 1 << bit
    elif kind == "overwrite":
        position, replacement = change
        data[position : position + len(replacement)] = replacement
    elif kind == "truncate":
        del data[change:]
    else:
        position, extra = change
        data[position:position] = extra
    return bytes(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=mutations())
def test_mutated_files_give_a_state_dict_or_a_checkpoint_error(tmp_path, mutation):
    data = mutate(*mutation)
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    try:
        loaded = load_state_dict([path])
    except CheckpointError as error:
        assert str(path) in str(error)
        return
    assert sum(tensor.numel() * tensor.element_size() for tensor in loaded.values()) <= len(data)
