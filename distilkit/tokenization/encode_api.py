"""The encode API of the tokenizers: `tokenizer(...)` / `encode` / `tokenize`, `pad` for encoded features, `decode`.

Call shapes follow the reference's (spec section 5.5): single texts, batches, pairs, pre-split words; padding,
truncation with overflow windows, offsets, special-token masks and tensors. Arguments are checked and resolved
into `Truncation` / `Padding` settings here; the tokenizer class turns text into `Encoding`s with them.
"""

from __future__ import annotations

import re
import warnings
from collections import UserDict
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from distilkit.constants import CLEAN_UP_REPLACEMENTS, WORDPIECE_DECODER_REPLACEMENTS, is_unlimited
from distilkit.errors import InputError
from distilkit.tokenization.batch_encoding import BatchEncoding, check_tensor_type, to_python

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


class EncodeAPI:
    """`tokenizer(...)`, `encode`, `tokenize`, `pad` and `decode` of `TokenizerBase` (which supplies the
    vocabulary, the special tokens and `_encode_batch` / `_decode_batch`)."""

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
            return_tensors = check_tensor_type(return_tensors)
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 0:
            raise InputError(f"stride must be an int >= 0, got {stride!r}.")
        padding_strategy, truncation_strategy, max_length = self._strategies(
            padding, truncation, max_length, pad_to_multiple_of, verbose
        )
        batch, is_batched = self._batch_inputs(text, text_pair, is_split_into_words)
        side = check_side("padding_side", padding_side) if padding_side is not None else self.padding_side
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
            check = check_str
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

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """2 for `[CLS] A [SEP]`, 3 for `[CLS] A [SEP] B [SEP]`."""
        return 3 if pair else 2

    @property
    def max_len_single_sentence(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(False)

    @property
    def max_len_sentences_pair(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(True)

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
            return [1 if token_id in special else 0 for token_id in to_python(token_ids_0)]
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
                inputs = {key: to_python(value) if not isinstance(value, list) else [to_python(row) for row in value]
                          for key, value in inputs.items()}
            else:
                raise InputError(f"'{main}' holds {type(first).__name__} values; expected ints, lists, arrays or tensors.")
        strategy, _, max_length = self._strategies(padding, False, max_length, None, verbose)
        side = check_side("padding_side", padding_side) if padding_side is not None else self.padding_side
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
        ids = to_python(token_ids)
        if isinstance(ids, dict) or isinstance(ids, UserDict):
            ids = to_python(ids["input_ids"])
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


def clean_up_tokenization(text: str) -> str:
    """Remove the spaces that decoding leaves before punctuation and English contractions.

    ``"hello , world ! it ' s"`` -> ``"hello, world! it's"``
    """
    for dirty, clean in CLEAN_UP_REPLACEMENTS:
        text = text.replace(dirty, clean)
    return text


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


def check_side(name: str, value: Any) -> str:
    if value not in ("right", "left"):
        raise InputError(f"{name}={value!r} is not valid; use 'right' or 'left'.")
    return value


def check_str(value: Any, name: str) -> str:
    if type(value) is str:
        if not value.isascii() and _SURROGATE.search(value):
            position = _SURROGATE.search(value).start()
            raise InputError(
                f"{name} holds a lone surrogate U+{ord(value[position]):04X} at index {position}, which is not valid "
                "Unicode text; repair it, e.g. text.encode('utf-8', 'replace').decode('utf-8')."
            )
        return value
    if isinstance(value, str):
        return check_str(str(value), name)
    if isinstance(value, (bytes, bytearray)):
        raise InputError(f"{name} is bytes; decode it first, e.g. {name}.decode('utf-8').")
    raise InputError(f"{name} must be a str, got {type(value).__name__}: {value!r:.80}.")


def _check_words(value: Any, name: str) -> list[str]:
    if not isinstance(value, (list, tuple)):
        raise InputError(
            f"{name} must be a list of words with is_split_into_words=True, got {type(value).__name__}: {value!r:.80}."
        )
    return [check_str(word, f"{name}[{index}]") for index, word in enumerate(value)]
