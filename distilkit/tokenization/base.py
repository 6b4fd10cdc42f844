"""`TokenizerBase`: the API shared by the slow and the fast DistilBERT tokenizer, put together from its parts.

The encode API is in `encode_api` (`tokenizer(...)`, `pad`, `decode`), the vocabulary and added-token table in
`added_tokens`, `BatchEncoding` in `batch_encoding`, reading and writing files in `files`. A subclass supplies only
`_encode_batch` (text -> `Encoding`s, truncated and padded by the Rust crate's rules) and `_decode_batch`.

Deliberate differences from the reference, all where it fails deep inside Rust or loses data without a word:
ids outside the vocabulary raise `InputError` in `decode`/`convert_ids_to_tokens` (the reference drops them or
returns None); a `stride` that leaves no room, a `max_length` below the special-token count (the reference then
silently skips truncation) and `truncation='only_second'` on single texts raise `InputError` up front;
`return_tensors` on rows of unequal length raises for 'np' too (not an object array); `padding='max_length'` or
truncation with no length to use warns; empty tokens cannot be added; `vocab_file=` is honoured; an empty batch
gives empty lists; `word_to_chars` of an absent word gives None.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from distilkit.constants import VERY_LARGE_INTEGER
from distilkit.errors import InputError, TokenizerError
from distilkit.tokenization import files
from distilkit.tokenization.added_tokens import AddedTokenTable, as_added_token, token_content
from distilkit.tokenization.batch_encoding import BatchEncoding, CharSpan, TokenSpan
from distilkit.tokenization.encode_api import (
    EncodeAPI,
    Padding,
    PaddingStrategy,
    Truncation,
    TruncationStrategy,
    check_side,
    clean_up_tokenization,
    wordpiece_decode,
)
from distilkit.tokenization.files import AddedToken, FileMethods

# Names this module held before the split, still importable from here.
__all__ = [
    "BatchEncoding", "CharSpan", "Padding", "PaddingStrategy", "TokenSpan", "TokenizerBase", "Truncation",
    "TruncationStrategy", "clean_up_tokenization", "wordpiece_decode",
]


class TokenizerBase(AddedTokenTable, EncodeAPI, FileMethods):
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
        self.padding_side = check_side("padding_side", padding_side)
        self.truncation_side = check_side("truncation_side", truncation_side)
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
            self._special[name] = None if value is None else token_content(value)
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
        self._extra_special = [token_content(token) for token in extra]
        self._register(
            [as_added_token(value, special=True) for value in named.values() if value is not None]
            + [as_added_token(token, special=True) for token in extra]
            + [AddedToken(token_content(token), normalized=False) for token in never_split or ()]
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

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
            f"added_tokens={len(self._added_by_id)}, model_max_length={self.model_max_length}, "
            f"do_lower_case={self.do_lower_case}, padding_side={self.padding_side!r}, "
            f"truncation_side={self.truncation_side!r}, special_tokens={self.special_tokens_map})"
        )


def _check_model_max_length(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"model_max_length must be a positive int, got {value!r}.")
    return value
