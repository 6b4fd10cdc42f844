"""`BatchEncoding`: what a tokenizer call returns, a dict of model inputs with token <-> word <-> character maps.

Follows the reference's `BatchEncoding` (spec section 5.5): field access by key or attribute, `encodings`, the
`token_to_*` / `word_to_*` / `char_to_*` maps over the rows' `Encoding`s, `convert_to_tensors` and `to(device)`.
Tensors are torch ('pt'), numpy ('np') or TensorFlow ('tf', the `tf` extra, imported on first use).
"""

from __future__ import annotations

from collections import UserDict
from typing import Any, NamedTuple

import numpy as np

from distilkit.errors import InputError


class CharSpan(NamedTuple):
    """Characters `start` (included) to `end` (excluded) of the original string."""

    start: int
    end: int


class TokenSpan(NamedTuple):
    """Tokens `start` (included) to `end` (excluded) of an encoded sequence."""

    start: int
    end: int


class BatchEncoding(UserDict):
    """The output of a tokenizer call: a dict of `input_ids`, `attention_mask`, ... with attribute access.

    It also keeps the `Encoding` of every row, which maps tokens back to words and characters:

    >>> batch = tokenizer(["Hello world!"], return_offsets_mapping=True)   # doctest: +SKIP
    >>> batch.tokens(0), batch.word_ids(0)                               # doctest: +SKIP
    (['[CLS]', 'hello', 'world', '!', '[SEP]'], [None, 0, 1, 2, None])
    >>> batch.char_to_token(0, 7), batch.word_to_chars(0, 1)             # doctest: +SKIP
    (2, CharSpan(start=6, end=11))
    """

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        encoding: Any = None,
        tensor_type: str | None = None,
        prepend_batch_axis: bool = False,
        n_sequences: int | None = None,
    ) -> None:
        super().__init__(data)
        if encoding is not None and not isinstance(encoding, (list, tuple)):
            encoding = [encoding]
        self._encodings = list(encoding) if encoding is not None else None
        if n_sequences is None and self._encodings:
            n_sequences = self._encodings[0].n_sequences
        self._n_sequences = n_sequences
        self.convert_to_tensors(tensor_type, prepend_batch_axis=prepend_batch_axis)

    def __getitem__(self, item: str | int | slice) -> Any:
        if isinstance(item, str):
            return self.data[item]
        if isinstance(item, int) and not isinstance(item, bool):
            return self._require_encodings()[item]
        if isinstance(item, slice):
            return {key: value[item] for key, value in self.data.items()}
        raise KeyError(f"BatchEncoding keys are field names (str), row numbers (int) or slices; got {item!r}.")

    def __getattr__(self, name: str) -> Any:
        # Private names and `data` must not recurse into the dict (unpickling calls this before `data` exists).
        if name.startswith("_") or name == "data":
            raise AttributeError(name)
        try:
            return self.data[name]
        except KeyError:
            raise AttributeError(f"BatchEncoding has no field {name!r}; fields: {list(self.data)}") from None

    def __getstate__(self) -> dict[str, Any]:
        return {"data": self.data, "encodings": self._encodings, "n_sequences": self._n_sequences}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.data = state["data"]
        self._encodings = state["encodings"]
        self._n_sequences = state.get("n_sequences")

    @property
    def encodings(self) -> list | None:
        """The `Encoding` of every row (overflow windows included), or None for the output of `pad`."""
        return self._encodings

    @property
    def is_fast(self) -> bool:
        return self._encodings is not None

    @property
    def n_sequences(self) -> int | None:
        """1 for single texts, 2 for pairs, None when unknown."""
        return self._n_sequences

    def _require_encodings(self) -> list:
        if not self._encodings:
            raise InputError(
                "this BatchEncoding carries no token alignment (it came from `pad` or was built by hand); "
                "call the tokenizer on the text to get word and character mappings."
            )
        return self._encodings

    def _locate(self, batch_or_index: int, index: int | None) -> tuple[Any, int]:
        """`(i)` addresses row 0, `(b, i)` row b; negative numbers count from the end as in Python."""
        encodings = self._require_encodings()
        batch_index, position = (0, batch_or_index) if index is None else (batch_or_index, index)
        if batch_index < 0:
            batch_index += len(encodings)
        if not 0 <= batch_index < len(encodings):
            raise InputError(f"batch index {batch_index} is out of range for a batch of {len(encodings)} rows.")
        return encodings[batch_index], position

    def tokens(self, batch_index: int = 0) -> list[str]:
        return list(self._require_encodings()[batch_index].tokens)

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        """Per token, the index of the word it comes from (None for special tokens and padding)."""
        return list(self._require_encodings()[batch_index].word_ids)

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        """Per token, 0 or 1 for the sequence of a pair it belongs to (None for special tokens and padding)."""
        return list(self._require_encodings()[batch_index].sequence_ids)

    def token_to_sequence(self, batch_or_token_index: int, token_index: int | None = None) -> int | None:
        encoding, token = self._locate(batch_or_token_index, token_index)
        return encoding.token_to_sequence(token + len(encoding.ids) if token < 0 else token)

    def token_to_word(self, batch_or_token_index: int, token_index: int | None = None) -> int | None:
        encoding, token = self._locate(batch_or_token_index, token_index)
        return encoding.token_to_word(token + len(encoding.ids) if token < 0 else token)

    def token_to_chars(self, batch_or_token_index: int, token_index: int | None = None) -> CharSpan | None:
        encoding, token = self._locate(batch_or_token_index, token_index)
        span = encoding.token_to_chars(token + len(encoding.ids) if token < 0 else token)
        return CharSpan(*span) if span is not None else None

    def word_to_tokens(
        self, batch_or_word_index: int, word_index: int | None = None, sequence_index: int = 0
    ) -> TokenSpan | None:
        encoding, word = self._locate(batch_or_word_index, word_index)
        span = encoding.word_to_tokens(word, sequence_index)
        return TokenSpan(*span) if span is not None else None

    def word_to_chars(
        self, batch_or_word_index: int, word_index: int | None = None, sequence_index: int = 0
    ) -> CharSpan | None:
        encoding, word = self._locate(batch_or_word_index, word_index)
        span = encoding.word_to_chars(word, sequence_index)
        return CharSpan(*span) if span is not None else None

    def char_to_token(
        self, batch_or_char_index: int, char_index: int | None = None, sequence_index: int = 0
    ) -> int | None:
        encoding, char = self._locate(batch_or_char_index, char_index)
        return encoding.char_to_token(char, sequence_index)

    def char_to_word(
        self, batch_or_char_index: int, char_index: int | None = None, sequence_index: int = 0
    ) -> int | None:
        encoding, char = self._locate(batch_or_char_index, char_index)
        return encoding.char_to_word(char, sequence_index)

    def convert_to_tensors(self, tensor_type: str | None = None, prepend_batch_axis: bool = False) -> BatchEncoding:
        """Turn every field into a `torch.Tensor` ('pt') or `numpy.ndarray` ('np'), in place."""
        if tensor_type is None:
            return self
        tensor_type = check_tensor_type(tensor_type)
        for key, value in self.data.items():
            self.data[key] = _as_tensor(key, [value] if prepend_batch_axis else value, tensor_type)
        return self

    def to(self, device: Any, *, non_blocking: bool = False) -> BatchEncoding:
        """Move every tensor to `device` ("cpu", "cuda:0", a `torch.device` or a device index)."""
        import torch

        if not isinstance(device, (str, int, torch.device)) or isinstance(device, bool):
            raise InputError(f"device must be a str, int or torch.device, got {type(device).__name__}: {device!r}.")
        self.data = {
            key: value.to(device=device, non_blocking=non_blocking) if isinstance(value, torch.Tensor) else value
            for key, value in self.data.items()
        }
        return self


def check_tensor_type(tensor_type: Any) -> str:
    value = getattr(tensor_type, "value", tensor_type)
    if value not in ("pt", "np", "tf"):
        raise InputError(f"return_tensors={tensor_type!r} is not supported; use 'pt' (torch), 'tf' (TensorFlow), "
                         "'np' (numpy) or None.")
    return value


def _to_tf(array: np.ndarray) -> Any:
    """numpy -> `tf.Tensor` as the reference's return_tensors='tf' gave (`tf.constant`: int32 ids, float32)."""
    from .._extras import require

    tf = require("tensorflow", "tf", "return_tensors='tf'")
    return tf.constant(array.astype(np.int32 if array.dtype.kind in "biu" else np.float32, copy=False))


def _as_tensor(key: str, value: Any, tensor_type: str) -> Any:
    if tensor_type == "tf":
        return _to_tf(_as_tensor(key, value, "np"))
    import torch

    if isinstance(value, (torch.Tensor, np.ndarray)):
        array = value.numpy() if isinstance(value, torch.Tensor) and tensor_type == "np" else value
        return torch.as_tensor(array) if tensor_type == "pt" else array
    try:
        # numpy builds the array from nested lists in C; torch.from_numpy then shares its memory.
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        array, cause = None, error
    else:
        cause = None
    if array is None or array.dtype.kind not in "biuf":
        lengths = sorted({len(row) for row in value if isinstance(row, (list, tuple))}) if isinstance(value, list) else []
        detail = f" (row lengths {lengths[0]}..{lengths[-1]})" if len(lengths) > 1 else ""
        raise InputError(
            f"cannot make a tensor of '{key}': its rows have different lengths{detail} or hold non-numbers. "
            "Pass padding=True (and truncation=True) to get rows of equal length."
        ) from cause
    if array.dtype.kind in "iu" or array.size == 0:
        array = array.astype(np.int64, copy=False)
    elif array.dtype.kind == "f" and tensor_type == "pt":
        array = array.astype(np.float32)  # torch's default float, as torch.tensor(list_of_floats) gives
    return torch.from_numpy(array) if tensor_type == "pt" else array


def to_python(value: Any) -> Any:
    """Tensors and arrays become (nested) lists of ints; everything else is returned unchanged."""
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple, str, bytes)):
        return value.tolist()
    return value
