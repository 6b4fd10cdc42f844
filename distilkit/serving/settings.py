"""Every knob of `distilkit serve` in one table: each setting is a flag, an environment variable and a default.

A flag beats the environment variable, which beats the default. Limits follow text-embeddings-inference's
defaults (payload 2 MB, 512 concurrent requests, 32 inputs per request, 16,384 tokens per batch). This module
imports nothing heavy: the CLI builds its parser from it, and `docs/serving.md` shows `settings_table()`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

ENV_PREFIX = "DISTILKIT_SERVE_"


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise ValueError(f"{value} is not >= 1")
    return value


def optional_positive_int(text: str) -> int | None:
    return None if str(text).strip().lower() in ("", "none", "auto") else positive_int(text)


def port_number(text: str) -> int:
    value = int(text) if str(text).strip().isdigit() else -1
    if not 0 <= value <= 65535:
        raise ValueError(f"{text!r} is not a port number (0-65535; 0 picks a free one)")
    return value


def boolean(text: str) -> bool:
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not a boolean (true/false, 1/0, yes/no, on/off)")


def model_list(text: str) -> tuple[str, ...]:
    """Comma-separated model specs (the environment variable's form)."""
    return tuple(part.strip() for part in str(text).split(",") if part.strip())


def setting(default: Any, parse: Callable[[str], Any], help: str, *, metavar: str = "") -> Any:
    return field(default=default, metadata={"parse": parse, "help": help, "metavar": metavar})


@dataclass(frozen=True)
class ServerSettings:
    """The server's settings; `ServerSettings.from_sources(arguments, os.environ)` reads flags and environment."""

    model: tuple[str, ...] = setting(
        (), model_list,
        "model to serve, NAME_OR_PATH[:TASK]; repeat for several. A path, a Hub id in the local cache, or an "
        "embedded default's name (sentiment, ner, embeddings, fill-mask). None: the embedded defaults "
        "(sentiment, NER, embeddings, zero-shot by embeddings)", metavar="SPEC",
    )
    host: str = setting("127.0.0.1", str, "address to listen on (loopback by default)")
    port: int = setting(8080, port_number, "TCP port (0 picks a free one)")
    max_concurrent_requests: int = setting(
        512, positive_int, "inference requests in flight at once; one more gets 429 with Retry-After"
    )
    payload_limit: int = setting(2_000_000, positive_int, "largest request body in bytes; larger gets 413")
    max_client_batch_size: int = setting(32, positive_int, "most inputs in one request; more gets 422")
    max_batch_tokens: int = setting(
        16384, positive_int,
        "real (unpadded) tokens in one model batch; also the most one input may cost (larger gets 422)",
    )
    max_batch_requests: int | None = setting(
        None, optional_positive_int, "most inputs in one model batch (none: only max_batch_tokens limits it)"
    )
    max_input_tokens: int | None = setting(
        None, optional_positive_int,
        "most tokens in one text of an input (none: the model's maximum length); longer gets 422, or is cut "
        "with auto_truncate",
    )
    auto_truncate: bool = setting(
        False, boolean, "cut texts longer than max_input_tokens at a word boundary instead of refusing them"
    )
    max_explain_steps: int = setting(
        300, positive_int, "most integrated-gradients steps one /v1/explain request may ask for; more gets 422"
    )
    batch_size: int = setting(
        32, positive_int, "rows per forward pass inside one model batch (the pipelines' batch_size)"
    )
    device: str | None = setting(None, str, "torch device of the models, e.g. cpu or cuda:0 (none: auto)")
    log_level: str = setting("info", str, "uvicorn log level: critical, error, warning, info, debug")
    access_log: bool = setting(True, boolean, "log one line per request (uvicorn's access log)")

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name in ("host", "log_level", "device") and value is not None and not isinstance(value, str):
                raise ConfigError(f"{item.name}={value!r} must be a str")
        for name in ("max_concurrent_requests", "payload_limit", "max_client_batch_size", "max_batch_tokens",
                     "max_explain_steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}={value!r} must be an int >= 1 (flag {flag(name)})")
        for name in ("max_batch_requests", "max_input_tokens"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name}={value!r} must be an int >= 1 or None (flag {flag(name)})")
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ConfigError(f"port={self.port!r} must be an int in 0-65535")
        for name in ("auto_truncate", "access_log"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name}={getattr(self, name)!r} must be True or False")
        if isinstance(self.model, str) or not all(isinstance(spec, str) for spec in self.model):
            raise ConfigError(f"model={self.model!r} must be a tuple of NAME_OR_PATH[:TASK] strings")
        if (self.max_input_tokens or 0) > self.max_batch_tokens:
            raise ConfigError(
                f"max_input_tokens={self.max_input_tokens} is more than max_batch_tokens={self.max_batch_tokens}: "
                "such an input could never fit a batch; raise --max-batch-tokens or lower --max-input-tokens"
            )

    @classmethod
    def from_sources(
        cls, arguments: argparse.Namespace | Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ServerSettings:
        """Flags (an argparse namespace or a dict; None values mean "not given") over environment variables
        over defaults."""
        given = vars(arguments) if isinstance(arguments, argparse.Namespace) else dict(arguments or {})
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for item in dataclasses.fields(cls):
            if given.get(item.name) not in (None, ()):
                value = given[item.name]
                values[item.name] = tuple(value) if item.name == "model" else value
            elif env(item.name) in environ:
                try:
                    values[item.name] = item.metadata["parse"](environ[env(item.name)])
                except ValueError as error:
                    raise ConfigError(f"environment variable {env(item.name)}: {error}") from None
        return cls(**values)

    def limits(self) -> dict[str, Any]:
        return {item.name: getattr(self, item.name) for item in dataclasses.fields(self)
                if item.name not in ("model", "host", "port", "log_level", "access_log")}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def env(name: str) -> str:
    return ENV_PREFIX + name.upper()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per setting; defaults stay None so `from_sources` can tell "not given" from a value."""
    for item in dataclasses.fields(ServerSettings):
        parse = item.metadata["parse"]
        help_text = f"{item.metadata['help']} [env {env(item.name)}; default {describe(item.default)}]"
        if item.name == "model":
            parser.add_argument(flag(item.name), action="append", metavar=item.metadata["metavar"] or None,
                                help=help_text)
            continue
        if parse is boolean:
            parser.add_argument(flag(item.name), action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
            continue
        parser.add_argument(flag(item.name), type=argparse_type(parse), metavar=item.name.upper(),
                            help=help_text)


def argparse_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = parse.__name__
    return convert


def describe(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ", ".join(value) or "the embedded defaults"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:,}" if isinstance(value, int) and value >= 10_000 else str(value)


def settings_table() -> str:
    """The Markdown table of every setting (docs/serving.md holds a copy; a test keeps them equal)."""
    lines = ["| setting | flag | environment variable | default | meaning |", "|---|---|---|---|---|"]
    for item in dataclasses.fields(ServerSettings):
        lines.append(f"| `{item.name}` | `{flag(item.name)}` | `{env(item.name)}` | {describe(item.default)} | "
                     f"{item.metadata['help']} |")
    return "\n".join(lines)


def parse_settings(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> ServerSettings:
    parser = argparse.ArgumentParser(prog="python -m distilkit.serving", description="distilkit HTTP server")
    add_arguments(parser)
    return ServerSettings.from_sources(parser.parse_args(argv), environ)
