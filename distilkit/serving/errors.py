"""The server's one error table: every failure a client can see, its HTTP status and its `type`.

Every error body is `{"error": "<what went wrong and the fix>", "type": "<type>"}`. Handlers raise
`ServeError(type, message)`; the app turns it (and anything unexpected, as a 500 with no traceback) into a
response through `error_response`, so a status code is decided here and nowhere else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorKind:
    status: int
    when: str


ERRORS: dict[str, ErrorKind] = {
    "empty_input": ErrorKind(400, "`inputs` is empty, or a text in it is empty or only whitespace"),
    "not_found": ErrorKind(404, "no such route, or the requested model or task is not served"),
    "method_not_allowed": ErrorKind(405, "the route exists but not with this HTTP method"),
    "payload_too_large": ErrorKind(413, "the request body is larger than `payload_limit`"),
    "validation": ErrorKind(
        422, "malformed JSON (syntax, non-UTF-8 bytes, NaN/Infinity, nesting), wrong types, unknown or invalid "
        "parameters, more inputs than `max_client_batch_size`, a text over `max_input_tokens` (without "
        "`auto_truncate`), or an input costing more than `max_batch_tokens`",
    ),
    "overloaded": ErrorKind(429, "`max_concurrent_requests` requests are already in flight; retry after the "
                                 "`Retry-After` seconds"),
    "backend": ErrorKind(500, "the model failed on an input it accepted (logged on the server)"),
    "not_ready": ErrorKind(503, "the models are still loading, or the server is shutting down"),
}


class ServeError(Exception):
    """A failure with a client-facing message; `kind` is a key of `ERRORS`."""

    def __init__(self, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
        if kind not in ERRORS:
            raise KeyError(f"unknown error kind {kind!r}; add it to ERRORS")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.headers = headers or {}

    @property
    def status(self) -> int:
        return ERRORS[self.kind].status


def error_body(kind: str, message: str) -> bytes:
    return json.dumps({"error": message, "type": kind}, ensure_ascii=False).encode("utf-8")


def error_table() -> str:
    """The Markdown table of every error (docs/serving.md holds a copy; a test keeps them equal)."""
    lines = ["| status | `type` | when |", "|---|---|---|"]
    lines += [f"| {kind.status} | `{name}` | {kind.when} |" for name, kind in ERRORS.items()]
    return "\n".join(lines)
