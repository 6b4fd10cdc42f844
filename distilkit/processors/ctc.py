"""Wav2Vec2 CTC tokenizer: text <-> character ids over a `vocab.json`, and CTC decoding of predicted ids.

Follows the reference's `Wav2Vec2CTCTokenizer`: a character vocabulary with `<pad>` (the CTC blank), `<s>`,
`</s>`, `<unk>` and the word delimiter `|` (a space in text); multi-character vocabulary entries are never
split; decoding merges repeated frames, drops the blank, maps `|` to a space, and can report character and
word offsets (in frames). Its files (`vocab.json`, `tokenizer_config.json`, `added_tokens.json` when needed)
are written as the reference writes them. Deliberate differences: with `skip_special_tokens=True` the blank
still separates repeated characters and offsets stay in frames of the input (the reference drops special
tokens before merging, turning "L _ L" into one L and shifting offsets), and ids outside the vocabulary raise
instead of decoding to `<unk>`.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._io import atomic_save
from ..constants import CLEAN_UP_REPLACEMENTS, VERY_LARGE_INTEGER
from ..errors import ConfigError, InputError, TokenizerError
from .base import (
    BatchFeature,
    check_positive_int,
    check_return_tensors,
    is_torch_tensor,
    prepare_save_directory,
    read_json,
    read_json_object,
    resolve,
    split_hub_kwargs,
    tensor_to_numpy,
    write_json,
)

logger = logging.getLogger(__name__)

VOCAB_FILE = "vocab.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
ADDED_TOKENS_FILE = "added_tokens.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
# The reference's "no length limit" value, written to tokenizer_config.json as is.
SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token")
INIT_KEYS = SPECIAL_TOKEN_KEYS + (
    "word_delimiter_token",
    "replace_word_delimiter_char",
    "do_lower_case",
    "target_lang",
    "clean_up_tokenization_spaces",
    "model_max_length",
)
# Keys of the reference's tokenizer_config.json that describe the file or its loader, not the tokenizer:
# recomputed on save (added_tokens_decoder, tokenizer_class, backend) or dropped.
SERVICE_KEYS = (
    "added_tokens_decoder",
    "tokenizer_class",
    "backend",
    "processor_class",
    "name_or_path",
    "special_tokens_map_file",
    "tokenizer_file",
    "is_local",
    "local_files_only",
    "vocab_file",
)


@dataclass(frozen=True)
class Wav2Vec2CTCTokenizerOutput:
    """Decoded text with optional offsets; offsets are frame indices `[start_offset, end_offset)`.

    `char_offsets`: `[{"char", "start_offset", "end_offset"}, ...]`, `word_offsets`: `[{"word", ...}, ...]`
    (one list per sequence after `batch_decode`). Also readable by key: `output["text"]`.
    """

    text: str | list[str]
    char_offsets: list | None = None
    word_offsets: list | None = None

    def __getitem__(self, key: str) -> Any:
        if key not in ("text", "char_offsets", "word_offsets"):
            raise KeyError(key)
        return getattr(self, key)


@dataclass(frozen=True)
class _NoSplitToken:
    """A token matched whole in text; `strip` eats the whitespace around it, as the reference's do."""

    strip: bool
    special: bool


class Wav2Vec2CTCTokenizer:
    """Character-level tokenizer for CTC speech models.

    >>> vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "H": 5, "I": 6}
    >>> tokenizer = Wav2Vec2CTCTokenizer(vocab=vocab)
    >>> tokenizer("HI HI")["input_ids"]
    [5, 6, 4, 5, 6]
    >>> tokenizer.decode([5, 5, 0, 6, 4, 4, 5, 6, 6])
    'HI HI'
    """

    model_input_names: ClassVar[list[str]] = ["input_ids", "attention_mask"]

    def __init__(
        self,
        vocab_file: str | os.PathLike | None = None,
        bos_token: str | None = "<s>",
        eos_token: str | None = "</s>",
        unk_token: str = "<unk>",
        pad_token: str = "<pad>",
        word_delimiter_token: str | None = "|",
        replace_word_delimiter_char: str = " ",
        do_lower_case: bool = False,
        target_lang: str | None = None,
        *,
        vocab: dict[str, Any] | None = None,
        added_tokens: dict[str, dict[str, Any]] | None = None,
        clean_up_tokenization_spaces: bool = False,
        model_max_length: int = VERY_LARGE_INTEGER,
    ) -> None:
        if (vocab_file is None) == (vocab is None):
            raise TokenizerError("Pass exactly one of vocab_file= (a vocab.json path) or vocab= (a dict).")
        source = "the vocab dict"
        if vocab_file is not None:
            source = f"'{vocab_file}'"
            vocab = read_json(vocab_file, "vocab file", TokenizerError)
        self.vocab = self._check_vocab_json(vocab, source, target_lang)
        self.encoder: dict[str, int] = self._check_vocabulary(
            self.vocab[target_lang] if target_lang is not None else self.vocab, source
        )
        for name, value in (
            ("bos_token", bos_token),
            ("eos_token", eos_token),
            ("word_delimiter_token", word_delimiter_token),
        ):
            if value is not None and (not isinstance(value, str) or not value):
                raise TokenizerError(f"{name}={value!r} must be a non-empty string or None.")
        for name, value in (("unk_token", unk_token), ("pad_token", pad_token)):
            if not isinstance(value, str) or not value:
                raise TokenizerError(f"{name}={value!r} must be a non-empty string.")
        if not isinstance(replace_word_delimiter_char, str):
            raise TokenizerError(
                f"replace_word_delimiter_char={replace_word_delimiter_char!r} must be a string."
            )
        for name, value in (
            ("do_lower_case", do_lower_case),
            ("clean_up_tokenization_spaces", clean_up_tokenization_spaces),
        ):
            if not isinstance(value, bool):
                raise TokenizerError(f"{name}={value!r} must be a bool.")
        self.bos_token, self.eos_token, self.unk_token, self.pad_token = (
            bos_token,
            eos_token,
            unk_token,
            pad_token,
        )
        self.word_delimiter_token = word_delimiter_token
        self.replace_word_delimiter_char = replace_word_delimiter_char
        self.do_lower_case = do_lower_case
        self.target_lang = target_lang
        self.clean_up_tokenization_spaces = clean_up_tokenization_spaces
        self.model_max_length = check_positive_int("model_max_length", model_max_length)
        self.extras: dict[str, Any] = {}
        for name, token in (
            ("pad_token", pad_token),
            ("unk_token", unk_token),
            ("word_delimiter_token", word_delimiter_token),
        ):
            if token is not None and token not in self.encoder:
                raise TokenizerError(
                    f"The vocabulary ({source}) has no {name} {token!r}; a CTC vocabulary needs "
                    f"it. Add {token!r} to vocab.json, or pass {name}= the entry your vocabulary "
                    "uses for it."
                )
        self.added_encoder: dict[str, int] = {}
        self._no_split: dict[str, _NoSplitToken] = {
            token: _NoSplitToken(strip=True, special=False) for token in self.encoder if len(token) > 1
        }
        self._add_tokens(added_tokens or {}, source)
        # Special tokens missing from the vocabulary get the next ids, as the reference appends them.
        for token in (bos_token, eos_token):
            if token is not None and token not in self.encoder and token not in self.added_encoder:
                self.added_encoder[token] = max([*self.encoder.values(), *self.added_encoder.values()]) + 1
        for token in self.special_tokens_with_delimiter():
            self._no_split.setdefault(token, _NoSplitToken(strip=False, special=True))
        self.decoder: dict[int, str] = {
            index: token for token, index in {**self.encoder, **self.added_encoder}.items()
        }
        self._no_split_pattern = (
            re.compile(
                "|".join(  # longest first, so the longest token at a position wins
                    re.escape(token) for token in sorted(self._no_split, key=len, reverse=True)
                )
            )
            if self._no_split
            else None
        )

    @staticmethod
    def _check_vocab_json(vocab: Any, source: str, target_lang: str | None) -> dict[str, Any]:
        if not isinstance(vocab, dict) or not vocab:
            raise TokenizerError(f"The vocabulary ({source}) must be a non-empty JSON object of token -> id.")
        nested = all(isinstance(value, dict) for value in vocab.values())
        if target_lang is not None:
            if not nested or target_lang not in vocab:
                kind = f"has the languages {sorted(vocab)}" if nested else "is not multilingual (nested)"
                raise TokenizerError(
                    f"target_lang={target_lang!r} is given but the vocabulary ({source}) {kind}."
                )
        elif nested:
            raise TokenizerError(
                f"The vocabulary ({source}) is multilingual (one vocabulary per language); pass "
                f"target_lang= one of {sorted(vocab)[:20]}."
            )
        return vocab

    @staticmethod
    def _check_vocabulary(encoder: Any, source: str) -> dict[str, int]:
        if not isinstance(encoder, dict) or not encoder:
            raise TokenizerError(f"The vocabulary ({source}) must be a non-empty JSON object of token -> id.")
        seen: dict[int, str] = {}
        for token, index in encoder.items():
            if not isinstance(token, str) or not token:
                raise TokenizerError(
                    f"The vocabulary ({source}) has an empty token; every token needs a character."
                )
            if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                raise TokenizerError(
                    f"The vocabulary ({source}) maps {token!r} to {index!r}; ids must be "
                    "non-negative integers."
                )
            if index in seen:
                raise TokenizerError(
                    f"The vocabulary ({source}) gives id {index} to both {seen[index]!r} and "
                    f"{token!r}; every id must name one token."
                )
            seen[index] = token
        return dict(encoder)

    def _add_tokens(self, added_tokens: dict[str, dict[str, Any]], source: str) -> None:
        """Tokens from a saved `added_tokens_decoder` / `added_tokens.json` outside the vocabulary."""
        for token, entry in added_tokens.items():
            index = entry.get("id")
            if isinstance(index, bool) or not isinstance(index, int) or index < 0 or not token:
                raise TokenizerError(
                    f"Added token {token!r} has id {index!r} ({source}); ids must be non-negative integers."
                )
            if token in self.encoder:
                if self.encoder[token] != index:
                    raise TokenizerError(
                        f"Added token {token!r} has id {index}, but the vocabulary gives it id "
                        f"{self.encoder[token]}; the tokenizer files disagree."
                    )
                continue
            clash = [
                other
                for other, other_index in {**self.encoder, **self.added_encoder}.items()
                if other_index == index
            ]
            if clash:
                raise TokenizerError(
                    f"Added token {token!r} has id {index}, which already belongs to "
                    f"{clash[0]!r}; the tokenizer files disagree."
                )
            self.added_encoder[token] = index
            self._no_split[token] = _NoSplitToken(
                strip=bool(entry.get("lstrip")) and bool(entry.get("rstrip")),
                special=bool(entry.get("special")),
            )

    # ----------------------------------------------------------------------------------------- vocabulary

    @property
    def vocab_size(self) -> int:
        """Size of the base vocabulary (without added tokens), as the reference counts it."""
        return len(self.encoder)

    def __len__(self) -> int:
        return len(self.decoder)

    def get_vocab(self) -> dict[str, int]:
        return {**self.encoder, **self.added_encoder}

    def special_tokens_with_delimiter(self) -> list[str]:
        tokens = [self.bos_token, self.eos_token, self.unk_token, self.pad_token, self.word_delimiter_token]
        return [token for token in tokens if token is not None]

    @property
    def all_special_tokens(self) -> list[str]:
        """The tokens `skip_special_tokens=True` removes: bos, eos, unk, pad and added special tokens."""
        tokens = [self.bos_token, self.eos_token, self.unk_token, self.pad_token]
        tokens += [token for token in self.added_encoder if self._no_split[token].special]
        return list(
            dict.fromkeys(
                token for token in tokens if token is not None and token != self.word_delimiter_token
            )
        )

    @property
    def all_special_ids(self) -> list[int]:
        return [self.convert_tokens_to_ids(token) for token in self.all_special_tokens]

    def convert_tokens_to_ids(self, tokens: str | list[str]) -> int | list[int]:
        """Ids of tokens; a token outside the vocabulary gets the `unk_token` id."""
        vocabulary = self.get_vocab()
        unk_id = vocabulary[self.unk_token]
        if isinstance(tokens, str):
            return vocabulary.get(tokens, unk_id)
        return [vocabulary.get(token, unk_id) for token in tokens]

    def convert_ids_to_tokens(self, ids: Any, skip_special_tokens: bool = False) -> str | list[str]:
        """Tokens of ids (the word delimiter is kept even with `skip_special_tokens=True`)."""
        if isinstance(ids, (int, np.integer)) and not isinstance(ids, bool):
            return self.decoder[self._check_ids([ids])[0]]
        skipped = set(self.all_special_tokens) if skip_special_tokens else set()
        tokens = [self.decoder[index] for index in self._check_ids(ids)]
        return [token for token in tokens if token not in skipped]

    def _token_id(self, name: str) -> int | None:
        token = getattr(self, name)
        return None if token is None else self.convert_tokens_to_ids(token)

    pad_token_id = property(lambda self: self._token_id("pad_token"))
    unk_token_id = property(lambda self: self._token_id("unk_token"))
    bos_token_id = property(lambda self: self._token_id("bos_token"))
    eos_token_id = property(lambda self: self._token_id("eos_token"))
    word_delimiter_token_id = property(lambda self: self._token_id("word_delimiter_token"))

    # -------------------------------------------------------------------------------------------- encode

    def tokenize(self, text: str) -> list[str]:
        """Split text into tokens: whole vocabulary entries of several characters, else single characters.

        A space becomes the word delimiter; with `do_lower_case` text is upper-cased (the vocabulary's case).
        """
        if not isinstance(text, str):
            raise InputError(f"Text must be a str, got {type(text).__name__}.")
        pieces: list[tuple[str, bool]] = []  # (text, is a no-split token)
        position = 0
        for match in self._no_split_pattern.finditer(text) if self._no_split_pattern else ():
            pieces += [(text[position : match.start()], False), (match.group(), True)]
            position = match.end()
        pieces.append((text[position:], False))
        for index, (piece, whole) in enumerate(pieces):
            if whole and self._no_split[piece].strip:
                if index + 1 < len(pieces) and not pieces[index + 1][1]:
                    pieces[index + 1] = (pieces[index + 1][0].lstrip(), False)
                if index > 0 and not pieces[index - 1][1]:
                    pieces[index - 1] = (pieces[index - 1][0].rstrip(), False)
        tokens: list[str] = []
        for piece, whole in pieces:
            if whole:
                tokens.append(piece)
                continue
            if self.do_lower_case:
                piece = piece.upper()
            delimiter = self.word_delimiter_token if self.word_delimiter_token is not None else " "
            tokens += [delimiter if character == " " else character for character in piece]
        return tokens

    def encode(self, text: str) -> list[int]:
        return self.convert_tokens_to_ids(self.tokenize(text))

    def __call__(
        self,
        text: str | list[str],
        padding: bool | str = False,
        truncation: bool = False,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
    ) -> BatchFeature:
        """Encode a text or a batch of texts to `input_ids` and `attention_mask` (adds no special tokens).

        Padding (right, with the pad id) is True / 'longest', 'max_length' (with `max_length=`) or False.
        """
        check_return_tensors(return_tensors)
        batched = isinstance(text, (list, tuple))
        texts = list(text) if batched else [text]
        if batched and not texts:
            raise InputError("Got an empty list of texts; pass at least one string.")
        for index, item in enumerate(texts):
            if not isinstance(item, str):
                raise InputError(f"Text {index} is a {type(item).__name__}; pass a str or a list of str.")
        max_length = check_positive_int("max_length", max_length, allow_none=True)
        ids = [self.encode(item) for item in texts]
        if truncation:
            ids = [row[: max_length or self.model_max_length] for row in ids]
        padded = self._pad_rows(ids, padding, max_length, pad_to_multiple_of)
        ids, masks = padded["input_ids"], padded["attention_mask"]
        outputs = {"input_ids": ids if batched else ids[0]}
        if return_attention_mask is not False:
            outputs["attention_mask"] = masks if batched else masks[0]
        return BatchFeature(outputs, tensor_type=return_tensors)

    def pad(
        self,
        encoded_inputs: Any,
        padding: bool | str = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
    ) -> BatchFeature:
        """Pad already-encoded `input_ids` (a dict of lists, or a list of dicts, as a data collator has)."""
        if (
            isinstance(encoded_inputs, (list, tuple))
            and encoded_inputs
            and all(isinstance(item, dict) for item in encoded_inputs)
        ):
            encoded_inputs = {"input_ids": [item.get("input_ids") for item in encoded_inputs]}
        if not isinstance(encoded_inputs, dict) or "input_ids" not in encoded_inputs:
            raise InputError("pad() needs a dict with 'input_ids' (or a list of such dicts).")
        rows = [self._check_ids(row) for row in encoded_inputs["input_ids"]]
        if not rows:
            raise InputError("pad() got no sequences; pass at least one.")
        batch = self._pad_rows(rows, padding, max_length, pad_to_multiple_of)
        if return_attention_mask is False:
            batch.pop("attention_mask")
        return BatchFeature(batch, tensor_type=return_tensors)

    # -------------------------------------------------------------------------------------------- decode

    def decode(
        self,
        token_ids: Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        output_char_offsets: bool = False,
        output_word_offsets: bool = False,
        group_tokens: bool = True,
        spaces_between_special_tokens: bool = False,
    ) -> str | Wav2Vec2CTCTokenizerOutput:
        """CTC-decode one sequence of predicted ids (e.g. `logits.argmax(-1)` of one utterance).

        Repeated ids merge (unless `group_tokens=False`), the pad/blank token is dropped, the word delimiter
        becomes a space. With offsets, returns a `Wav2Vec2CTCTokenizerOutput` whose offsets count frames.
        """
        if isinstance(token_ids, (int, np.integer)) and not isinstance(token_ids, bool):
            token_ids = [token_ids]
        tokens = [self.decoder[index] for index in self._check_ids(token_ids)]
        runs: list[list[Any]] = []  # [token, start frame, end frame)
        for frame, token in enumerate(tokens):
            if group_tokens and runs and runs[-1][0] == token:
                runs[-1][2] = frame + 1
            else:
                runs.append([token, frame, frame + 1])
        # The blank only ever separates frames; other special tokens go only when asked (after merging, so a
        # blank between two equal characters keeps them two characters).
        dropped = {self.pad_token} | (set(self.all_special_tokens) if skip_special_tokens else set())
        kept = [
            (self.replace_word_delimiter_char if token == self.word_delimiter_token else token, start, end)
            for token, start, end in runs
            if token not in dropped
        ]
        text = (" " if spaces_between_special_tokens else "").join(char for char, _, _ in kept).strip()
        if self.do_lower_case:
            text = text.lower()
        if (
            self.clean_up_tokenization_spaces
            if clean_up_tokenization_spaces is None
            else clean_up_tokenization_spaces
        ):
            for before, after in CLEAN_UP_REPLACEMENTS:
                text = text.replace(before, after)
        if not (output_char_offsets or output_word_offsets):
            return text
        char_offsets = [{"char": char, "start_offset": start, "end_offset": end} for char, start, end in kept]
        return Wav2Vec2CTCTokenizerOutput(
            text=text,
            char_offsets=char_offsets if output_char_offsets else None,
            word_offsets=self._word_offsets(char_offsets) if output_word_offsets else None,
        )

    def _word_offsets(self, char_offsets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Words are maximal runs of characters between delimiters, from their first to their last frame."""
        words: list[dict[str, Any]] = []
        in_word = False
        for offset in char_offsets:
            if offset["char"] == self.replace_word_delimiter_char:
                in_word = False
            elif in_word:
                words[-1]["word"] += offset["char"]
                words[-1]["end_offset"] = offset["end_offset"]
            else:
                words.append(
                    {
                        "word": offset["char"],
                        "start_offset": offset["start_offset"],
                        "end_offset": offset["end_offset"],
                    }
                )
                in_word = True
        return words

    def batch_decode(
        self,
        sequences: Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        output_char_offsets: bool = False,
        output_word_offsets: bool = False,
        **kwargs: Any,
    ) -> list[str] | Wav2Vec2CTCTokenizerOutput:
        """`decode` each row of a batch (a list of id sequences, or a 2-d array / tensor)."""
        if is_torch_tensor(sequences):
            sequences = tensor_to_numpy(sequences)
        if isinstance(sequences, np.ndarray) and sequences.ndim != 2:
            raise InputError(
                f"batch_decode needs a 2-d (batch, frames) array of ids, got shape {sequences.shape}."
            )
        if not isinstance(sequences, (list, tuple, np.ndarray)):
            raise InputError(f"batch_decode needs a list of id sequences, got {type(sequences).__name__}.")
        decoded = [
            self.decode(
                row,
                skip_special_tokens=skip_special_tokens,
                clean_up_tokenization_spaces=clean_up_tokenization_spaces,
                output_char_offsets=output_char_offsets,
                output_word_offsets=output_word_offsets,
                **kwargs,
            )
            for row in sequences
        ]
        if not (output_char_offsets or output_word_offsets):
            return decoded
        return Wav2Vec2CTCTokenizerOutput(
            text=[item.text for item in decoded],
            char_offsets=[item.char_offsets for item in decoded] if output_char_offsets else None,
            word_offsets=[item.word_offsets for item in decoded] if output_word_offsets else None,
        )

    def _check_ids(self, token_ids: Any) -> list[int]:
        """A flat list of ids in the vocabulary, from a list, a 1-d numpy array or a 1-d torch tensor."""
        if is_torch_tensor(token_ids):
            token_ids = tensor_to_numpy(token_ids)
        if not isinstance(token_ids, (list, tuple, np.ndarray)):
            raise InputError(
                f"Token ids must be a list, numpy array or torch tensor of ints, got "
                f"{type(token_ids).__name__}."
            )
        try:
            array = np.asarray(token_ids)
        except ValueError:  # ragged nesting
            raise InputError(
                "Token ids must be one flat sequence of ints; use batch_decode for a batch."
            ) from None
        if array.size == 0:
            return []
        if array.ndim != 1:
            raise InputError(
                f"decode takes one sequence of ids, got shape {array.shape}; use batch_decode for a "
                "batch (and take the argmax over the vocabulary axis of logits first)."
            )
        if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
            raise InputError(
                f"Token ids must be integers, got dtype {array.dtype}; for logits pass logits.argmax(-1)."
            )
        ids = array.tolist()
        unknown = [index for index in ids if index not in self.decoder]
        if unknown:
            raise InputError(
                f"Id {unknown[0]} is not in the vocabulary (ids 0..{max(self.decoder)}); the ids do not "
                "come from a model with this tokenizer's vocabulary."
            )
        return ids

    def _pad_rows(
        self,
        rows: list[list[int]],
        padding: bool | str,
        max_length: int | None,
        pad_to_multiple_of: int | None,
    ) -> dict[str, list[list[int]]]:
        if padding not in (True, False, "longest", "max_length", "do_not_pad"):
            raise InputError(f"padding={padding!r}; use True / 'longest', 'max_length' or False.")
        max_length = check_positive_int("max_length", max_length, allow_none=True)
        pad_to_multiple_of = check_positive_int("pad_to_multiple_of", pad_to_multiple_of, allow_none=True)
        target = None
        if padding in (True, "longest"):
            target = max(len(row) for row in rows)
        elif padding == "max_length":
            if max_length is None:
                raise InputError("padding='max_length' needs max_length=.")
            target = max_length
        if target is not None and pad_to_multiple_of is not None:
            target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
        missing = [max(0, (target or 0) - len(row)) for row in rows]
        return {
            "input_ids": [
                row + [self.pad_token_id] * count for row, count in zip(rows, missing, strict=True)
            ],
            "attention_mask": [
                [1] * len(row) + [0] * count for row, count in zip(rows, missing, strict=True)
            ],
        }

    # ------------------------------------------------------------------------------------------ save / load

    def tokenizer_config(self) -> dict[str, Any]:
        """The content of `tokenizer_config.json`, with the keys the reference writes."""
        added_tokens_decoder = {}
        vocabulary = self.get_vocab()
        for token, flags in self._no_split.items():
            added_tokens_decoder[str(vocabulary[token])] = {
                "content": token,
                "lstrip": flags.strip,
                "normalized": False,
                "rstrip": flags.strip,
                "single_word": False,
                "special": flags.special,
            }
        config = dict(self.extras)
        config.update(
            {
                "added_tokens_decoder": added_tokens_decoder,
                "backend": "custom",
                "bos_token": self.bos_token,
                "do_lower_case": self.do_lower_case,
                "eos_token": self.eos_token,
                "model_max_length": self.model_max_length,
                "pad_token": self.pad_token,
                "replace_word_delimiter_char": self.replace_word_delimiter_char,
                "target_lang": self.target_lang,
                "tokenizer_class": type(self).__name__,
                "unk_token": self.unk_token,
                "word_delimiter_token": self.word_delimiter_token,
            }
        )
        if self.clean_up_tokenization_spaces:
            config["clean_up_tokenization_spaces"] = True
        return config

    @atomic_save(TOKENIZER_CONFIG_FILE, VOCAB_FILE, ADDED_TOKENS_FILE, SPECIAL_TOKENS_MAP_FILE)
    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> tuple[str, ...]:
        """Write `tokenizer_config.json`, `vocab.json` and (for tokens outside it) `added_tokens.json`, all at once;
        the tokenizer files of an older save are replaced."""
        directory = prepare_save_directory(save_directory)
        written = [
            write_json(directory / TOKENIZER_CONFIG_FILE, self.tokenizer_config()),
            write_json(directory / VOCAB_FILE, self.vocab, ensure_ascii=False),
        ]
        if self.added_encoder:
            written.append(write_json(directory / ADDED_TOKENS_FILE, self.added_encoder, ensure_ascii=False))
        return tuple(str(path) for path in written)

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any
    ) -> Wav2Vec2CTCTokenizer:
        """Load from a directory or Hub id with `vocab.json` (+ `tokenizer_config.json`, older files).

        Other keyword arguments override the saved settings (e.g. `target_lang=`, `do_lower_case=`).
        """
        hub_kwargs, overrides = split_hub_kwargs(kwargs)
        unknown = sorted(set(overrides) - set(INIT_KEYS))
        if unknown:
            raise ConfigError(
                f"{cls.__name__} has no setting(s) {unknown}; valid settings: {list(INIT_KEYS)}."
            )
        name = pretrained_model_name_or_path
        vocab_file = resolve(name, VOCAB_FILE, hub_kwargs)
        config_file = resolve(name, TOKENIZER_CONFIG_FILE, hub_kwargs, required=False)
        config = read_json_object(config_file, "tokenizer config", TokenizerError) if config_file else {}
        special_file = resolve(name, SPECIAL_TOKENS_MAP_FILE, hub_kwargs, required=False)
        if special_file is not None:  # older checkpoints keep the special tokens here
            for key, value in read_json_object(special_file, "special tokens map", TokenizerError).items():
                if key in SPECIAL_TOKEN_KEYS:
                    config.setdefault(key, value)
        saved_class = config.get("tokenizer_class")
        if saved_class not in (None, cls.__name__):
            logger.warning("Loading a tokenizer saved as %r into %s.", saved_class, cls.__name__)
        settings = {key: _token_content(config[key]) for key in INIT_KEYS if key in config}
        settings.update(overrides)
        added_file = resolve(name, ADDED_TOKENS_FILE, hub_kwargs, required=False)
        added = _added_tokens(config.get("added_tokens_decoder"), added_file, config_file)
        tokenizer = cls(vocab_file, added_tokens=added, **settings)
        tokenizer.extras = {
            key: value for key, value in config.items() if key not in INIT_KEYS and key not in SERVICE_KEYS
        }
        return tokenizer

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(vocab_size={self.vocab_size}, added={len(self.added_encoder)}, "
            f"special={self.special_tokens_with_delimiter()}, do_lower_case={self.do_lower_case})"
        )


def _token_content(value: Any) -> Any:
    """A special token as saved: a string, or the reference's AddedToken object `{"content": ..., ...}`."""
    if isinstance(value, dict) and "content" in value:
        return value["content"]
    return value


def _added_tokens(
    decoder: Any, added_file: Path | None, config_file: Path | None
) -> dict[str, dict[str, Any]]:
    """token -> {"id", flags} from `added_tokens_decoder` and the older `added_tokens.json`."""
    added: dict[str, dict[str, Any]] = {}
    if decoder is not None:
        if not isinstance(decoder, dict):
            raise TokenizerError(
                f"'{config_file}' has added_tokens_decoder of type {type(decoder).__name__}; "
                "it must be an object of id -> token."
            )
        for index, entry in decoder.items():
            if not (
                isinstance(entry, dict) and isinstance(entry.get("content"), str) and str(index).isdigit()
            ):
                raise TokenizerError(
                    f"'{config_file}' has a malformed added_tokens_decoder entry {index!r}: {entry!r}."
                )
            added[entry["content"]] = {**entry, "id": int(index)}
    if added_file is not None:
        legacy = read_json_object(added_file, "added tokens file", TokenizerError)
        for token, index in legacy.items():
            added.setdefault(token, {"id": index})
    return added
