"""The vocabulary and the added-token table of the tokenizers: ids for added and special tokens, token <-> id.

Ids are given as the Rust `tokenizers` crate gives them (a token of the vocabulary keeps its id, a new one takes the
next free id), so the slow and the fast tokenizer agree; added tokens read from files keep their ids, which must
agree with the vocabulary. Ids outside the vocabulary raise `InputError` (the reference drops them or gives None).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from distilkit.errors import InputError, TokenizerError
from distilkit.tokenization.batch_encoding import to_python
from distilkit.tokenization.encode_api import check_str
from distilkit.tokenization.files import SPECIAL_TOKEN_NAMES, AddedToken


class AddedTokenTable:
    """The vocabulary, added tokens and special tokens of `TokenizerBase`, which fills `_vocab`, `_added`,
    `_added_by_id`, `_special` and `_extra_special` in its constructor and supplies `_normalize_text` and
    `_tokens_changed`."""

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
        next_id = vocab_size if top is None or top < vocab_size else top + 1  # the vocabulary is never empty
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
        tokens = [as_added_token(token, special=special_tokens) for token in new_tokens]
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
                added = [as_added_token(token, special=True) for token in value]
                contents = [token.content for token in added]
                if replace_additional_special_tokens:
                    self._extra_special = contents
                else:
                    self._extra_special += [content for content in contents if content not in self._extra_special]
                tokens += added
            elif key in SPECIAL_TOKEN_NAMES:
                token = as_added_token(value, special=True)
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

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        """Tokens -> ids; a token outside the vocabulary gives the id of `unk_token`."""
        if isinstance(tokens, str):
            token_id = self._token_to_id(tokens)
            return self.unk_token_id if token_id is None else token_id
        if not isinstance(tokens, (list, tuple)):
            raise InputError(f"convert_tokens_to_ids takes a str or a list of str, got {type(tokens).__name__}.")
        return [self.convert_tokens_to_ids(check_str(token, "token")) for token in tokens]

    def convert_ids_to_tokens(self, ids: int | Sequence[int], skip_special_tokens: bool = False) -> str | list[str]:
        """Ids -> tokens; an id outside the vocabulary raises `InputError` (the reference returns None)."""
        ids = to_python(ids)
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


def token_content(token: Any) -> str:
    content = token if isinstance(token, str) else getattr(token, "content", None)
    if not isinstance(content, str):
        raise InputError(f"a token must be a str or an AddedToken, got {type(token).__name__}: {token!r}.")
    return content


def as_added_token(token: Any, *, special: bool) -> AddedToken:
    """A str becomes an AddedToken (verbatim and special, or normalised and plain); AddedTokens keep their flags."""
    if isinstance(token, AddedToken):
        return token
    if isinstance(token, str):
        return AddedToken(token, normalized=not special, special=special)
    if hasattr(token, "content"):  # a `tokenizers.AddedToken`
        return AddedToken(
            token_content(token), single_word=bool(token.single_word), lstrip=bool(token.lstrip),
            rstrip=bool(token.rstrip), normalized=bool(token.normalized), special=bool(token.special) or special,
        )
    raise InputError(f"a token must be a str or an AddedToken, got {type(token).__name__}: {token!r}.")
