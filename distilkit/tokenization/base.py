"""The encode API shared by the slow and the fast DistilBERT tokenizer, and `BatchEncoding`.

Call shapes follow the reference's `tokenizer(...)`: single texts, batches, pairs, pre-split words; padding,
truncation with overflow windows, offsets, special-token masks and tensors (spec section 5.5). A subclass supplies
only `_encode_batch` (text -> `Encoding`s, truncated and padded by the Rust crate's rules) and `_decode_batch`.

Deliberate differences from the reference, all where it fails deep inside Rust or loses data without a word:
ids outside the vocabulary raise `InputError` in `decode`/`convert_ids_to_tokens` (the reference drops them or
returns None); a `stride` that leaves no room, a `max_length` below the special-token count (the reference then
silently skips truncation) and `truncation='only_second'` on single texts raise `InputError` up front;
`return_tensors` on rows of unequal length raises for 'np' too (not an object array); `padding='max_length'` or
truncation with no length to use warns; empty tokens cannot be added; `vocab_file=` is honoured; an empty batch
gives empty lists; `word_to_chars` of an absent word gives None.
"""

from __future__ import annotations

import inspect
import os
import re
import warnings
from collections import UserDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from distilkit._io import atomic_save, write_text_atomic
from distilkit.constants import (
    CLEAN_UP_REPLACEMENTS,
    VERY_LARGE_INTEGER,
    WORDPIECE_DECODER_REPLACEMENTS,
    is_unlimited,
)
from distilkit.errors import CheckpointError, InputError, TokenizerError
from distilkit.tokenization import files
from distilkit.tokenization.files import SPECIAL_TOKEN_NAMES, TOKENIZER_FILES, AddedToken

_SURROGATE = re.compile("[\ud800-\udfff]")


class PaddingStrategy(str, Enum):
    LONGEST = "longest"
    MAX_LENGTH = "max_length"
    DO_NOT_PAD = "do_not_pad"


class TruncationStrategy(str, Enum):
    ONLY_FIRST = "only_first"
    ONLY_SECOND = "only_second"
    LONGEST_FIRST = "longest_first"
    DO_NOT_TRUNCATE = "do_not_truncate"


class CharSpan(NamedTuple):
    """Characters `start` (included) to `end` (excluded) of the original string."""

    start: int
    end: int


class TokenSpan(NamedTuple):
    """Tokens `start` (included) to `end` (excluded) of an encoded sequence."""

    start: int
    end: int


@dataclass(frozen=True)
class Truncation:
    strategy: str  # "longest_first" | "only_first" | "only_second"
    max_length: int  # including the special tokens, as the user gives it
    stride: int
    direction: str  # "right" | "left"


@dataclass(frozen=True)
class Padding:
    length: int | None  # None: the longest sequence of the batch
    pad_to_multiple_of: int | None
    direction: str


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
        tensor_type = _check_tensor_type(tensor_type)
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


def _check_tensor_type(tensor_type: Any) -> str:
    value = getattr(tensor_type, "value", tensor_type)
    if value not in ("pt", "np"):
        raise InputError(f"return_tensors={tensor_type!r} is not supported; use 'pt' (torch), 'np' (numpy) or None.")
    return value


def _as_tensor(key: str, value: Any, tensor_type: str) -> Any:
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


def clean_up_tokenization(text: str) -> str:
    """Remove the spaces that decoding leaves before punctuation and English contractions.

    ``"hello , world ! it ' s"`` -> ``"hello, world! it's"``
    """
    for dirty, clean in CLEAN_UP_REPLACEMENTS:
        text = text.replace(dirty, clean)
    return text


def _to_python(value: Any) -> Any:
    """Tensors and arrays become (nested) lists of ints; everything else is returned unchanged."""
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple, str, bytes)):
        return value.tolist()
    return value


class TokenizerBase:
    """The shared tokenizer API; see `DistilBertTokenizer` (slow) and `DistilBertTokenizerFast`."""

    vocab_files_names = {"vocab_file": "vocab.txt", "tokenizer_file": "tokenizer.json"}
    model_input_names = ["input_ids", "attention_mask"]
    is_fast = False
    slow_tokenizer_class: type | None = None
    pad_token_type_id = 0

    def __init__(
        self,
        vocab: dict[str, int] | str | os.PathLike | None = None,
        *,
        vocab_file: str | os.PathLike | None = None,
        do_lower_case: bool = True,
        strip_accents: bool | None = None,
        tokenize_chinese_chars: bool = True,
        unk_token: str = "[UNK]",
        sep_token: str = "[SEP]",
        pad_token: str = "[PAD]",
        cls_token: str = "[CLS]",
        mask_token: str = "[MASK]",
        additional_special_tokens: Sequence[str | AddedToken] | None = None,
        extra_special_tokens: Sequence[str | AddedToken] | None = None,
        never_split: Sequence[str] | None = None,
        model_max_length: int = VERY_LARGE_INTEGER,
        padding_side: str = "right",
        truncation_side: str = "right",
        clean_up_tokenization_spaces: bool = False,
        split_special_tokens: bool = False,
        max_input_chars_per_word: int = 100,
        continuing_subword_prefix: str = "##",
        added_tokens: Sequence[tuple[int, AddedToken]] | None = None,
        name_or_path: str = "",
    ) -> None:
        if vocab is not None and vocab_file is not None:
            raise InputError("pass the vocabulary once: either vocab= (a dict or a path) or vocab_file= (a path).")
        vocab = vocab if vocab is not None else vocab_file
        if vocab is None:
            raise TokenizerError(
                f"{type(self).__name__} needs a vocabulary: pass vocab_file='vocab.txt' (or vocab={{token: id}}), "
                "or load a saved tokenizer with from_pretrained(directory)."
            )
        if isinstance(vocab, (str, os.PathLike)):
            vocab = files.read_vocab_txt(vocab)
        self._vocab = files.validate_vocab(vocab, "the vocabulary")
        for name, value in (("do_lower_case", do_lower_case), ("tokenize_chinese_chars", tokenize_chinese_chars),
                            ("clean_up_tokenization_spaces", clean_up_tokenization_spaces),
                            ("split_special_tokens", split_special_tokens)):
            if not isinstance(value, bool):
                raise InputError(f"{name} must be True or False, got {value!r}.")
        if strip_accents is not None and not isinstance(strip_accents, bool):
            raise InputError(f"strip_accents must be True, False or None, got {strip_accents!r}.")
        self.do_lower_case = do_lower_case
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.model_max_length = _check_model_max_length(model_max_length)
        self.padding_side = _check_side("padding_side", padding_side)
        self.truncation_side = _check_side("truncation_side", truncation_side)
        self.clean_up_tokenization_spaces = clean_up_tokenization_spaces
        self.split_special_tokens = split_special_tokens
        if isinstance(max_input_chars_per_word, bool) or not isinstance(max_input_chars_per_word, int) \
                or max_input_chars_per_word < 1:
            raise InputError(f"max_input_chars_per_word must be a positive int, got {max_input_chars_per_word!r}.")
        if not isinstance(continuing_subword_prefix, str):
            raise InputError(f"continuing_subword_prefix must be a str, got {continuing_subword_prefix!r}.")
        self.max_input_chars_per_word = max_input_chars_per_word
        self.continuing_subword_prefix = continuing_subword_prefix
        self.name_or_path = str(name_or_path)
        self._too_long_warned = False

        self._vocab_id_set = set(self._vocab.values())
        self._maps_cache: tuple[dict[int, str], bool] | None = None
        self._added: dict[str, tuple[int, AddedToken]] = {}  # content -> (id, token)
        self._added_by_id: dict[int, AddedToken] = {}
        for token_id, token in added_tokens or ():
            self._register_with_id(token_id, token)
        self._special: dict[str, str | None] = {}
        named = {"unk_token": unk_token, "sep_token": sep_token, "pad_token": pad_token, "cls_token": cls_token,
                 "mask_token": mask_token}
        for name, value in named.items():
            if value is not None and not isinstance(value, (str, AddedToken)) and not hasattr(value, "content"):
                raise InputError(f"{name} must be a str or AddedToken, got {value!r}.")
            self._special[name] = None if value is None else _content(value)
        for name, value in self._special.items():
            if value is not None and value not in self._vocab and value not in self._added:
                raise TokenizerError(
                    f"the vocabulary has no {name} {value!r}; add it to the vocabulary or pass {name}=... "
                    "with a token the vocabulary holds."
                )
        if self._special["unk_token"] is None or self._special["unk_token"] not in self._vocab:
            raise TokenizerError(
                f"the WordPiece vocabulary must hold the unknown token (unk_token={self._special['unk_token']!r})."
            )
        if additional_special_tokens is not None and extra_special_tokens is not None:
            raise InputError("pass extra special tokens once: additional_special_tokens= or extra_special_tokens=.")
        extra = list(additional_special_tokens or extra_special_tokens or [])
        self._extra_special = [_content(token) for token in extra]
        self._register(
            [_as_added(value, special=True) for value in named.values() if value is not None]
            + [_as_added(token, special=True) for token in extra]
            + [AddedToken(_content(token), normalized=False) for token in never_split or ()]
        )
        self._setup_backend()

    # ---- subclass hooks ----------------------------------------------------------------------------------------

    def _setup_backend(self) -> None:
        """Build whatever the subclass needs from the vocabulary, added tokens and settings."""

    def _tokens_changed(self, new: list[tuple[int, AddedToken]]) -> None:
        """Called after `new` added tokens (or a special-token change, with `new` empty) took effect."""

    def _encode_batch(
        self,
        batch: list,
        *,
        is_split_into_words: bool,
        add_special_tokens: bool,
        truncation: Truncation | None,
        padding: Padding | None,
        split_special_tokens: bool,
    ) -> list:
        raise NotImplementedError

    def _normalize_text(self, text: str) -> str:
        """The normaliser's output for `text` (cleaned, accents stripped, lowercased as configured)."""
        raise NotImplementedError

    def _decode_batch(self, sequences: list[list[int]], skip_special_tokens: bool) -> list[str]:
        raise NotImplementedError

    # ---- vocabulary and special tokens -------------------------------------------------------------------------

    def _register_with_id(self, token_id: int, token: AddedToken) -> None:
        """An added token read from a file keeps its id, which must agree with the vocabulary."""
        vocab_id = self._vocab.get(token.content)
        if vocab_id is not None and vocab_id != token_id:
            raise TokenizerError(
                f"added token {token.content!r} has id {token_id}, but the vocabulary gives it id {vocab_id}."
            )
        owner = self._added_by_id.get(token_id)
        if owner is not None and owner.content != token.content:
            raise TokenizerError(f"added tokens {owner.content!r} and {token.content!r} share the id {token_id}.")
        if vocab_id is None and token_id in self._vocab_id_set:
            raise TokenizerError(
                f"added token {token.content!r} has id {token_id}, which the vocabulary already gives to "
                f"{self._id_to_vocab_token()[token_id]!r}."
            )
        self._added[token.content] = (token_id, token)
        self._added_by_id[token_id] = token
        self._maps_cache = None

    def _id_to_vocab_token(self) -> dict[int, str]:
        return {token_id: token for token, token_id in self._vocab.items()}

    def _register(self, tokens: list[AddedToken]) -> list[tuple[int, AddedToken]]:
        """Give each new token an id (its vocabulary id, or the next free one) as the Rust crate does."""
        vocab_size = len(self._vocab)
        top = max(self._added_by_id, default=None)
        next_id = vocab_size if top is None or (top < vocab_size and vocab_size > 0) else top + 1
        new: list[tuple[int, AddedToken]] = []
        for token in tokens:
            if not token.content:
                raise InputError("cannot add an empty token; added tokens need at least one character.")
            known = self._added.get(token.content)
            if known is not None:
                if token.special and not known[1].special:
                    # Re-adding a plain added token as special makes it special (skipped by decode(skip_special_tokens)).
                    self._added[token.content] = (known[0], token)
                    self._added_by_id[known[0]] = token
                continue
            token_id = self._vocab.get(token.content)
            if token_id is None:
                token_id, next_id = next_id, next_id + 1
            self._added[token.content] = (token_id, token)
            self._added_by_id[token_id] = token
            new.append((token_id, token))
        self._maps_cache = None
        return new

    def _maps(self) -> tuple[dict[int, str], bool]:
        """id -> token over the vocabulary and the added tokens, and whether ids run 0..n-1 without gaps."""
        if self._maps_cache is None:
            id_to_token = self._id_to_vocab_token()
            for token_id, token in self._added_by_id.items():
                # The reference shows a normalised added token in its normalised form ("FooBar" -> "foobar").
                id_to_token[token_id] = self._normalize_text(token.content) if token.normalized else token.content
            contiguous = max(id_to_token) == len(id_to_token) - 1
            self._maps_cache = (id_to_token, contiguous)
        return self._maps_cache

    def add_tokens(self, new_tokens: str | AddedToken | Sequence[str | AddedToken], special_tokens: bool = False) -> int:
        """Add tokens that are matched before WordPiece runs; returns how many were not added before.

        A token already in the vocabulary keeps its id; a new one gets the next free id (resize the model's
        embeddings to `len(tokenizer)` afterwards). Plain strings become normalised, non-special tokens (matched
        after lowercasing), or special, verbatim-matched ones with `special_tokens=True`.
        """
        if isinstance(new_tokens, (str, AddedToken)) or hasattr(new_tokens, "content"):
            new_tokens = [new_tokens]
        if not isinstance(new_tokens, (list, tuple)):
            raise InputError(f"add_tokens takes a str, an AddedToken or a list of them, got {type(new_tokens).__name__}.")
        tokens = [_as_added(token, special=special_tokens) for token in new_tokens]
        before = {content: token.special for content, (_, token) in self._added.items()}
        new = self._register(tokens)
        changed = any(token.special and before.get(token.content) is False for token in tokens)
        if new or changed:
            self._tokens_changed(new)
        return len(new)

    def add_special_tokens(
        self, special_tokens_dict: Mapping[str, Any], replace_additional_special_tokens: bool = True
    ) -> int:
        """Set named special tokens (`cls_token`, ...) and extra ones; returns how many tokens are new.

        ``tok.add_special_tokens({"additional_special_tokens": ["<ent>"]})`` makes `<ent>` a special token that is
        never split and is skipped by `decode(..., skip_special_tokens=True)`.
        """
        if not isinstance(special_tokens_dict, Mapping):
            raise InputError(f"add_special_tokens takes a dict, got {type(special_tokens_dict).__name__}.")
        tokens: list[AddedToken] = []
        post_processor_changed = False
        for key, value in special_tokens_dict.items():
            if key in ("additional_special_tokens", "extra_special_tokens"):
                if isinstance(value, (str, AddedToken)) or not isinstance(value, (list, tuple)):
                    raise InputError(f"{key} must be a list of tokens, got {value!r}.")
                added = [_as_added(token, special=True) for token in value]
                contents = [token.content for token in added]
                if replace_additional_special_tokens:
                    self._extra_special = contents
                else:
                    self._extra_special += [content for content in contents if content not in self._extra_special]
                tokens += added
            elif key in SPECIAL_TOKEN_NAMES:
                token = _as_added(value, special=True)
                post_processor_changed |= key in ("cls_token", "sep_token") and self._special[key] != token.content
                self._special[key] = token.content
                tokens.append(token)
            else:
                raise InputError(
                    f"{key!r} is not a special token name; use one of {', '.join(SPECIAL_TOKEN_NAMES)} "
                    "or 'additional_special_tokens'."
                )
        if self._special["unk_token"] not in self._vocab:
            raise TokenizerError(f"unk_token {self._special['unk_token']!r} must be in the WordPiece vocabulary.")
        before = {content: token.special for content, (_, token) in self._added.items()}
        new = self._register(tokens)
        changed = any(before.get(token.content) is False for token in tokens)
        if new or changed or post_processor_changed:
            self._tokens_changed(new)
        return len(new)

    def _special_id(self, name: str) -> int | None:
        token = self._special[name]
        return None if token is None else self._token_to_id(token)

    def _token_to_id(self, token: str) -> int | None:
        added = self._added.get(token)
        return added[0] if added is not None else self._vocab.get(token)

    unk_token = property(lambda self: self._special["unk_token"], doc="The token of words WordPiece cannot split.")
    sep_token = property(lambda self: self._special["sep_token"], doc="Ends each sequence: [CLS] A [SEP] B [SEP].")
    pad_token = property(lambda self: self._special["pad_token"], doc="Fills padded positions.")
    cls_token = property(lambda self: self._special["cls_token"], doc="Starts every encoded input.")
    mask_token = property(lambda self: self._special["mask_token"], doc="Marks positions for masked-LM prediction.")
    unk_token_id = property(lambda self: self._special_id("unk_token"))
    sep_token_id = property(lambda self: self._special_id("sep_token"))
    pad_token_id = property(lambda self: self._special_id("pad_token"))
    cls_token_id = property(lambda self: self._special_id("cls_token"))
    mask_token_id = property(lambda self: self._special_id("mask_token"))

    @property
    def additional_special_tokens(self) -> list[str]:
        return list(self._extra_special)

    extra_special_tokens = additional_special_tokens

    @property
    def special_tokens_map(self) -> dict[str, Any]:
        mapping: dict[str, Any] = {name: value for name, value in self._special.items() if value is not None}
        if self._extra_special:
            mapping["additional_special_tokens"] = list(self._extra_special)
        return mapping

    @property
    def all_special_tokens(self) -> list[str]:
        """Named special tokens first, then extra ones, without repeats."""
        seen = [value for value in self._special.values() if value is not None] + self._extra_special
        return list(dict.fromkeys(seen))

    @property
    def all_special_ids(self) -> list[int]:
        return [self._token_to_id(token) for token in self.all_special_tokens]

    @property
    def vocab_size(self) -> int:
        """Size of the WordPiece vocabulary, without added tokens (use `len(tokenizer)` for the total)."""
        return len(self._vocab)

    def __len__(self) -> int:
        return len(self._vocab.keys() | self._added.keys())

    def get_vocab(self) -> dict[str, int]:
        vocab = dict(self._vocab)
        vocab.update({content: token_id for content, (token_id, _) in self._added.items()})
        return vocab

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:
        return dict(sorted(self._added_by_id.items()))

    @property
    def added_tokens_encoder(self) -> dict[str, int]:
        return {content: token_id for content, (token_id, _) in sorted(self._added.items(), key=lambda item: item[1][0])}

    def get_added_vocab(self) -> dict[str, int]:
        return self.added_tokens_encoder

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """2 for `[CLS] A [SEP]`, 3 for `[CLS] A [SEP] B [SEP]`."""
        return 3 if pair else 2

    @property
    def max_len_single_sentence(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(False)

    @property
    def max_len_sentences_pair(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(True)

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        """Tokens -> ids; a token outside the vocabulary gives the id of `unk_token`."""
        if isinstance(tokens, str):
            token_id = self._token_to_id(tokens)
            return self.unk_token_id if token_id is None else token_id
        if not isinstance(tokens, (list, tuple)):
            raise InputError(f"convert_tokens_to_ids takes a str or a list of str, got {type(tokens).__name__}.")
        return [self.convert_tokens_to_ids(_check_str(token, "token")) for token in tokens]

    def convert_ids_to_tokens(self, ids: int | Sequence[int], skip_special_tokens: bool = False) -> str | list[str]:
        """Ids -> tokens; an id outside the vocabulary raises `InputError` (the reference returns None)."""
        ids = _to_python(ids)
        if isinstance(ids, int) and not isinstance(ids, bool):
            return self._maps()[0][self._check_ids([ids])[0]]
        id_to_token = self._maps()[0]
        skipped = set(self.all_special_ids) if skip_special_tokens else set()
        return [id_to_token[token_id] for token_id in self._check_ids(ids) if token_id not in skipped]

    def _check_ids(self, ids: Any, where: str = "") -> list[int]:
        if not isinstance(ids, (list, tuple)):
            raise InputError(f"token ids must be an int or a list of ints{where}, got {type(ids).__name__}: {ids!r}.")
        id_to_token, contiguous = self._maps()
        try:
            in_range = not ids or (min(ids) >= 0 and max(ids) < len(id_to_token))
        except TypeError:
            in_range = False  # not all ints: found and reported below
        if contiguous and in_range and all(type(token_id) is int for token_id in ids):
            return list(ids)
        for position, token_id in enumerate(ids):
            if isinstance(token_id, bool) or not isinstance(token_id, int):
                raise InputError(f"token id at position {position}{where} is {token_id!r}; token ids are ints.")
            if token_id not in id_to_token:
                raise InputError(
                    f"token id {token_id} at position {position}{where} is not in the vocabulary "
                    f"(ids 0..{max(id_to_token)}); decoding it would silently drop it."
                )
        return [int(token_id) for token_id in ids]

    # ---- encoding ----------------------------------------------------------------------------------------------

    def __call__(
        self,
        text: Any = None,
        text_pair: Any = None,
        *,
        add_special_tokens: bool = True,
        padding: bool | str | PaddingStrategy = False,
        truncation: bool | str | TruncationStrategy | None = None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        split_special_tokens: bool | None = None,
    ) -> BatchEncoding:
        """Encode one text, a batch, a pair or a batch of pairs into model inputs.

        >>> tok("Hello world!")                                   # doctest: +SKIP
        {'input_ids': [101, 7592, 2088, 999, 102], 'attention_mask': [1, 1, 1, 1, 1]}
        >>> tok(["a", "b c"], padding=True, return_tensors="pt")["input_ids"].shape   # doctest: +SKIP
        torch.Size([2, 4])
        """
        if text is None:
            raise InputError("text is None; pass a str, a list of str, or pairs (text, text_pair).")
        if return_tensors is not None:
            return_tensors = _check_tensor_type(return_tensors)
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 0:
            raise InputError(f"stride must be an int >= 0, got {stride!r}.")
        padding_strategy, truncation_strategy, max_length = self._strategies(
            padding, truncation, max_length, pad_to_multiple_of, verbose
        )
        batch, is_batched = self._batch_inputs(text, text_pair, is_split_into_words)
        side = _check_side("padding_side", padding_side) if padding_side is not None else self.padding_side
        truncation_settings = None
        if truncation_strategy is not TruncationStrategy.DO_NOT_TRUNCATE:
            truncation_settings = Truncation(truncation_strategy.value, max_length, stride, self.truncation_side)
            self._check_truncation(truncation_settings, batch, add_special_tokens)
        padding_settings = None
        if padding_strategy is not PaddingStrategy.DO_NOT_PAD:
            length = max_length if padding_strategy is PaddingStrategy.MAX_LENGTH else None
            padding_settings = Padding(length, pad_to_multiple_of, side)
        encodings = self._encode_batch(
            batch,
            is_split_into_words=is_split_into_words,
            add_special_tokens=add_special_tokens,
            truncation=truncation_settings,
            padding=padding_settings,
            split_special_tokens=self.split_special_tokens if split_special_tokens is None else split_special_tokens,
        )
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        if return_overflowing_tokens:
            windows, mapping = [], []
            for index, encoding in enumerate(encodings):
                group = [encoding, *encoding.overflowing]
                windows += group
                mapping += [index] * len(group)
        else:
            windows = encodings
        data: dict[str, Any] = {"input_ids": [window.ids for window in windows]}
        if return_token_type_ids:
            data["token_type_ids"] = [window.type_ids for window in windows]
        if return_attention_mask:
            # Unpadded rows attend to every token; building the ones here is cheaper than copying them out of Rust.
            data["attention_mask"] = ([window.attention_mask for window in windows] if padding_settings is not None
                                      else [[1] * len(ids) for ids in data["input_ids"]])
        if return_special_tokens_mask:
            data["special_tokens_mask"] = [window.special_tokens_mask for window in windows]
        if return_offsets_mapping:
            data["offset_mapping"] = [window.offsets for window in windows]
        if return_length:
            data["length"] = [len(ids) for ids in data["input_ids"]]
        if return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = mapping
        if truncation_settings is None and verbose:
            self._warn_if_too_long(data["input_ids"])
        if not is_batched and return_tensors is None and not return_overflowing_tokens:
            # As in the reference, per-row lists lose the batch axis; `length` stays a one-element list.
            data = {key: value[0] if value and isinstance(value[0], list) else value for key, value in data.items()}
        return BatchEncoding(data, windows, tensor_type=return_tensors)

    def _strategies(
        self, padding: Any, truncation: Any, max_length: Any, pad_to_multiple_of: Any, verbose: bool
    ) -> tuple[PaddingStrategy, TruncationStrategy, int | None]:
        """Resolve padding/truncation arguments as the reference does (a lone max_length turns truncation on)."""
        if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 0):
            raise InputError(f"max_length must be an int >= 0 or None, got {max_length!r}.")
        if pad_to_multiple_of is not None and (
            isinstance(pad_to_multiple_of, bool) or not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1
        ):
            raise InputError(f"pad_to_multiple_of must be a positive int or None, got {pad_to_multiple_of!r}.")
        if max_length is not None and padding is False and truncation is None:
            truncation = TruncationStrategy.LONGEST_FIRST
        if padding is True:
            if verbose and max_length is not None and truncation in (None, False, "do_not_truncate"):
                warnings.warn("max_length is ignored with padding=True and no truncation; to pad to max_length "
                              "use padding='max_length'.", stacklevel=3)
            padding_strategy = PaddingStrategy.LONGEST
        elif padding is False or padding is None:
            padding_strategy = PaddingStrategy.DO_NOT_PAD
        else:
            padding_strategy = _enum(PaddingStrategy, padding, "padding", "True, False, 'longest', 'max_length', 'do_not_pad'")
        if truncation is True:
            truncation_strategy = TruncationStrategy.LONGEST_FIRST
        elif truncation is False or truncation is None:
            truncation_strategy = TruncationStrategy.DO_NOT_TRUNCATE
        else:
            truncation_strategy = _enum(TruncationStrategy, truncation, "truncation",
                                        "True, False, 'longest_first', 'only_first', 'only_second', 'do_not_truncate'")
        if max_length is None:
            unlimited = is_unlimited(self.model_max_length)
            if padding_strategy is PaddingStrategy.MAX_LENGTH:
                if unlimited:
                    warnings.warn("padding='max_length' without max_length, and this tokenizer has no "
                                  "model_max_length: nothing is padded. Pass max_length=...", stacklevel=3)
                    padding_strategy = PaddingStrategy.DO_NOT_PAD
                else:
                    max_length = self.model_max_length
            if truncation_strategy is not TruncationStrategy.DO_NOT_TRUNCATE:
                if unlimited:
                    warnings.warn("truncation without max_length, and this tokenizer has no model_max_length: "
                                  "nothing is truncated. Pass max_length=...", stacklevel=3)
                    truncation_strategy = TruncationStrategy.DO_NOT_TRUNCATE
                else:
                    max_length = self.model_max_length
        if padding_strategy is not PaddingStrategy.DO_NOT_PAD and self.pad_token_id is None:
            raise InputError("padding needs a pad token; set one with add_special_tokens({'pad_token': '[PAD]'}).")
        if (truncation_strategy is not TruncationStrategy.DO_NOT_TRUNCATE
                and padding_strategy is not PaddingStrategy.DO_NOT_PAD
                and pad_to_multiple_of is not None and max_length is not None and max_length % pad_to_multiple_of):
            raise InputError(f"max_length={max_length} is not a multiple of pad_to_multiple_of={pad_to_multiple_of}; "
                             "truncated and padded rows could not have a consistent length.")
        return padding_strategy, truncation_strategy, max_length

    def _check_truncation(self, truncation: Truncation, batch: list, add_special_tokens: bool) -> None:
        """Reject settings that can never work, before any text is encoded (the reference panics in Rust)."""
        has_pairs = any(isinstance(item, tuple) for item in batch)
        has_singles = any(not isinstance(item, tuple) for item in batch)
        if truncation.strategy == "only_second" and has_singles:
            raise InputError("truncation='only_second' needs text pairs; single texts can only be cut with "
                             "truncation=True / 'longest_first' / 'only_first'.")
        for pair, present in ((False, has_singles), (True, has_pairs)):
            if not present:
                continue
            special = self.num_special_tokens_to_add(pair) if add_special_tokens else 0
            if truncation.max_length < special:
                raise InputError(
                    f"max_length={truncation.max_length} leaves no room: {special} special tokens are added to "
                    f"each {'pair' if pair else 'sequence'}. Use max_length >= {special}."
                )
            budget = truncation.max_length - special
            if 0 < truncation.stride and budget <= truncation.stride:
                raise InputError(
                    f"stride={truncation.stride} must be smaller than the {budget} tokens left for text "
                    f"(max_length={truncation.max_length} minus {special} special tokens). Lower stride or raise "
                    "max_length."
                )

    def _batch_inputs(self, text: Any, text_pair: Any, is_split_into_words: bool) -> tuple[list, bool]:
        """Normalise the input forms into a list of `str`, word lists, or 2-tuples of them (pairs)."""
        if is_split_into_words:
            check = _check_words
            is_batched = isinstance(text, (list, tuple)) and bool(text) and isinstance(text[0], (list, tuple))
        else:
            check = _check_text
            is_batched = isinstance(text, (list, tuple))
        if not is_batched:
            first = check(text, "text")
            # As in the reference, an empty text_pair of a single input means "no pair".
            if text_pair is None or (isinstance(text_pair, str) and not text_pair):
                return [first], False
            return [(first, check(text_pair, "text_pair"))], False
        if text_pair is not None:
            if not isinstance(text_pair, (list, tuple)) or len(text_pair) != len(text):
                found = len(text_pair) if isinstance(text_pair, (list, tuple)) else type(text_pair).__name__
                raise InputError(f"text is a batch of {len(text)}; text_pair must be a list of the same length, got {found}.")
            return [(check(a, f"text[{i}]"), check(b, f"text_pair[{i}]")) for i, (a, b) in enumerate(zip(text, text_pair, strict=True))], True
        batch = []
        for index, item in enumerate(text):
            if isinstance(item, tuple) or (not is_split_into_words and isinstance(item, list)):
                if len(item) != 2:
                    raise InputError(
                        f"text[{index}] is a {type(item).__name__} of {len(item)} items; a pair needs exactly two texts "
                        "(pass is_split_into_words=True for pre-split words)."
                    )
                batch.append((check(item[0], f"text[{index}][0]"), check(item[1], f"text[{index}][1]")))
            else:
                batch.append(check(item, f"text[{index}]"))
        return batch, True

    def _warn_if_too_long(self, rows: list[list[int]]) -> None:
        if self._too_long_warned or is_unlimited(self.model_max_length):
            return
        longest = max((len(row) for row in rows), default=0)
        if longest > self.model_max_length:
            self._too_long_warned = True
            warnings.warn(
                f"a sequence of {longest} tokens is longer than model_max_length={self.model_max_length}; the model "
                "will fail on it. Pass truncation=True (and max_length=...) to cut it.",
                stacklevel=3,
            )

    def encode(
        self, text: Any, text_pair: Any = None, *, add_special_tokens: bool = True, **kwargs: Any
    ) -> list[int] | Any:
        """Just the ids: ``tok.encode("Hello world!") == [101, 7592, 2088, 999, 102]``."""
        return self(text, text_pair, add_special_tokens=add_special_tokens, **kwargs)["input_ids"]

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs: Any) -> list[str]:
        """The token strings: ``tok.tokenize("Unaffable!") == ['una', '##ff', '##able', '!']``."""
        return self(text, pair, add_special_tokens=add_special_tokens, **kwargs).tokens()

    def build_inputs_with_special_tokens(self, token_ids_0: list[int], token_ids_1: list[int] | None = None) -> list[int]:
        """``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]`` around already-encoded ids."""
        ids = [self.cls_token_id, *token_ids_0, self.sep_token_id]
        return ids if token_ids_1 is None else ids + [*token_ids_1, self.sep_token_id]

    def get_special_tokens_mask(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None, already_has_special_tokens: bool = False
    ) -> list[int]:
        """1 where `build_inputs_with_special_tokens` puts (or has put) a special token, 0 elsewhere."""
        if already_has_special_tokens:
            special = set(self.all_special_ids)
            return [1 if token_id in special else 0 for token_id in _to_python(token_ids_0)]
        mask = [1] + [0] * len(token_ids_0) + [1]
        return mask if token_ids_1 is None else mask + [0] * len(token_ids_1) + [1]

    # ---- padding of already-encoded features --------------------------------------------------------------------

    def pad(
        self,
        encoded_inputs: Any,
        padding: bool | str | PaddingStrategy = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
        verbose: bool = True,
    ) -> BatchEncoding:
        """Pad already-encoded features: one dict, a dict of lists, or a list of dicts (a collator's batch).

        >>> tok.pad([{"input_ids": [101, 7592, 102]}, {"input_ids": [101, 102]}], return_tensors="pt")  # doctest: +SKIP
        {'input_ids': tensor([[101, 7592, 102], [101, 102, 0]]), 'attention_mask': tensor([[1, 1, 1], [1, 1, 0]])}
        """
        if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], Mapping):
            keys = list(encoded_inputs[0].keys())
            for index, feature in enumerate(encoded_inputs):
                if not isinstance(feature, Mapping) or set(feature.keys()) != set(keys):
                    raise InputError(f"feature {index} has keys {sorted(feature) if isinstance(feature, Mapping) else feature!r}; "
                                     f"every feature needs the same keys as the first ({sorted(keys)}).")
            encoded_inputs = {key: [feature[key] for feature in encoded_inputs] for key in keys}
        if not isinstance(encoded_inputs, Mapping):
            raise InputError(f"pad takes a dict of features or a list of dicts, got {type(encoded_inputs).__name__}.")
        main = self.model_input_names[0]
        if main not in encoded_inputs:
            raise InputError(f"pad needs '{main}' among the features, got {sorted(encoded_inputs)}.")
        inputs = dict(encoded_inputs)
        required = inputs[main]
        if required is None or (hasattr(required, "__len__") and len(required) == 0):
            if return_attention_mask:
                inputs["attention_mask"] = []
            return BatchEncoding(inputs)
        first = required[0]
        if isinstance(first, (list, tuple)):
            first = next((row[0] for row in required if len(row)), first)
        if not isinstance(first, (int, list, tuple)) or isinstance(first, bool):
            if hasattr(first, "tolist"):  # torch tensors or numpy arrays: pad as lists, return the same kind
                if return_tensors is None:
                    return_tensors = "np" if isinstance(first, np.ndarray) or isinstance(first, np.generic) else "pt"
                inputs = {key: _to_python(value) if not isinstance(value, list) else [_to_python(row) for row in value]
                          for key, value in inputs.items()}
            else:
                raise InputError(f"'{main}' holds {type(first).__name__} values; expected ints, lists, arrays or tensors.")
        strategy, _, max_length = self._strategies(padding, False, max_length, None, verbose)
        side = _check_side("padding_side", padding_side) if padding_side is not None else self.padding_side
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        required = inputs[main]
        if required and not isinstance(required[0], (list, tuple)):
            padded = self._pad_features(inputs, max_length, strategy, pad_to_multiple_of, side, return_attention_mask)
            return BatchEncoding(padded, tensor_type=return_tensors)
        for key, value in inputs.items():
            if len(value) != len(required):
                raise InputError(f"feature '{key}' has {len(value)} rows but '{main}' has {len(required)}.")
        if strategy is PaddingStrategy.LONGEST:
            max_length = max(len(row) for row in required)
            strategy = PaddingStrategy.MAX_LENGTH
        rows: dict[str, list] = {}
        for index in range(len(required)):
            row = {key: value[index] for key, value in inputs.items()}
            padded = self._pad_features(row, max_length, strategy, pad_to_multiple_of, side, return_attention_mask)
            for key, value in padded.items():
                rows.setdefault(key, []).append(value)
        return BatchEncoding(rows, tensor_type=return_tensors)

    def _pad_features(
        self, features: dict, max_length: int | None, strategy: PaddingStrategy, multiple: int | None, side: str,
        return_attention_mask: bool,
    ) -> dict:
        main = self.model_input_names[0]
        ids = list(features[main])
        if strategy is PaddingStrategy.LONGEST:
            max_length = len(ids)
        if max_length is not None and multiple is not None and max_length % multiple:
            max_length = (max_length // multiple + 1) * multiple
        features = dict(features)
        if return_attention_mask and "attention_mask" not in features:
            features["attention_mask"] = [1] * len(ids)
        missing = (max_length or 0) - len(ids)
        if strategy is PaddingStrategy.DO_NOT_PAD or missing <= 0:
            return features
        fills = {main: self.pad_token_id, "token_type_ids": self.pad_token_type_id, "special_tokens_mask": 1}
        if return_attention_mask:
            fills["attention_mask"] = 0
        for key, fill in fills.items():
            if key in features:
                values = list(features[key])
                features[key] = values + [fill] * missing if side == "right" else [fill] * missing + values
        return features

    # ---- decoding ----------------------------------------------------------------------------------------------

    def decode(
        self, token_ids: Any, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None
    ) -> str | list[str]:
        """Ids -> text; a batch (list of lists, 2-D tensor) gives a list of texts.

        ``tok.decode([101, 7592, 1010, 2088, 999, 102]) == "[CLS] hello, world! [SEP]"``. Ids outside the vocabulary
        raise `InputError` (the reference drops them without a word).
        """
        ids = _to_python(token_ids)
        if isinstance(ids, dict) or isinstance(ids, UserDict):
            ids = _to_python(ids["input_ids"])
        if isinstance(ids, int) and not isinstance(ids, bool):
            ids = [ids]
        batched = isinstance(ids, (list, tuple)) and bool(ids) and isinstance(ids[0], (list, tuple))
        sequences = list(ids) if batched else [ids]
        checked = [self._check_ids(sequence, f" of sequence {index}" if batched else "")
                   for index, sequence in enumerate(sequences)]
        texts = self._decode_batch(checked, skip_special_tokens)
        cleanup = self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None else clean_up_tokenization_spaces
        if cleanup:
            texts = [clean_up_tokenization(text) for text in texts]
        return texts if batched else texts[0]

    def batch_decode(
        self, sequences: Any, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None
    ) -> list[str]:
        result = self.decode(sequences, skip_special_tokens, clean_up_tokenization_spaces)
        return [result] if isinstance(result, str) else result

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        """Join WordPiece tokens: ``["hello", ",", "wor", "##ld"] -> "hello, world"``."""
        return wordpiece_decode(tokens, self.continuing_subword_prefix)

    # ---- files -------------------------------------------------------------------------------------------------

    def _tokenizer_json(self) -> dict[str, Any]:
        """The `tokenizers` JSON of this tokenizer: what the reference (and our fast backend) loads."""
        cls, sep = self.cls_token, self.sep_token
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [token.to_json(token_id) for token_id, token in sorted(self._added_by_id.items())],
            "normalizer": {"type": "BertNormalizer", "clean_text": True,
                           "handle_chinese_chars": self.tokenize_chinese_chars, "strip_accents": self.strip_accents,
                           "lowercase": self.do_lower_case},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": cls, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                           {"SpecialToken": {"id": sep, "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": cls, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": sep, "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                         {"SpecialToken": {"id": sep, "type_id": 1}}],
                "special_tokens": {token: {"id": token, "ids": [self._token_to_id(token)], "tokens": [token]}
                                   for token in dict.fromkeys((cls, sep))},
            },
            "decoder": {"type": "WordPiece", "prefix": self.continuing_subword_prefix, "cleanup": True},
            "model": {"type": "WordPiece", "unk_token": self.unk_token,
                      "continuing_subword_prefix": self.continuing_subword_prefix,
                      "max_input_chars_per_word": self.max_input_chars_per_word, "vocab": self._vocab},
        }

    @atomic_save(*TOKENIZER_FILES)
    def save_pretrained(self, save_directory: str | os.PathLike) -> tuple[str, ...]:
        """Write tokenizer.json, tokenizer_config.json and (when ids have no gaps) vocab.txt, all at once: a kill
        mid-save leaves the folder's previous tokenizer, and tokenizer files of an older save are replaced.

        The reference loads the first two; vocab.txt lets older loaders and our slow tokenizer read it too.
        """
        directory = Path(save_directory)
        if directory.exists() and not directory.is_dir():
            raise InputError(f"save_pretrained needs a directory, but {directory} is a file.")
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        path = directory / "tokenizer.json"
        files.write_json_atomic(path, self._tokenizer_json())
        written.append(path)
        config: dict[str, Any] = {
            "tokenizer_class": "DistilBertTokenizer",
            "do_lower_case": self.do_lower_case,
            "strip_accents": self.strip_accents,
            "tokenize_chinese_chars": self.tokenize_chinese_chars,
            **{name: value for name, value in self._special.items()},
            "model_max_length": self.model_max_length,
            "padding_side": self.padding_side,
            "truncation_side": self.truncation_side,
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
            "split_special_tokens": self.split_special_tokens,
        }
        if self._extra_special:
            config["extra_special_tokens"] = list(self._extra_special)
        path = directory / "tokenizer_config.json"
        files.write_json_atomic(path, config)
        written.append(path)
        by_id = sorted(self._vocab.items(), key=lambda item: item[1])
        if by_id[-1][1] == len(by_id) - 1:
            path = directory / "vocab.txt"
            write_text_atomic(path, "".join(token + "\n" for token, _ in by_id))
            written.append(path)
        return tuple(str(path) for path in written)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        cache_dir: str | os.PathLike | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        **kwargs: Any,
    ) -> TokenizerBase:
        """Load from a directory (or Hub id) holding tokenizer.json and/or vocab.txt.

        Settings come, in rising precedence, from tokenizer.json's normaliser, special_tokens_map.json,
        tokenizer_config.json and `kwargs`; added tokens from tokenizer.json, tokenizer_config.json's
        `added_tokens_decoder` and added_tokens.json.
        """
        from distilkit.hub import resolve_file

        known = set(inspect.signature(TokenizerBase.__init__).parameters) - {"self", "vocab", "vocab_file"}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise InputError(f"unknown tokenizer argument(s) {unknown}; valid ones: {sorted(known)}.")

        def find(filename: str) -> Path | None:
            return resolve_file(pretrained_model_name_or_path, filename, cache_dir=cache_dir, revision=revision,
                                local_files_only=local_files_only, token=token, required=False)

        tokenizer_json, vocab_txt = find("tokenizer.json"), find("vocab.txt")
        if tokenizer_json is None and vocab_txt is None:
            raise CheckpointError(
                f"'{pretrained_model_name_or_path}' has neither tokenizer.json nor vocab.txt; a DistilBERT tokenizer "
                "needs one of them."
            )
        settings: dict[str, Any] = {}
        added: list[tuple[int, AddedToken]] = []
        extra: list[str] = []
        if tokenizer_json is not None:
            source = tokenizer_json
            loaded = files.read_tokenizer_json(tokenizer_json)
            vocab, added, model = loaded.vocab, loaded.added_tokens, loaded.model
            settings.update(loaded.settings)
            settings.update(model)
        else:
            source = vocab_txt
            vocab = files.read_vocab_txt(vocab_txt)
        special_map = find("special_tokens_map.json")
        if special_map is not None:
            named, extra = files.read_special_tokens_map(special_map)
            settings.update(named)
        config_path = find("tokenizer_config.json")
        if config_path is not None:
            config, config_added, config_extra = files.read_tokenizer_config(config_path)
            settings.update(config)
            added += config_added
            extra = config_extra or extra
        added_json = find("added_tokens.json")
        if added_json is not None:
            added += files.read_added_tokens_json(added_json)
        if extra:
            settings["additional_special_tokens"] = extra
        settings.update(kwargs)
        settings.setdefault("name_or_path", str(pretrained_model_name_or_path))
        unique: dict[int, AddedToken] = {}
        for token_id, added_token in added:
            unique.setdefault(token_id, added_token)
        try:
            return cls(vocab=vocab, added_tokens=sorted(unique.items()), **settings)
        except TokenizerError as error:
            raise TokenizerError(f"{source}: {error}") from error

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
            f"added_tokens={len(self._added_by_id)}, model_max_length={self.model_max_length}, "
            f"do_lower_case={self.do_lower_case}, padding_side={self.padding_side!r}, "
            f"truncation_side={self.truncation_side!r}, special_tokens={self.special_tokens_map})"
        )


def wordpiece_decode(tokens: list[str], prefix: str = "##") -> str:
    """Join tokens as the reference's WordPiece decoder does: glue `##` pieces, space the rest, and tidy each piece.

    ``["[CLS]", "hello", ",", "wor", "##ld", "[SEP]"] -> "[CLS] hello, world [SEP]"``. The tidying runs per token
    (``" ,"`` -> ``","``), so ``["it", "'", "s"]`` stays ``"it ' s"`` exactly as in the reference.
    """
    pieces = []
    for index, token in enumerate(tokens):
        if index > 0:
            token = token[len(prefix):] if prefix and token.startswith(prefix) else " " + token
        for dirty, clean in WORDPIECE_DECODER_REPLACEMENTS:
            token = token.replace(dirty, clean)
        pieces.append(token)
    return "".join(pieces)


def _enum(kind: type[Enum], value: Any, name: str, valid: str) -> Any:
    try:
        return kind(getattr(value, "value", value))
    except ValueError:
        raise InputError(f"{name}={value!r} is not valid; use one of {valid}.") from None


def _check_side(name: str, value: Any) -> str:
    if value not in ("right", "left"):
        raise InputError(f"{name}={value!r} is not valid; use 'right' or 'left'.")
    return value


def _check_model_max_length(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"model_max_length must be a positive int, got {value!r}.")
    return value


def _check_str(value: Any, name: str) -> str:
    if type(value) is str:
        if not value.isascii() and _SURROGATE.search(value):
            position = _SURROGATE.search(value).start()
            raise InputError(
                f"{name} holds a lone surrogate U+{ord(value[position]):04X} at index {position}, which is not valid "
                "Unicode text; repair it, e.g. text.encode('utf-8', 'replace').decode('utf-8')."
            )
        return value
    if isinstance(value, str):
        return _check_str(str(value), name)
    if isinstance(value, (bytes, bytearray)):
        raise InputError(f"{name} is bytes; decode it first, e.g. {name}.decode('utf-8').")
    raise InputError(f"{name} must be a str, got {type(value).__name__}: {value!r:.80}.")


def _check_text(value: Any, name: str) -> str:
    return _check_str(value, name)


def _check_words(value: Any, name: str) -> list[str]:
    if not isinstance(value, (list, tuple)):
        raise InputError(
            f"{name} must be a list of words with is_split_into_words=True, got {type(value).__name__}: {value!r:.80}."
        )
    return [_check_str(word, f"{name}[{index}]") for index, word in enumerate(value)]


def _content(token: Any) -> str:
    content = token if isinstance(token, str) else getattr(token, "content", None)
    if not isinstance(content, str):
        raise InputError(f"a token must be a str or an AddedToken, got {type(token).__name__}: {token!r}.")
    return content


def _as_added(token: Any, *, special: bool) -> AddedToken:
    """A str becomes an AddedToken (verbatim and special, or normalised and plain); AddedTokens keep their flags."""
    if isinstance(token, AddedToken):
        return token
    if isinstance(token, str):
        return AddedToken(token, normalized=not special, special=special)
    if hasattr(token, "content"):  # a `tokenizers.AddedToken`
        return AddedToken(
            _content(token), single_word=bool(token.single_word), lstrip=bool(token.lstrip),
            rstrip=bool(token.rstrip), normalized=bool(token.normalized), special=bool(token.special) or special,
        )
    raise InputError(f"a token must be a str or an AddedToken, got {type(token).__name__}: {token!r}.")
