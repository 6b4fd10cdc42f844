"""Reading a chat model's reply: the JSON in it, checked against the request's schema, scores from the token
log-probabilities, and entity or answer text located in the input.

Nothing here trusts the model: a reply that is not JSON, breaks the schema, was refused or cut off raises
`InvalidAnswer` (the pipeline re-asks with its message); offsets are always found locally, so they index the
input exactly. Scores are probabilities the server reported for the tokens the model wrote, or None — never
guessed.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from .backend import Completion

FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
# a "key": value pair of a JSON object, the value a string, true, false, null or a number (containers skipped)
PAIR = re.compile(
    r'"((?:[^"\\]|\\.)*)"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(true|false|null|-?[0-9][0-9.eE+-]*))?', re.DOTALL
)
SHOWN = 300  # characters of a bad reply quoted back in an error


class InvalidAnswer(Exception):
    """A reply that cannot be used; the message is sent back to the model. `off_format` says the reply broke
    the requested format (not JSON, or not the schema) rather than the task's meaning."""

    def __init__(self, message: str, off_format: bool = False) -> None:
        super().__init__(message)
        self.off_format = off_format


@dataclass(frozen=True)
class Reply:
    """The JSON object of a completion, where it lies in the text, and the completion itself."""

    data: dict[str, Any]
    start: int
    end: int
    completion: Completion
    exact: bool  # the whole content was the JSON object (no fences, no prose)


def shown(text: str | None) -> str:
    text = text or ""
    return repr(text if len(text) <= SHOWN else text[:SHOWN] + "...")


def read_reply(completion: Completion, schema: dict) -> Reply:
    """The reply's JSON object, checked against `schema`; `InvalidAnswer` for a refusal, a cut-off reply, text
    that holds no JSON object, or one that breaks the schema."""
    if completion.refusal:
        raise InvalidAnswer(f"the model refused: {shown(completion.refusal)}")
    content = completion.content
    if completion.finish_reason == "length":
        raise InvalidAnswer(f"the reply was cut off at the token limit: {shown(content)}; give a shorter answer")
    if not content or not content.strip():
        raise InvalidAnswer(f"the reply was empty (finish_reason={completion.finish_reason!r})", off_format=True)
    data, start, end = find_object(content)
    check_schema(data, schema, "the answer")
    return Reply(data, start, end, completion, exact=content.strip() == content[start:end])


def find_object(content: str) -> tuple[dict, int, int]:
    """The first JSON object in `content` (the whole text, a ```json fenced block, or an object inside prose)
    with its character span."""
    decoder = json.JSONDecoder()
    fenced = FENCE.match(content)
    search_from = fenced.start(1) if fenced else 0
    position = content.find("{", search_from)
    while position != -1:
        try:
            value, end = decoder.raw_decode(content, position)
        except (ValueError, RecursionError):
            position = content.find("{", position + 1)
            continue
        if isinstance(value, dict):
            return value, position, end
        position = content.find("{", end)
    raise InvalidAnswer(f"the reply is not a JSON object: {shown(content)}", off_format=True)


def check_schema(value: Any, schema: dict, where: str) -> None:
    """Check `value` against the JSON-schema subset the pipelines use (object, array, string with enum,
    boolean); `InvalidAnswer` names the first violation."""
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            raise InvalidAnswer(f"{where} must be a JSON object, got {shown(json.dumps(value))}", off_format=True)
        properties = schema.get("properties", {})
        missing = [key for key in schema.get("required", ()) if key not in value]
        extra = [key for key in value if key not in properties]
        if missing or (extra and schema.get("additionalProperties") is False):
            raise InvalidAnswer(
                f"{where} must have exactly the keys {sorted(properties)}; "
                f"{'missing ' + str(missing) if missing else 'unexpected ' + str(extra)}",
                off_format=True,
            )
        for key, item in value.items():
            if key in properties:
                check_schema(item, properties[key], f"{where}[{key!r}]")
    elif kind == "array":
        if not isinstance(value, list):
            raise InvalidAnswer(f"{where} must be a JSON array, got {shown(json.dumps(value))}", off_format=True)
        for index, item in enumerate(value):
            check_schema(item, schema["items"], f"{where}[{index}]")
    elif kind == "string":
        if not isinstance(value, str):
            raise InvalidAnswer(f"{where} must be a string, got {shown(json.dumps(value))}", off_format=True)
        if "enum" in schema and value not in schema["enum"]:
            raise InvalidAnswer(
                f"{where} is {value!r}, which is not one of the allowed values {schema['enum']}", off_format=True
            )
    elif kind == "boolean" and not isinstance(value, bool):
        raise InvalidAnswer(f"{where} must be true or false, got {shown(json.dumps(value))}", off_format=True)


# -- scores from log-probabilities -----------------------------------------------------------------------------


def value_spans(reply: Reply) -> list[tuple[str, int, int]]:
    """(key, start, end) of every scalar value in the reply's JSON object, in order: the characters of a
    string's text (between its quotes) or of a literal."""
    content = reply.completion.content or ""
    spans = []
    for match in PAIR.finditer(content, reply.start, reply.end):
        key = json.loads(f'"{match.group(1)}"')
        group = 2 if match.group(2) is not None else 3
        if match.group(group) is not None:
            spans.append((key, match.start(group), match.end(group)))
    return spans


class TokenScores:
    """The reply's tokens with their character spans, to score a value by the tokens that wrote it."""

    def __init__(self, reply: Reply) -> None:
        self.content = reply.completion.content or ""
        self.tokens = reply.completion.tokens or []
        self.starts = []
        position = 0
        for token, _, _ in self.tokens:
            self.starts.append(position)
            position += len(token)
        # a server whose tokens do not spell the content gives nothing to score with
        self.usable = bool(self.tokens) and "".join(token for token, _, _ in self.tokens) == self.content

    def _overlapping(self, start: int, end: int) -> list[int]:
        end = max(end, start + 1)  # an empty string value: score the token holding its quotes
        return [
            index
            for index, (token, _, _) in enumerate(self.tokens)
            if self.starts[index] < end and self.starts[index] + len(token) > start
        ]

    def probability(self, start: int, end: int) -> float | None:
        """The probability the model gave the characters [start, end): the product over the tokens that wrote
        them."""
        if not self.usable:
            return None
        indices = self._overlapping(start, end)
        return math.exp(sum(self.tokens[index][1] for index in indices)) if indices else None

    def choice_probabilities(self, start: int, end: int, choices: list[str]) -> dict[str, float | None]:
        """The probability of each allowed string value at the string [start, end) (between quotes).

        The written value gets the product of the tokens that wrote it and its closing quote. Another choice
        follows the written tokens while they agree with it; where they part, the server's alternatives for that
        token (`top_logprobs`) that continue the choice are summed, provided each one's text (up to the closing
        quote) starts no other choice: from there on a schema-constrained server can only complete this one. A
        choice without such an alternative, or sharing one with another choice, gets None.
        """
        if not self.usable:
            return dict.fromkeys(choices)
        written = self.content[start:end]
        encoded = {choice: json.dumps(choice, ensure_ascii=False)[1:-1] for choice in choices}
        indices = self._overlapping(start, end + 1)  # the closing quote tells "POS" from "POSITIVE"
        results: dict[str, float | None] = {}
        for choice, text in encoded.items():
            if text == written:
                results[choice] = self.probability(start, end + 1)
                continue
            alternative = self.content[:start] + text + '"'

            def agrees(token: str, position: int, alternative: str = alternative) -> bool:
                # the token spells the alternative as far as the alternative's closing quote
                covered = alternative[position : position + len(token)]
                return bool(token) and token.startswith(covered) and (
                    len(covered) == len(token) or position + len(covered) == len(alternative)
                )

            shared, result = 0.0, None
            for index in indices:
                token, logprob, top = self.tokens[index]
                position = self.starts[index]
                if agrees(token, position):
                    shared += logprob
                    continue
                mass, ambiguous = 0.0, False
                for other, other_logprob in top:
                    if not agrees(other, position):
                        continue
                    prefix = text[: position + len(other) - start]
                    if position + len(other) <= start + len(text) and any(
                        rival != text and rival.startswith(prefix) for rival in encoded.values()
                    ):
                        ambiguous = True
                    mass += math.exp(other_logprob)
                if mass and not ambiguous:
                    result = math.exp(shared) * mass
                break
            results[choice] = result
        return results


# -- finding text in the input ---------------------------------------------------------------------------------


def _is_word(character: str) -> bool:
    return character.isalnum() or character == "_"


def _whole_word(text: str, start: int, end: int) -> bool:
    """Whether [start, end) does not cut a word of `text` in two."""
    before = start > 0 and _whole_word_edge(text[start - 1], text[start])
    after = end < len(text) and _whole_word_edge(text[end - 1], text[end])
    return not before and not after


def _whole_word_edge(left: str, right: str) -> bool:
    return _is_word(left) and _is_word(right)


def occurrences(text: str, needle: str) -> list[tuple[int, int]]:
    """Every (start, end) where `needle` occurs in `text` (overlaps included); case-insensitively when it
    does not occur as written."""
    found = [(match.start(), match.start() + len(needle)) for match in re.finditer(f"(?={re.escape(needle)})", text)]
    if found:
        return found
    pattern = re.compile(f"(?={re.escape(needle)})", re.IGNORECASE)
    # case folding may change lengths (e.g. "ß"); keep only matches of the same length
    return [
        (match.start(), match.start() + len(needle))
        for match in pattern.finditer(text)
        if text[match.start() : match.start() + len(needle)].lower() == needle.lower()
    ]


def locate_mentions(text: str, mentions: list[str]) -> list[tuple[int, int]]:
    """The span of each mention in `text`, the mentions listed in reading order, each occurrence once.

    Deterministic rules: a mention takes the first free occurrence at or after the end of the previous one,
    whole words before parts of words, wrapping to the start of the text if there is none after; an occurrence
    overlapping one already taken is not free. `InvalidAnswer` when a mention is not in the text, or every
    occurrence of it is taken.
    """
    taken: list[tuple[int, int]] = []
    spans = []
    cursor = 0
    for number, raw in enumerate(mentions):
        mention = raw.strip()
        if not mention:
            raise InvalidAnswer(f"entity {number} has an empty text")
        free = [
            span for span in occurrences(text, mention)
            if not any(span[0] < end and start < span[1] for start, end in taken)
        ]
        if not free:
            count = len(occurrences(text, mention))
            raise InvalidAnswer(
                f"entity {number} {mention!r} does not occur in the text" if not count else
                f"entity {mention!r} is listed more often than it occurs in the text ({count} time(s)); list "
                "each occurrence once"
            )
        free.sort(key=lambda span: (span[0] < cursor, not _whole_word(text, *span), span[0]))
        span = free[0]
        taken.append(span)
        spans.append(span)
        cursor = span[1]
    return spans


def locate_answer(context: str, answer: str) -> tuple[int, int]:
    """The span of `answer` in `context`: its first occurrence (whole words first), as written, else
    case-insensitively. `InvalidAnswer` when it is not a substring."""
    answer = answer.strip()
    found = occurrences(context, answer) if answer else []
    if not found:
        raise InvalidAnswer(
            f"the answer {shown(answer)} is not a substring of the context; copy the answer exactly, character "
            "for character, from the context"
        )
    return min(found, key=lambda span: (not _whole_word(context, *span), span[0]))
