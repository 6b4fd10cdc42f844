"""A pure-Python `Encoding`: the tokens of one input with their ids, offsets, words and sequence ranges.

It mirrors `tokenizers.Encoding` (same attribute and method names), so `BatchEncoding` serves the slow and the
fast tokenizer alike, and its `truncate`, `merge_with` and `pad` follow the Rust crate's rules to the token:
overflow windows, the order of the window cross-product for pairs, and padding of every window.
"""

from __future__ import annotations

from distilkit.errors import InputError


class Encoding:
    """The encoded form of one sequence (or pair), plus its overflow windows.

    `offsets[i]` is the `(start, end)` character span of token i in its original string ((0, 0) for added special
    tokens and padding); `word_ids[i]` the index of the word it came from (None for special tokens and padding);
    `sequence_ranges` maps a sequence index (0 or 1) to the `(start, end)` token range it occupies.
    """

    __slots__ = (
        "ids", "type_ids", "tokens", "offsets", "word_ids", "special_tokens_mask", "attention_mask",
        "sequence_ranges", "overflowing",
    )

    def __init__(
        self,
        ids: list[int],
        tokens: list[str],
        offsets: list[tuple[int, int]],
        word_ids: list[int | None],
        type_id: int = 0,
        special: bool = False,
    ) -> None:
        self.ids = ids
        self.type_ids = [type_id] * len(ids)
        self.tokens = tokens
        self.offsets = offsets
        self.word_ids = word_ids
        self.special_tokens_mask = [int(special)] * len(ids)
        self.attention_mask = [1] * len(ids)
        self.sequence_ranges: dict[int, tuple[int, int]] = {}
        self.overflowing: list[Encoding] = []

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"Encoding(num_tokens={len(self)}, overflowing={len(self.overflowing)})"

    def copy(self) -> Encoding:
        """A copy deep enough that truncating, merging or padding it leaves this one untouched."""
        clone = Encoding.__new__(Encoding)
        for name in ("ids", "type_ids", "tokens", "offsets", "word_ids", "special_tokens_mask", "attention_mask"):
            setattr(clone, name, list(getattr(self, name)))
        clone.sequence_ranges = dict(self.sequence_ranges)
        clone.overflowing = [window.copy() for window in self.overflowing]
        return clone

    def _slice(self, start: int, stop: int) -> Encoding:
        window = Encoding.__new__(Encoding)
        for name in ("ids", "type_ids", "tokens", "offsets", "word_ids", "special_tokens_mask", "attention_mask"):
            setattr(window, name, getattr(self, name)[start:stop])
        window.sequence_ranges = {}
        window.overflowing = []
        return window

    # ---- sequences, words, characters -----------------------------------------------------------------------

    @property
    def n_sequences(self) -> int:
        return len(self.sequence_ranges) or 1

    def set_sequence_id(self, sequence_id: int) -> None:
        self.sequence_ranges[sequence_id] = (0, len(self))

    def _sequence_range(self, sequence_id: int) -> tuple[int, int]:
        return self.sequence_ranges.get(sequence_id, (0, len(self)))

    @property
    def sequence_ids(self) -> list[int | None]:
        """Per token: 0 or 1 for the sequence it belongs to, None for special tokens and padding."""
        result: list[int | None] = [None] * len(self)
        for sequence_id in range(self.n_sequences):
            start, end = self._sequence_range(sequence_id)
            result[start:end] = [sequence_id] * (end - start)
        return result

    def token_to_sequence(self, token_index: int) -> int | None:
        if not 0 <= token_index < len(self):
            return None
        if not self.sequence_ranges:
            return 0
        for sequence_id, (start, end) in self.sequence_ranges.items():
            if start <= token_index < end:
                return sequence_id
        return None

    def token_to_word(self, token_index: int) -> int | None:
        if self.token_to_sequence(token_index) is None:
            return None
        return self.word_ids[token_index]

    def token_to_chars(self, token_index: int) -> tuple[int, int] | None:
        if self.token_to_sequence(token_index) is None:
            return None
        return self.offsets[token_index]

    def char_to_token(self, char_pos: int, sequence_index: int = 0) -> int | None:
        start, end = self._sequence_range(sequence_index)
        for index in range(start, end):
            span_start, span_end = self.offsets[index]
            if span_start <= char_pos < span_end:
                return index
        return None

    def char_to_word(self, char_pos: int, sequence_index: int = 0) -> int | None:
        token = self.char_to_token(char_pos, sequence_index)
        return None if token is None else self.token_to_word(token)

    def word_to_tokens(self, word_index: int, sequence_index: int = 0) -> tuple[int, int] | None:
        start, end = self._sequence_range(sequence_index)
        first = last = None
        for index in range(start, end):
            word = self.word_ids[index]
            # Word ids only grow inside a sequence, so the scan stops at the first word past the one asked for.
            if word is not None and word > word_index:
                break
            if word == word_index:
                first = index if first is None else first
                last = index + 1
        return None if first is None else (first, last)

    def word_to_chars(self, word_index: int, sequence_index: int = 0) -> tuple[int, int] | None:
        span = self.word_to_tokens(word_index, sequence_index)
        if span is None:
            return None
        return self.offsets[span[0]][0], self.offsets[span[1] - 1][1]

    # ---- truncation, merging, padding (the Rust crate's rules) --------------------------------------------------

    def truncate(self, max_length: int, stride: int = 0, direction: str = "right") -> None:
        """Keep `max_length` tokens; the rest becomes overflow windows that overlap by `stride` tokens.

        Example with ids [1..7], max_length=3, stride=1: kept [1, 2, 3]; overflowing [3, 4, 5], [5, 6, 7].
        With direction="left" the kept window is the last one ([5, 6, 7]) and windows walk towards the start.
        """
        length = len(self)
        if max_length >= length:
            return
        if max_length == 0:
            # Everything overflows: the kept part is empty and the whole sequence is the only window.
            whole = self.copy()
            for name in ("ids", "type_ids", "tokens", "offsets", "word_ids", "special_tokens_mask", "attention_mask"):
                setattr(self, name, [])
            self.sequence_ranges = {}
            self.overflowing = [whole]
            return
        if stride >= max_length:
            raise InputError(
                f"stride={stride} must be smaller than the {max_length} tokens left for the truncated sequence "
                "(max_length minus the special tokens, and minus the other sequence of a pair). "
                "Lower stride or raise max_length."
            )
        step = max_length - stride
        windows: list[tuple[int, int]] = []
        if direction == "right":
            for start in range(0, length, step):
                stop = min(start + max_length, length)
                windows.append((start, stop))
                if stop == length:
                    break
        else:
            for last in range(length - 1, -1, -step):
                stop = last + 1
                start = max(stop - max_length, 0)
                windows.append((start, stop))
                if start == 0:
                    break
        kept = self._slice(*windows[0])
        kept.overflowing = [self._slice(*window) for window in windows[1:]]
        for name in Encoding.__slots__:
            setattr(self, name, getattr(kept, name))

    def merge_with(self, pair: Encoding) -> None:
        """Append `pair` to this encoding; overflow windows combine as the Rust crate combines them.

        Each of our windows is joined with the pair and with each of the pair's windows, then we are joined with
        each of the pair's windows. For windows A1, A2 of A and B1 of B that gives, in order:
        A1+B, A1+B1, A2+B, A2+B1, A+B1 (and A+B itself is the merged encoding).
        """
        combined: list[Encoding] = []
        for own_window in self.overflowing:
            joined = own_window.copy()
            joined.merge_with(pair.copy())
            combined.append(joined)
            for pair_window in pair.overflowing:
                joined = own_window.copy()
                joined.merge_with(pair_window.copy())
                combined.append(joined)
        for pair_window in pair.overflowing:
            joined = self.copy()
            joined.merge_with(pair_window.copy())
            combined.append(joined)
        shift = len(self)
        for name in ("ids", "type_ids", "tokens", "offsets", "word_ids", "special_tokens_mask", "attention_mask"):
            getattr(self, name).extend(getattr(pair, name))
        for sequence_id, (start, end) in pair.sequence_ranges.items():
            self.sequence_ranges[sequence_id] = (start + shift, end + shift)
        self.overflowing = combined

    def pad(self, length: int, pad_id: int, pad_type_id: int, pad_token: str, direction: str = "right") -> None:
        """Pad this encoding and every overflow window to `length` tokens (longer ones are left alone)."""
        for window in self.overflowing:
            window.pad(length, pad_id, pad_type_id, pad_token, direction)
        missing = length - len(self)
        if missing <= 0:
            return
        fills = {
            "ids": pad_id, "type_ids": pad_type_id, "tokens": pad_token, "offsets": (0, 0), "word_ids": None,
            "special_tokens_mask": 1, "attention_mask": 0,
        }
        for name, fill in fills.items():
            values = getattr(self, name)
            setattr(self, name, values + [fill] * missing if direction == "right" else [fill] * missing + values)
        if direction == "left":
            self.sequence_ranges = {key: (start + missing, end + missing) for key, (start, end) in self.sequence_ranges.items()}


def plan_truncation(
    first: int, second: int | None, strategy: str, budget: int, stride: int, example: int = 0
) -> tuple[int | None, int | None]:
    """The lengths to cut a sequence (and its pair) to, by the reference's rules; None means "left alone".

    `budget` is max_length minus the special tokens. `longest_first` on a pair cuts only the longer one while that
    suffices; otherwise the shorter keeps ``budget // 2`` and the longer the rest (the first sequence takes the
    smaller half when both are equally long). Example: lengths (10, 4), budget 8 -> (4, 4); (10, 9), budget 7 ->
    (4, 3). Raises `InputError` where the Rust crate errors or panics: a sequence too short to cut, or a window
    not longer than `stride`.
    """
    lengths = (first, second)
    total = first + (second or 0)
    if budget == 0:
        targets = (0, None if second is None else 0)
    elif total <= budget:
        return None, None
    elif strategy == "longest_first":
        if second is None:
            targets = (budget, None)
        else:
            short, long = sorted((first, second))
            long = short if short > budget else max(short, budget - short)
            if short + long > budget:
                short, long = budget // 2, budget // 2 + budget % 2
            targets = (long, short) if first > second else (short, long)
    else:
        index = 0 if strategy == "only_first" else 1
        length = lengths[index]
        if length is None or length <= total - budget:
            raise InputError(
                f"truncation={strategy!r} cannot cut example {example} to fit: its {('first', 'second')[index]} "
                f"sequence has {length or 0} tokens but {total - budget} must go. Use truncation='longest_first' or "
                "a larger max_length."
            )
        targets = (length - (total - budget), None) if index == 0 else (None, length - (total - budget))
    plan: list[int | None] = [None, None]
    for index, (length, target) in enumerate(zip(lengths, targets, strict=True)):
        if length is None or target is None or target >= length:
            continue
        if 0 < target <= stride:
            raise InputError(
                f"stride={stride} must be smaller than the {target} tokens kept of the {('first', 'second')[index]} "
                f"sequence of example {example} (max_length minus the special tokens, shared between the two "
                "sequences of a pair). Lower stride or raise max_length."
            )
        plan[index] = target
    return plan[0], plan[1]
