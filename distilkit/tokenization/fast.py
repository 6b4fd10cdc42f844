"""The fast DistilBERT tokenizer: the same pipeline assembled on the Rust `tokenizers` library.

BertNormalizer -> BertPreTokenizer -> WordPiece -> TemplateProcessing ([CLS] A [SEP] B [SEP]) -> WordPiece decoder,
built from the JSON that `save_pretrained` writes, so saved files and the live backend cannot drift apart. Batches
are encoded, truncated and padded in native code. A Rust panic (`pyo3_runtime.PanicException`, a BaseException)
never escapes: settings that would panic are rejected with `InputError` before encoding, and any other failure
of the backend becomes `TokenizerError`.
"""

from __future__ import annotations

import json
import threading

from tokenizers import AddedToken as RustAddedToken
from tokenizers import Tokenizer, processors

from distilkit.errors import TokenizerError
from distilkit.tokenization.base import TokenizerBase
from distilkit.tokenization.encode_api import Padding, Truncation
from distilkit.tokenization.encoding import plan_truncation
from distilkit.tokenization.files import AddedToken
from distilkit.tokenization.wordpiece import DistilBertTokenizer


class DistilBertTokenizerFast(TokenizerBase):
    """The Rust-backed DistilBERT tokenizer (the default one; `AutoTokenizer` picks it unless `use_fast=False`).

    >>> tok = DistilBertTokenizerFast.from_pretrained("path/to/model")                       # doctest: +SKIP
    >>> tok(["Hello world!", "Hi"], padding=True, return_tensors="pt")["input_ids"].shape  # doctest: +SKIP
    torch.Size([2, 5])
    """

    is_fast = True
    slow_tokenizer_class = DistilBertTokenizer

    def _setup_backend(self) -> None:
        self._backend = Tokenizer.from_str(json.dumps(self._tokenizer_json()))
        # One backend holds the truncation/padding settings of the call in progress; the lock keeps concurrent
        # callers (a server's worker threads) from encoding with each other's settings.
        self._lock = threading.Lock()
        self._settings: tuple | None = None

    def __getstate__(self) -> dict:
        # A lock cannot be pickled (DataLoader workers, deepcopy); each copy gets its own.
        return {key: value for key, value in self.__dict__.items() if key != "_lock"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def backend_tokenizer(self) -> Tokenizer:
        """The underlying `tokenizers.Tokenizer`. Its truncation and padding are set by each call; change them
        through call arguments, not on this object."""
        return self._backend

    def _normalize_text(self, text: str) -> str:
        return self._backend.normalizer.normalize_str(text)

    def _tokens_changed(self, new: list[tuple[int, AddedToken]]) -> None:
        with self._lock:
            self._settings = None
            if new and self._add_to_backend(new):
                self._backend.post_processor = self._template()
                return
            # A special-token change without new tokens (or ids the backend numbered differently): rebuild from
            # our token table, which is authoritative. Rare, and about 20 ms for a 30k vocabulary.
            self._backend = Tokenizer.from_str(json.dumps(self._tokenizer_json()))

    def _add_to_backend(self, new: list[tuple[int, AddedToken]]) -> bool:
        """Add tokens to the live backend; False if it gave any of them another id than ours."""
        for token_id, token in new:
            rust_token = RustAddedToken(token.content, single_word=token.single_word, lstrip=token.lstrip,
                                        rstrip=token.rstrip, normalized=token.normalized, special=token.special)
            if token.special:
                self._backend.add_special_tokens([rust_token])
            else:
                self._backend.add_tokens([rust_token])
            if self._backend.token_to_id(token.content) != token_id:
                return False
        return True

    def _template(self) -> processors.TemplateProcessing:
        cls, sep = self.cls_token, self.sep_token
        return processors.TemplateProcessing(
            single=f"{cls}:0 $A:0 {sep}:0",
            pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
            special_tokens=[(cls, self.cls_token_id), (sep, self.sep_token_id)],
        )

    def _configure(self, truncation: Truncation | None, padding: Padding | None, split_special_tokens: bool) -> None:
        """Set the backend's truncation/padding for this call; skipped when the previous call used the same."""
        settings = (truncation, padding, split_special_tokens)
        if settings == self._settings:
            return
        backend = self._backend
        if truncation is None:
            backend.no_truncation()
        else:
            backend.enable_truncation(truncation.max_length, stride=truncation.stride, strategy=truncation.strategy,
                                      direction=truncation.direction)
        if padding is None:
            backend.no_padding()
        else:
            backend.enable_padding(direction=padding.direction, pad_id=self.pad_token_id,
                                   pad_type_id=self.pad_token_type_id, pad_token=self.pad_token,
                                   length=padding.length, pad_to_multiple_of=padding.pad_to_multiple_of)
        backend.encode_special_tokens = split_special_tokens
        self._settings = settings

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
        with self._lock:
            if truncation is not None and (truncation.stride > 0 or truncation.strategy != "longest_first") \
                    and any(isinstance(item, tuple) for item in batch):
                # Whether a pair can be cut (only_first / only_second need enough tokens in that sequence) and
                # whether a window outgrows the stride depend on both lengths: Rust would error or panic, so the
                # plan is checked first. Single texts always fit (see `_check_truncation`).
                self._check_plan(batch, truncation, add_special_tokens, is_split_into_words, split_special_tokens)
            try:
                self._configure(truncation, padding, split_special_tokens)
                return self._backend.encode_batch(batch, is_pretokenized=is_split_into_words,
                                                  add_special_tokens=add_special_tokens)
            except Exception as error:
                raise TokenizerError(f"the tokenizers backend failed: {error}") from error
            except BaseException as error:
                if type(error).__name__ != "PanicException":
                    raise
                raise TokenizerError(f"the tokenizers backend panicked: {error}") from None

    def _check_plan(
        self, batch: list, truncation: Truncation, add_special_tokens: bool, is_split_into_words: bool,
        split_special_tokens: bool,
    ) -> None:
        """Raise the `InputError` that truncating `batch` would meet (the same one the slow tokenizer raises)."""
        self._configure(None, None, split_special_tokens)
        firsts = [item[0] if isinstance(item, tuple) else item for item in batch]
        seconds = [item[1] for item in batch if isinstance(item, tuple)]
        encode = self._backend.encode_batch_fast
        first_lengths = [len(e.ids) for e in encode(firsts, is_pretokenized=is_split_into_words, add_special_tokens=False)]
        second_lengths = iter(
            [len(e.ids) for e in encode(seconds, is_pretokenized=is_split_into_words, add_special_tokens=False)]
        )
        for index, item in enumerate(batch):
            pair = isinstance(item, tuple)
            special = self.num_special_tokens_to_add(pair) if add_special_tokens else 0
            plan_truncation(first_lengths[index], next(second_lengths) if pair else None, truncation.strategy,
                            truncation.max_length - special, truncation.stride, index)

    def _decode_batch(self, sequences: list[list[int]], skip_special_tokens: bool) -> list[str]:
        return self._backend.decode_batch(sequences, skip_special_tokens=skip_special_tokens)
