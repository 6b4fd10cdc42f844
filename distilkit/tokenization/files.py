"""Reading and writing tokenizer files: vocab.txt, tokenizer.json, tokenizer_config.json and their legacy companions.

Follows the reference's file formats (spec section 5.1): a directory holding only `vocab.txt` loads, and so does
one holding `tokenizer.json` (of which, as in the reference, the vocabulary and the added tokens are used and the
rest of the pipeline is rebuilt from the class). One deliberate difference: when tokenizer_config.json does not
set `do_lower_case`/`strip_accents`, tokenizer.json's BertNormalizer flags are used, so a cased tokenizer.json on
its own stays cased (the reference lowercases it). Every malformed file raises `TokenizerError` naming the file.
Writes go through `distilkit._io` (each file atomic; `save_pretrained` commits the whole set at once).
`FileMethods` gives `TokenizerBase` its `save_pretrained` / `from_pretrained` over these readers and writers.
"""

from __future__ import annotations

import inspect
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distilkit import _io
from distilkit.errors import CheckpointError, InputError, TokenizerError
from distilkit.limits import check_json_depth, max_json_bytes, max_vocab_size

# The files a tokenizer save writes or replaces (older saves' legacy files included, so none of them outlives it).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json",
                   "added_tokens.json")
# Keys of tokenizer_config.json / special_tokens_map.json that map onto constructor arguments.
SPECIAL_TOKEN_NAMES = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
CONFIG_KEYS = (
    "do_lower_case", "strip_accents", "tokenize_chinese_chars", "model_max_length", "padding_side",
    "truncation_side", "clean_up_tokenization_spaces", "split_special_tokens", "never_split",
) + SPECIAL_TOKEN_NAMES


@dataclass(frozen=True)
class AddedToken:
    """A token matched in the text before the WordPiece model runs (the reference's `tokenizers.AddedToken`).

    `normalized=False` tokens are matched in the raw text (special tokens: `[SEP]` but not `[sep]`);
    `normalized=True` ones in the lowercased, accent-stripped text. `single_word` demands word boundaries around
    the match; `lstrip`/`rstrip` swallow the whitespace on that side into the token.
    """

    content: str
    single_word: bool = False
    lstrip: bool = False
    rstrip: bool = False
    normalized: bool = True
    special: bool = False

    def __str__(self) -> str:
        return self.content

    def to_json(self, token_id: int) -> dict[str, Any]:
        return {
            "id": token_id, "content": self.content, "single_word": self.single_word, "lstrip": self.lstrip,
            "rstrip": self.rstrip, "normalized": self.normalized, "special": self.special,
        }


@dataclass
class TokenizerFiles:
    """What a tokenizer directory holds, already validated: the vocabulary, added tokens and settings."""

    vocab: dict[str, int]
    added_tokens: list[tuple[int, AddedToken]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)  # constructor keyword arguments
    model: dict[str, Any] = field(default_factory=dict)  # unk_token / continuing_subword_prefix / max chars


def read_vocab_txt(path: str | os.PathLike) -> dict[str, int]:
    """One token per line, the line number is the id: ``"[PAD]\\n[unused0]\\n..." -> {"[PAD]": 0, "[unused0]": 1}``."""
    path = Path(path)
    try:
        _check_file_size(path)
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise TokenizerError(f"cannot read the vocabulary file {path}: {error}") from error
    except UnicodeDecodeError as error:
        raise TokenizerError(f"vocabulary file {path} is not UTF-8 text ({error}).") from error
    # Only the line break goes: a token may legitimately hold other characters (the reference keeps them too).
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) > max_vocab_size():
        raise TokenizerError(f"vocabulary file {path} has {len(lines):,} lines, over the limit of "
                             f"{max_vocab_size():,} tokens (DISTILKIT_MAX_VOCAB_SIZE).")
    vocab: dict[str, int] = {}
    for index, line in enumerate(lines):
        token = line[:-1] if line.endswith("\r") else line
        if token in vocab:
            raise TokenizerError(
                f"vocabulary file {path} lists the token {token!r} twice (lines {vocab[token] + 1} and {index + 1}); "
                "each line must hold a distinct token."
            )
        vocab[token] = index
    if not vocab:
        raise TokenizerError(f"vocabulary file {path} is empty; expected one token per line.")
    return vocab


def validate_vocab(vocab: Any, source: str) -> dict[str, int]:
    """A vocabulary maps distinct string tokens to distinct non-negative integer ids."""
    if not isinstance(vocab, dict) or not vocab:
        raise TokenizerError(f"{source}: the vocabulary must be a non-empty mapping of token -> id, got {_describe(vocab)}.")
    limit = max_vocab_size()
    if len(vocab) > limit:
        raise TokenizerError(f"{source}: the vocabulary has {len(vocab):,} tokens, over the limit of {limit:,} "
                             "(DISTILKIT_MAX_VOCAB_SIZE).")
    seen: dict[int, str] = {}
    for token, token_id in vocab.items():
        if not isinstance(token, str) or isinstance(token_id, bool) or not isinstance(token_id, int) or token_id < 0:
            raise TokenizerError(
                f"{source}: vocabulary entry {token!r}: {token_id!r} is invalid; tokens are strings and ids "
                "non-negative integers."
            )
        if token_id >= limit:
            # the model would need an embedding row for every id up to this one
            raise TokenizerError(f"{source}: token {token!r} has the id {token_id:,}, over the limit of {limit:,} "
                                 "(DISTILKIT_MAX_VOCAB_SIZE); ids number the rows of the model's embedding table.")
        if token_id in seen:
            raise TokenizerError(f"{source}: tokens {seen[token_id]!r} and {token!r} share the id {token_id}.")
        seen[token_id] = token
    return dict(vocab)


def read_json(path: str | os.PathLike) -> Any:
    """A tokenizer JSON file, bounded in size (DISTILKIT_MAX_JSON_BYTES) and nesting (DISTILKIT_MAX_JSON_DEPTH)."""
    path = Path(path)
    try:
        _check_file_size(path)
        data = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as error:
        raise TokenizerError(f"cannot read {path}: {error}") from error
    except UnicodeDecodeError as error:
        raise TokenizerError(f"{path} is not UTF-8 text ({error}).") from error
    except json.JSONDecodeError as error:
        raise TokenizerError(f"{path} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}.") from error
    except RecursionError:
        raise TokenizerError(f"{path} nests too deeply to be a tokenizer file.") from None
    check_json_depth(data, str(path), TokenizerError)
    return data


def _check_file_size(path: Path) -> None:
    size, limit = path.stat().st_size, max_json_bytes()
    if size > limit:
        raise TokenizerError(f"{path} has {size:,} bytes, over the limit of {limit:,} for a tokenizer file "
                             "(DISTILKIT_MAX_JSON_BYTES).")


def read_tokenizer_json(path: str | os.PathLike) -> TokenizerFiles:
    """The vocabulary, WordPiece settings, added tokens and normaliser flags of a `tokenizers` JSON file.

    Only a WordPiece model is accepted. The normaliser, pre-tokeniser, post-processor and decoder are rebuilt from
    the DistilBERT class, as the reference does; anything else found there is reported with a warning and never
    compiled (so an untrusted `Split` regex in the file cannot run).
    """
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise TokenizerError(f"{path} has no 'model' object; is it a `tokenizers` tokenizer.json file?")
    model = data["model"]
    if model.get("type", "WordPiece") != "WordPiece":
        raise TokenizerError(
            f"{path} holds a {model.get('type')!r} model; the DistilBERT tokenizer needs a WordPiece vocabulary."
        )
    vocab = validate_vocab(model.get("vocab"), f"{path} (model.vocab)")
    model_settings: dict[str, Any] = {}
    for key, kind in (("unk_token", str), ("continuing_subword_prefix", str), ("max_input_chars_per_word", int)):
        if key in model and model[key] is not None:
            if not isinstance(model[key], kind) or isinstance(model[key], bool):
                raise TokenizerError(f"{path}: model.{key} must be a {kind.__name__}, got {model[key]!r}.")
            model_settings[key] = model[key]
    files = TokenizerFiles(vocab=vocab, model=model_settings)
    files.added_tokens = _parse_added_tokens(data.get("added_tokens") or [], path)
    normalizer = data.get("normalizer")
    if isinstance(normalizer, dict) and normalizer.get("type") == "BertNormalizer":
        # Fallbacks only: tokenizer_config.json and explicit arguments take precedence.
        for key, setting in (("lowercase", "do_lower_case"), ("strip_accents", "strip_accents"),
                             ("handle_chinese_chars", "tokenize_chinese_chars")):
            if key in normalizer:
                files.settings[setting] = normalizer[key]
    expected = {"normalizer": "BertNormalizer", "pre_tokenizer": "BertPreTokenizer", "decoder": "WordPiece"}
    for component, kind in expected.items():
        found = data.get(component)
        if found is not None and (not isinstance(found, dict) or found.get("type") != kind):
            found_type = found.get("type") if isinstance(found, dict) else type(found).__name__
            warnings.warn(
                f"{path}: {component} of type {found_type!r} is ignored; the DistilBERT pipeline ({kind}) is used, "
                "as in the reference.",
                stacklevel=3,
            )
    return files


def _parse_added_tokens(entries: Any, path: Path) -> list[tuple[int, AddedToken]]:
    if not isinstance(entries, list):
        raise TokenizerError(f"{path}: 'added_tokens' must be a list, got {_describe(entries)}.")
    parsed = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise TokenizerError(f"{path}: added token {entry!r} must be an object with 'id' and 'content'.")
        parsed.append(_added_token_from_dict(entry, entry.get("id"), path))
    return parsed


def _added_token_from_dict(entry: dict, token_id: Any, path: Path) -> tuple[int, AddedToken]:
    content = entry.get("content")
    if not isinstance(content, str) or not content:
        raise TokenizerError(f"{path}: added token {entry!r} has no non-empty 'content' string.")
    if isinstance(token_id, str) and token_id.isdigit():
        token_id = int(token_id)
    if isinstance(token_id, bool) or not isinstance(token_id, int) or token_id < 0:
        raise TokenizerError(f"{path}: added token {content!r} has an invalid id {token_id!r}.")
    if token_id >= max_vocab_size():
        raise TokenizerError(f"{path}: added token {content!r} has the id {token_id:,}, over the limit of "
                             f"{max_vocab_size():,} (DISTILKIT_MAX_VOCAB_SIZE).")
    flags = {}
    for name in ("single_word", "lstrip", "rstrip", "normalized", "special"):
        if name in entry:
            if not isinstance(entry[name], bool):
                raise TokenizerError(f"{path}: added token {content!r} has {name}={entry[name]!r}; expected true/false.")
            flags[name] = entry[name]
    flags.setdefault("normalized", not flags.get("special", False))
    return token_id, AddedToken(content, **flags)


def read_tokenizer_config(path: str | os.PathLike) -> tuple[dict[str, Any], list[tuple[int, AddedToken]], list]:
    """Constructor settings, `added_tokens_decoder` entries and extra special tokens of tokenizer_config.json."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise TokenizerError(f"{path} must hold a JSON object, got {_describe(data)}.")
    settings = {key: _token_content(data[key], path, key) if key in SPECIAL_TOKEN_NAMES else data[key]
                for key in CONFIG_KEYS if key in data}
    added: list[tuple[int, AddedToken]] = []
    decoder = data.get("added_tokens_decoder") or {}
    if not isinstance(decoder, dict):
        raise TokenizerError(f"{path}: 'added_tokens_decoder' must be an object of id -> token.")
    for token_id, entry in decoder.items():
        if not isinstance(entry, dict):
            raise TokenizerError(f"{path}: added_tokens_decoder[{token_id!r}] must be an object.")
        added.append(_added_token_from_dict(entry, token_id, path))
    extra = data.get("extra_special_tokens") or data.get("additional_special_tokens") or []
    if isinstance(extra, dict):  # a v5 form maps names to tokens
        extra = list(extra.values())
    if not isinstance(extra, list):
        raise TokenizerError(f"{path}: 'extra_special_tokens' must be a list, got {_describe(extra)}.")
    return settings, added, [_token_content(token, path, "extra_special_tokens") for token in extra]


def read_special_tokens_map(path: str | os.PathLike) -> tuple[dict[str, str], list[str]]:
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise TokenizerError(f"{path} must hold a JSON object, got {_describe(data)}.")
    named = {key: _token_content(data[key], path, key) for key in SPECIAL_TOKEN_NAMES if key in data}
    extra = data.get("additional_special_tokens") or data.get("extra_special_tokens") or []
    if not isinstance(extra, list):
        raise TokenizerError(f"{path}: 'additional_special_tokens' must be a list.")
    return named, [_token_content(token, path, "additional_special_tokens") for token in extra]


def read_added_tokens_json(path: str | os.PathLike) -> list[tuple[int, AddedToken]]:
    """The legacy ``{"token": id}`` file: plain (normalised, non-special) added tokens."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise TokenizerError(f"{path} must map tokens to ids, got {_describe(data)}.")
    return [_added_token_from_dict({"content": content}, token_id, path) for content, token_id in data.items()]


def _token_content(value: Any, path: Path, key: str) -> str | None:
    """Special tokens are written as a string or as an AddedToken object (``{"content": ...}``)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    raise TokenizerError(f"{path}: {key} must be a string or an object with 'content', got {value!r}.")


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def write_json_atomic(path: Path, data: Any) -> None:
    _io.write_json_atomic(path, data, sort_keys=False)


class FileMethods:
    """`save_pretrained`, `from_pretrained` and the `tokenizers` JSON of `TokenizerBase`."""

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

    @_io.atomic_save(*TOKENIZER_FILES)
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
        write_json_atomic(path, self._tokenizer_json())
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
        write_json_atomic(path, config)
        written.append(path)
        by_id = sorted(self._vocab.items(), key=lambda item: item[1])
        if by_id[-1][1] == len(by_id) - 1:
            path = directory / "vocab.txt"
            _io.write_text_atomic(path, "".join(token + "\n" for token, _ in by_id))
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
    ) -> Any:
        """Load from a directory (or Hub id) holding tokenizer.json and/or vocab.txt.

        Settings come, in rising precedence, from tokenizer.json's normaliser, special_tokens_map.json,
        tokenizer_config.json and `kwargs`; added tokens from tokenizer.json, tokenizer_config.json's
        `added_tokens_decoder` and added_tokens.json.
        """
        from distilkit.hub import resolve_file

        known = set(inspect.signature(cls.__init__).parameters) - {"self", "vocab", "vocab_file"}
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
            loaded = read_tokenizer_json(tokenizer_json)
            vocab, added, model = loaded.vocab, loaded.added_tokens, loaded.model
            settings.update(loaded.settings)
            settings.update(model)
        else:
            source = vocab_txt
            vocab = read_vocab_txt(vocab_txt)
        special_map = find("special_tokens_map.json")
        if special_map is not None:
            named, extra = read_special_tokens_map(special_map)
            settings.update(named)
        config_path = find("tokenizer_config.json")
        if config_path is not None:
            config, config_added, config_extra = read_tokenizer_config(config_path)
            settings.update(config)
            added += config_added
            extra = config_extra or extra
        added_json = find("added_tokens.json")
        if added_json is not None:
            added += read_added_tokens_json(added_json)
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
