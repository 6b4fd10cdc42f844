"""`OpenAICompatible`: a chat model behind an OpenAI-compatible API (OpenAI, vLLM, llama.cpp, Ollama, LiteLLM),
usable as `model=` of the classification, NER and question-answering pipelines.

`complete(...)` is one chat completion for one input, with everything a flaky network and a loose server need:
- the reply format is negotiated once per backend and cached: a strict `json_schema`, else `json_object`, else
  none (the prompt always carries the schema, and every answer is validated locally) — with a warning each time
  it degrades, whether the server rejected the format (HTTP 400/422) or ignored it (`note_ignored`);
- transport retries with exponential backoff on 408/409/429 (honouring `Retry-After`), 5xx, timeouts and dropped
  connections, all inside the caller's deadline;
- `temperature=0` and a fixed `seed` by default; token log-probabilities asked for (dropped with a warning by a
  server that refuses them).
The API key comes from `api_key=` or `OPENAI_API_KEY` and is never shown: not in `repr`, errors, logs, pickles or
`save_pretrained`.
"""

from __future__ import annotations

import email.utils
import logging
import math
import os
import random
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .._extras import require
from .._io import read_json, write_json_atomic
from ..errors import ConfigError, RemoteError, RemoteTimeoutError

logger = logging.getLogger(__name__)

FORMATS = ("json_schema", "json_object", "text")  # best first; "text": the prompt alone carries the schema
CONFIG_NAME = "remote_config.json"
SETTINGS = ("model", "base_url", "timeout", "max_retries", "backoff", "max_concurrency", "temperature", "seed",
            "max_tokens", "logprobs")
RETRYABLE_STATUS = {408, 409, 429}  # and every 5xx
MAX_BACKOFF = 30.0  # seconds between two transport attempts, at most (a longer Retry-After is honoured if it fits)
_jitter = random.Random()


@dataclass
class Usage:
    """What the remote calls of a pipeline cost: every request, re-asks and transport retries included.

    `requests` counts the requests that got an answer; `retries` the transport failures retried (429, 5xx,
    timeouts, dropped connections); `reasks` the requests sent again because an answer did not validate;
    `negotiations` the requests refused for their reply format (once per backend). Token counts are those the
    server reported (0 when it reports none).
    """

    requests: int = 0
    retries: int = 0
    reasks: int = 0
    negotiations: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, count in counts.items():
                setattr(self, name, getattr(self, name) + count)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "_lock"}


@dataclass(frozen=True)
class Completion:
    """One reply: its text (or refusal), why it stopped, the format it was asked in, and per-token log
    probabilities `[(token, logprob, [(alternative, logprob), ...]), ...]` when the server sent them."""

    content: str | None
    refusal: str | None
    finish_reason: str | None
    format: str
    tokens: list[tuple[str, float, list[tuple[str, float]]]] | None


def _check_number(name: str, value: Any, minimum: float, *, integer: bool = False, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value) or value < minimum:
        kind = "an int" if integer else "a number"
        raise ConfigError(f"{name} must be {kind} >= {minimum:g}{' or None' if allow_none else ''}, got {value!r}")
    return value


def without_credentials(url: str | None) -> str | None:
    """A URL with any user:password@ part and query string removed (they may hold secrets)."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class OpenAICompatible:
    """A chat model behind an OpenAI-compatible `/chat/completions` endpoint, as a pipeline backend.

    >>> backend = OpenAICompatible(base_url="http://localhost:8000/v1", model="my-llm")    # doctest: +SKIP
    >>> clf = pipeline("text-classification", model=backend, labels=["POSITIVE", "NEGATIVE"])  # doctest: +SKIP

    - `model`: the served model's name. `base_url`, `api_key`: as the `openai` client takes them, else from
      `OPENAI_BASE_URL` / `OPENAI_API_KEY`; a self-hosted `base_url` may need no key.
    - `timeout`: seconds one input may take in total — its transport retries and re-asks included.
    - `max_retries`: transport retries per request (429, 5xx, timeouts); `backoff`: the first wait in seconds,
      doubled each retry (a `Retry-After` from the server wins).
    - `max_concurrency`: requests in flight at once across the inputs of a call.
    - `temperature`, `seed`, `max_tokens`: sent with every request (`max_tokens=None`: the server's default).
    - `logprobs`: ask for token log-probabilities, the only source of scores (`score=None` without them).
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_concurrency: int = 8,
        temperature: float = 0.0,
        seed: int | None = 0,
        max_tokens: int | None = None,
        logprobs: bool = True,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"model must be the served model's name (a non-empty str), got {model!r}")
        if base_url is not None and not isinstance(base_url, str):
            raise ConfigError(f"base_url must be a str such as 'http://localhost:8000/v1', got {base_url!r}")
        if api_key is not None and not isinstance(api_key, str):
            raise ConfigError(f"api_key must be a str, got a {type(api_key).__name__}")
        if not isinstance(logprobs, bool):
            raise ConfigError(f"logprobs must be True or False, got {logprobs!r}")
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.timeout = _check_number("timeout", timeout, 0.001)
        self.max_retries = _check_number("max_retries", max_retries, 0, integer=True)
        self.backoff = _check_number("backoff", backoff, 0)
        self.max_concurrency = _check_number("max_concurrency", max_concurrency, 1, integer=True)
        self.temperature = _check_number("temperature", temperature, 0, allow_none=True)
        self.seed = _check_number("seed", seed, 0, integer=True, allow_none=True)
        self.max_tokens = _check_number("max_tokens", max_tokens, 1, integer=True, allow_none=True)
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
        if self._api_key is None and self.base_url is None:
            raise ConfigError(
                "no API key for the OpenAI API: pass api_key=... or set OPENAI_API_KEY (or give the base_url of "
                "a self-hosted server that needs none)"
            )
        self.logprobs = logprobs
        # what requests ask for, best first: (reply format, logprobs); a refused request moves one step down
        self._ladder = [(format, scored) for format in FORMATS for scored in (True, False) if logprobs or not scored]
        self._step = 0  # the best step this server has not refused
        self._lock = threading.Lock()
        self._client = self._make_client()

    def _make_client(self) -> Any:
        openai = require("openai", "remote", "remote models (distilkit.remote)")
        # a self-hosted server without authentication still needs a non-empty key for the client
        return openai.OpenAI(api_key=self._api_key or "no-key", base_url=self.base_url, max_retries=0)

    # -- presentation and persistence: never the key -------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"OpenAICompatible(model={self.model!r}, base_url={without_credentials(self.base_url)!r}, "
            f"timeout={self.timeout}, max_concurrency={self.max_concurrency}, format={self.format!r})"
        )

    def __getstate__(self) -> dict[str, Any]:
        # a pickled backend (e.g. sent to worker processes) carries no key: it is read again from OPENAI_API_KEY
        return {key: value for key, value in self.__dict__.items() if key not in ("_api_key", "_client", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._api_key = os.environ.get("OPENAI_API_KEY") or None
        self._lock = threading.Lock()
        self._client = self._make_client()

    def settings(self) -> dict[str, Any]:
        """The backend's settings, as `save_pretrained` writes them (no key, no URL credentials)."""
        values = {name: getattr(self, name) for name in SETTINGS}
        return {"backend": "openai-compatible", **values, "base_url": without_credentials(self.base_url)}

    def save_pretrained(self, save_directory: str | os.PathLike) -> Path:
        """Write `remote_config.json` (the settings; never the API key) into `save_directory`."""
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        return write_json_atomic(directory / CONFIG_NAME, self.settings())

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, api_key: str | None = None) -> OpenAICompatible:
        """A backend from a saved `remote_config.json`; the key from `api_key=` or `OPENAI_API_KEY`."""
        settings = read_json(Path(directory) / CONFIG_NAME, what="remote model settings", error=ConfigError)
        if not isinstance(settings, dict) or settings.pop("backend", None) != "openai-compatible":
            raise ConfigError(f"{Path(directory) / CONFIG_NAME} is not the settings of an OpenAICompatible backend")
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            raise ConfigError(f"{Path(directory) / CONFIG_NAME} holds unknown settings {unknown}; it accepts "
                              f"{', '.join(SETTINGS)}")
        return cls(api_key=api_key, **settings)

    # -- secrets out of every message ----------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """`text` with the API key (and the base URL's credentials) replaced by ***."""
        if self._api_key:
            text = text.replace(self._api_key, "***")
        if self.base_url and without_credentials(self.base_url) != self.base_url:
            text = text.replace(self.base_url, without_credentials(self.base_url) or "")
        return text

    @property
    def where(self) -> str:
        return f"{self.model!r} at {without_credentials(self.base_url) or 'the OpenAI API'}"

    # -- negotiation -----------------------------------------------------------------------------------------

    @property
    def format(self) -> str:
        """The reply format requests are sent with now: "json_schema", "json_object" or "text"."""
        return self._ladder[self._step][0]

    def note_ignored(self, format: str) -> None:
        """The server accepted `format` but its reply did not follow it: ask with the next format from now on."""
        scored = self._ladder[self._step][1]
        lower = [
            step for step, (other, other_scored) in enumerate(self._ladder)
            if FORMATS.index(other) > FORMATS.index(format) and other_scored == scored
        ]
        if lower:  # no step down when another thread has already moved past it
            self._settle(lower[0], f"ignored response_format={format!r}")

    def _settle(self, step: int, why: str) -> None:
        """Move down the ladder to `step` (never up), warning about what changes."""
        with self._lock:
            if step <= self._step:  # another thread got there first
                return
            (before, scored_before), (after, scored_after) = self._ladder[self._step], self._ladder[step]
            self._step = step
        changes = []
        if after != before:
            changes.append(f"asking with response_format={after!r} from now on (answers are validated locally)")
        if scored_before and not scored_after:
            changes.append("asking without logprobs from now on, so scores will be None")
        warnings.warn(f"the server of {self.where} {why}; {' and '.join(changes)}", stacklevel=3)

    def _request(self, messages: list[dict], schema: dict, format: str, logprobs: bool, top_logprobs: int) -> dict:
        request: dict[str, Any] = {"model": self.model, "messages": messages}
        if self.temperature is not None:
            request["temperature"] = self.temperature
        if self.seed is not None:
            request["seed"] = self.seed
        if self.max_tokens is not None:
            request["max_tokens"] = self.max_tokens
        if format == "json_schema":
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "strict": True, "schema": schema},
            }
        elif format == "json_object":
            request["response_format"] = {"type": "json_object"}
        if logprobs:
            request["logprobs"] = True
            if top_logprobs:
                request["top_logprobs"] = top_logprobs
        return request

    # -- one completion --------------------------------------------------------------------------------------

    def complete(
        self, messages: list[dict], schema: dict, *, deadline: float, name: str, usage: Usage, top_logprobs: int = 0
    ) -> Completion:
        """One reply to `messages`, asked in the best format the server takes, retried on transport failures
        until `deadline` (a `time.monotonic()` value). Raises `RemoteTimeoutError` past the deadline and
        `RemoteError` when the server refuses the request or keeps failing."""
        openai = require("openai", "remote", "remote models (distilkit.remote)")
        step, retries = self._step, 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RemoteTimeoutError(
                    f"{name}: no answer from {self.where} within the timeout ({self.timeout:g} s per input, "
                    "retries and re-asks included); raise timeout=... or check the server"
                )
            format, logprobs = self._ladder[step]
            request = self._request(messages, schema, format, logprobs, top_logprobs)
            try:
                response = self._client.chat.completions.create(**request, timeout=remaining)
            except openai.APIStatusError as error:
                status = error.status_code
                if status in (400, 422) and step < len(self._ladder) - 1:
                    # refused, maybe for what it asks of the server (a reply format, logprobs): ask for less
                    usage.add(negotiations=1)
                    step += 1
                    continue
                if status not in RETRYABLE_STATUS and status < 500:
                    raise RemoteError(
                        f"{name}: {self.where} refused the request with HTTP {status}: "
                        f"{self.redact(str(error.message))[:500]}"
                    ) from None
                problem = f"HTTP {status}"
                wait = retry_after(error.response)
            except (openai.APITimeoutError, openai.APIConnectionError) as error:
                problem, wait = type(error).__name__, None
            except openai.OpenAIError as error:  # e.g. a reply the client cannot read
                raise RemoteError(
                    f"{name}: the request to {self.where} failed: {type(error).__name__}: "
                    f"{self.redact(str(error))[:500]}"
                ) from None
            else:
                if step > self._step:  # remembered only once a request asking for less got an answer
                    refused = sorted({f for f, _ in self._ladder[self._step : step]}, key=FORMATS.index)
                    what = (f"response_format={refused[0]!r}" if refused[0] != format else "logprobs")
                    self._settle(step, f"rejected requests with {what}")
                return self._completion(response, format, usage)
            if retries >= self.max_retries:
                raise RemoteError(
                    f"{name}: {self.where} kept failing ({problem}) after {retries} retries; try again later or "
                    "raise max_retries=..."
                )
            wait = wait if wait is not None else min(MAX_BACKOFF, self.backoff * 2**retries)
            wait *= 1 + 0.1 * _jitter.random()  # spread the retries of concurrent requests
            if wait >= deadline - time.monotonic():
                raise RemoteTimeoutError(
                    f"{name}: {self.where} failed ({problem}) and the next try (in {wait:.1f} s) would pass the "
                    f"timeout ({self.timeout:g} s per input); raise timeout=... or try again later"
                )
            logger.info("%s: %s from %s; retrying in %.2f s", name, problem, self.where, wait)
            retries += 1
            usage.add(retries=1)
            time.sleep(wait)

    @staticmethod
    def _completion(response: Any, format: str, usage: Usage) -> Completion:
        counts = getattr(response, "usage", None)
        usage.add(
            requests=1,
            prompt_tokens=getattr(counts, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(counts, "completion_tokens", 0) or 0,
            total_tokens=getattr(counts, "total_tokens", 0) or 0,
        )
        choices = getattr(response, "choices", None) or []
        if not choices:
            return Completion(None, None, "no choices", format, None)
        choice = choices[0]
        message = choice.message
        tokens = None
        content_logprobs = getattr(getattr(choice, "logprobs", None), "content", None)
        if content_logprobs:
            tokens = [
                (
                    entry.token,
                    float(entry.logprob),
                    [(other.token, float(other.logprob)) for other in (entry.top_logprobs or [])],
                )
                for entry in content_logprobs
            ]
        return Completion(
            message.content, getattr(message, "refusal", None), choice.finish_reason, format, tokens
        )


def retry_after(response: Any) -> float | None:
    """Seconds the server asked to wait (`retry-after-ms`, or `Retry-After` in seconds or as an HTTP date)."""
    headers = getattr(response, "headers", None) or {}
    try:
        if headers.get("retry-after-ms") is not None:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None  # an unreadable header: fall back to the backoff
