"""The slow DistilBERT tokenizer: pure Python, readable, and token-for-token equal to the fast one.

text -> split off added/special tokens -> normalise (clean, strip accents, lowercase; every character remembers
where it came from) -> split into words (whitespace, punctuation, CJK ideographs) -> greedy longest-match WordPiece
-> [CLS] A [SEP] (B [SEP]) -> truncation windows -> padding. Unlike the reference's legacy Python tokenizer it
computes offsets, and it follows the fast tokenizer where the two used to differ (spec section 5.2/5.5): accents
are stripped before lowercasing, no NFC is applied, the CJK ranges and `longest_first` tie-break are the Rust ones.

Deliberate differences from the fast tokenizer, kept because they cost nothing in practice: NFD decomposition and
lowercasing use Python's `unicodedata`, so for characters that Unicode assigned after Python's version (14.0 in
Python 3.11: e.g. U+1C89, U+A7CB) the two may disagree; and overflow windows do not carry the nested windows
that the Rust crate builds for pairs (`encodings[i].overflowing` is empty), which no output exposes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from distilkit.tokenization import _unicode
from distilkit.tokenization.base import TokenizerBase
from distilkit.tokenization.encode_api import Padding, Truncation
from distilkit.tokenization.encoding import Encoding, plan_truncation
from distilkit.tokenization.files import AddedToken

_CONTROL = re.compile(f"[{_unicode.char_class(_unicode.CONTROL)}]")
_MARKS = re.compile(f"[{_unicode.char_class(_unicode.NONSPACING_MARKS)}]")
_WHITESPACE_CLASS = _unicode.char_class(_unicode.WHITESPACE)
_WHITESPACE_CHARS = frozenset(chr(code) for first, last in _unicode.WHITESPACE for code in range(first, last + 1))
_WHITESPACE_TO_SPACE = {ord(char): " " for char in _WHITESPACE_CHARS}
# Characters whose per-character lowercase is not one character (U+0130 -> "i̇"), and capital sigma, which
# `str.lower()` turns into final sigma at word ends while the reference lowercases one character at a time.
_SPECIAL_LOWER = re.compile("[\u0130\u03a3]")


class BertNormalizer:
    """Clean, strip accents, lowercase; return the new text and, per new character, its index in the old one.

    Example (lowercase=True): ``"Héllo\\x00 Wörld"`` -> ``"hello world"`` with origins
    ``[0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]``: the NUL at index 5 is gone, and "e" still points at "é".
    """

    def __init__(self, lowercase: bool, strip_accents: bool | None) -> None:
        self.lowercase = lowercase
        self.strip_accents = lowercase if strip_accents is None else strip_accents

    def normalize(self, text: str) -> tuple[str, Sequence[int]]:
        if self._is_one_to_one(text):
            # Most text: every character maps to exactly one character, so the origins are the identity.
            text = text.translate(_WHITESPACE_TO_SPACE)
            return (text.lower() if self.lowercase else text), range(len(text))
        chars, origins = [], []
        for index, char in enumerate(text):
            if _CONTROL.match(char):
                continue
            chars.append(" " if char in _WHITESPACE_CHARS else char)
            origins.append(index)
        if self.strip_accents:
            cleaned = "".join(chars)
            # NFD may reorder combining marks; like the reference, characters are aligned by position, so each
            # character's origin repeats once per character of its own decomposition.
            decomposed = unicodedata.normalize("NFD", cleaned)
            origins = [origin for char, origin in zip(cleaned, origins, strict=True) for _ in unicodedata.normalize("NFD", char)]
            kept = [(char, origin) for char, origin in zip(decomposed, origins, strict=True) if not _MARKS.match(char)]
            chars, origins = [char for char, _ in kept], [origin for _, origin in kept]
        if self.lowercase:
            lowered = [char.lower() for char in chars]
            origins = [origin for low, origin in zip(lowered, origins, strict=True) for _ in low]
            chars = lowered
        return "".join(chars), origins

    def _is_one_to_one(self, text: str) -> bool:
        if _CONTROL.search(text):
            return False
        if text.isascii():
            return True
        if self.strip_accents and (not unicodedata.is_normalized("NFD", text) or _MARKS.search(text)):
            return False
        return not (self.lowercase and _SPECIAL_LOWER.search(text))


class WordSplitter:
    """Split normalised text into words: runs of letters/digits; each punctuation mark and CJK ideograph alone.

    ``"hello, 世界!"`` -> ``["hello", ",", "世", "界", "!"]`` (as (start, end) spans). Whitespace separates words
    and is dropped.
    """

    def __init__(self, isolate_cjk: bool) -> None:
        punctuation = _unicode.char_class(_unicode.PUNCTUATION)
        cjk = _unicode.char_class(_unicode.CJK_IDEOGRAPHS) if isolate_cjk else ""
        single = f"[{punctuation}{cjk}]"
        self._pattern = re.compile(f"{single}|[^{_WHITESPACE_CLASS}{punctuation}{cjk}]+")

    def split(self, text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
        return [match.span() for match in self._pattern.finditer(text, start, len(text) if end is None else end)]


class WordPiece:
    """Greedy longest-match-first subwords; continuation pieces carry the `##` prefix.

    With a vocabulary holding "un", "##aff", "##able": ``"unaffable"`` -> ``[("un", 0, 2), ("##aff", 2, 5),
    ("##able", 5, 9)]``. If some part of a word matches nothing, or the word is longer than
    `max_input_chars_per_word`, the whole word becomes the unknown token.
    """

    def __init__(self, vocab: dict[str, int], unk_token: str, prefix: str, max_input_chars_per_word: int) -> None:
        self.vocab = vocab
        self.unk = (vocab[unk_token], unk_token)
        self.prefix = prefix
        self.max_chars = max_input_chars_per_word
        # No vocabulary entry is longer than this, so longer candidates need not be looked up.
        self.longest = max(map(len, vocab))
        self._cache: dict[str, list[tuple[int, str, int, int]]] = {}

    def tokenize(self, word: str) -> list[tuple[int, str, int, int]]:
        """``word`` -> ``[(id, token, start, end), ...]`` with character spans inside the word."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        pieces = self._split(word)
        if len(self._cache) >= 100_000:  # bound the memory a stream of distinct words can take
            self._cache.clear()
        self._cache[word] = pieces
        return pieces

    def _split(self, word: str) -> list[tuple[int, str, int, int]]:
        unknown = [(self.unk[0], self.unk[1], 0, len(word))]
        if len(word) > self.max_chars:
            return unknown
        pieces = []
        start = 0
        while start < len(word):
            end = min(len(word), start + self.longest)
            while end > start:
                candidate = word[start:end] if start == 0 else self.prefix + word[start:end]
                if candidate in self.vocab:
                    pieces.append((self.vocab[candidate], candidate, start, end))
                    break
                end -= 1
            else:
                return unknown
            start = end
        return pieces


class AddedTokenMatcher:
    """Find added tokens in a text, leftmost first and longest first, as the reference's added vocabulary does.

    ``"a [SEP]b"`` with `[SEP]` added -> ``[(0, 2, None), (2, 7, [SEP]), (7, 8, None)]``: text pieces (None)
    alternate with token matches.
    """

    def __init__(self, tokens: list[tuple[int, AddedToken]]) -> None:
        self.tokens = {token.content: (token_id, token) for token_id, token in tokens}
        # Longest alternatives first: at each position Python's regex then takes the longest token that matches.
        contents = sorted(self.tokens, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, contents))) if contents else None

    def split(self, text: str) -> list[tuple[int, int, tuple[int, AddedToken] | None]]:
        if self._pattern is None:
            return [(0, len(text), None)] if text else []
        pieces: list[tuple[int, int, tuple[int, AddedToken] | None]] = []
        done = 0
        for match in self._pattern.finditer(text):
            start, end = match.span()
            token_id, token = found = self.tokens[match.group()]
            if token.single_word and (_word_char_before(text, start) or _word_char_after(text, end)):
                continue
            if token.lstrip:
                while start > done and text[start - 1] in _WHITESPACE_CHARS:
                    start -= 1
            if token.rstrip:
                while end < len(text) and text[end] in _WHITESPACE_CHARS:
                    end += 1
            if done < start:
                pieces.append((done, start, None))
            pieces.append((start, end, found))
            done = end
        if done < len(text):
            pieces.append((done, len(text), None))
        return pieces



def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _word_char_before(text: str, index: int) -> bool:
    return index > 0 and _is_word_char(text[index - 1])


def _word_char_after(text: str, index: int) -> bool:
    return index < len(text) and _is_word_char(text[index])


class DistilBertTokenizer(TokenizerBase):
    """The pure-Python DistilBERT tokenizer (the reference's legacy slow tokenizer, but with offsets).

    >>> tok = DistilBertTokenizer(vocab_file="vocab.txt")                 # doctest: +SKIP
    >>> tok.tokenize("Unaffable naïveté!")                                # doctest: +SKIP
    ['una', '##ffa', '##ble', 'naive', '##te', '!']
    >>> tok("Hi there", return_offsets_mapping=True)["offset_mapping"]    # doctest: +SKIP
    [(0, 0), (0, 2), (3, 8), (0, 0)]
    """

    is_fast = False

    def _setup_backend(self) -> None:
        self._normalizer = BertNormalizer(self.do_lower_case, self.strip_accents)
        self._splitter = WordSplitter(self.tokenize_chinese_chars)
        self._model = WordPiece(self._vocab, self.unk_token, self.continuing_subword_prefix,
                                self.max_input_chars_per_word)
        self._tokens_changed([])

    def _normalize_text(self, text: str) -> str:
        return self._normalizer.normalize(text)[0]

    def _tokens_changed(self, new: list[tuple[int, AddedToken]]) -> None:
        verbatim = [(token_id, token) for token_id, token in self._added_by_id.items() if not token.normalized]
        self._raw_matcher = AddedTokenMatcher(verbatim)
        self._raw_matcher_no_special = AddedTokenMatcher([item for item in verbatim if not item[1].special])
        normalized = []
        for token_id, token in self._added_by_id.items():
            if token.normalized:
                # Normalised tokens are looked for in normalised text, so their own text is normalised too.
                content = self._normalize_text(token.content)
                if content:
                    normalized.append((token_id, AddedToken(content, token.single_word, token.lstrip, token.rstrip,
                                                            True, token.special)))
        self._normalized_matcher = AddedTokenMatcher(normalized)

    # ---- one sequence ------------------------------------------------------------------------------------------

    def _encode_text(self, text: str, split_special_tokens: bool, word: int | None = None) -> Encoding:
        """One text -> tokens with ids, offsets into `text`, and word numbers (all `word` when given)."""
        ids: list[int] = []
        tokens: list[str] = []
        offsets: list[tuple[int, int]] = []
        words: list[int | None] = []
        count = 0  # words so far: every split-off token and every word of the text counts as one

        def emit(token_id: int, token: str, start: int, end: int) -> None:
            ids.append(token_id)
            tokens.append(token)
            offsets.append((start, end))
            words.append(count if word is None else word)

        matcher = self._raw_matcher_no_special if split_special_tokens else self._raw_matcher
        for start, end, found in matcher.split(text):
            if found is not None:
                emit(found[0], text[start:end], start, end)
                count += 1
                continue
            normalized, origins = self._normalizer.normalize(text[start:end])
            for n_start, n_end, n_found in self._normalized_matcher.split(normalized):
                if n_found is not None:
                    emit(n_found[0], normalized[n_start:n_end], start + origins[n_start], start + origins[n_end - 1] + 1)
                    count += 1
                    continue
                for w_start, w_end in self._splitter.split(normalized, n_start, n_end):
                    for token_id, token, t_start, t_end in self._model.tokenize(normalized[w_start:w_end]):
                        first, last = origins[w_start + t_start], origins[w_start + t_end - 1]
                        emit(token_id, token, start + first, start + last + 1)
                    count += 1
        return Encoding(ids, tokens, offsets, words)

    def _encode_sequence(self, sequence: str | list[str], type_id: int, split_special_tokens: bool) -> Encoding:
        if isinstance(sequence, str):
            encoding = self._encode_text(sequence, split_special_tokens)
        else:
            # Pre-split words are encoded one by one; offsets point into each word, word ids are the word's index.
            encoding = Encoding([], [], [], [])
            for index, word in enumerate(sequence):
                encoding.merge_with(self._encode_text(word, split_special_tokens, word=index))
        encoding.type_ids = [type_id] * len(encoding)
        return encoding

    # ---- the batch ---------------------------------------------------------------------------------------------

    def _encode_batch(
        self,
        batch: list,
        *,
        is_split_into_words: bool,
        add_special_tokens: bool,
        truncation: Truncation | None,
        padding: Padding | None,
        split_special_tokens: bool,
    ) -> list[Encoding]:
        encodings = []
        for index, item in enumerate(batch):
            first, second = item if isinstance(item, tuple) else (item, None)
            encoding = self._encode_sequence(first, 0, split_special_tokens)
            pair = None if second is None else self._encode_sequence(second, 1, split_special_tokens)
            if truncation is not None:
                special = self.num_special_tokens_to_add(pair is not None) if add_special_tokens else 0
                truncate_sequences(encoding, pair, truncation, truncation.max_length - special, index)
            encodings.append(self._add_special_tokens(encoding, pair, add_special_tokens))
        if padding is not None and encodings:
            length = padding.length if padding.length is not None else max(len(encoding) for encoding in encodings)
            if padding.pad_to_multiple_of and length % padding.pad_to_multiple_of:
                length += padding.pad_to_multiple_of - length % padding.pad_to_multiple_of
            for encoding in encodings:
                encoding.pad(length, self.pad_token_id, self.pad_token_type_id, self.pad_token, padding.direction)
        return encodings

    def _add_special_tokens(self, first: Encoding, second: Encoding | None, add_special_tokens: bool) -> Encoding:
        """[CLS] A [SEP] or [CLS] A [SEP] B [SEP]; overflow windows of A and B are combined by `merge_with`."""
        sequences = [first] if second is None else [first, second]
        for sequence_id, sequence in enumerate(sequences):
            sequence.set_sequence_id(sequence_id)
            for window in sequence.overflowing:
                window.set_sequence_id(sequence_id)
        parts = []
        for sequence_id, sequence in enumerate(sequences):
            if add_special_tokens and sequence_id == 0:
                parts.append(self._special_encoding(self.cls_token, 0))
            parts.append(sequence)
            if add_special_tokens:
                parts.append(self._special_encoding(self.sep_token, sequence_id))
        merged = Encoding([], [], [], [])
        for part in parts:
            merged.merge_with(part)
        return merged

    def _special_encoding(self, token: str, type_id: int) -> Encoding:
        return Encoding([self._token_to_id(token)], [token], [(0, 0)], [None], type_id=type_id, special=True)

    def _decode_batch(self, sequences: list[list[int]], skip_special_tokens: bool) -> list[str]:
        id_to_token = self._maps()[0]
        special = {token_id for token_id, token in self._added_by_id.items() if token.special}
        return [
            self.convert_tokens_to_string(
                [id_to_token[token_id] for token_id in ids if not (skip_special_tokens and token_id in special)]
            )
            for ids in sequences
        ]


def truncate_sequences(first: Encoding, second: Encoding | None, truncation: Truncation, budget: int,
                       example: int = 0) -> None:
    """Cut `first` (and `second`) in place so that together they hold at most `budget` tokens."""
    targets = plan_truncation(len(first), None if second is None else len(second), truncation.strategy, budget,
                              truncation.stride, example)
    for encoding, target in zip((first, second), targets, strict=True):
        if encoding is not None and target is not None:
            encoding.truncate(target, truncation.stride, truncation.direction)
