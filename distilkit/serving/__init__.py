"""`distilkit serve`: every pipeline task over HTTP, with dynamic batching on real tokens, TEI-style limits,
Prometheus metrics, graceful shutdown and a playground page.

    distilkit serve --model path/to/model[:task] --port 8080      # or: python -m distilkit.serving ...
    uvicorn --factory distilkit.serving:create_app                # settings from DISTILKIT_SERVE_* variables

Needs the `serve` extra (FastAPI, uvicorn, prometheus-client), imported only when a server is built.
Settings and their table are in `settings.py`, errors and their table in `errors.py`.
"""

from __future__ import annotations

from typing import Any

from .settings import ServerSettings, parse_settings

__all__ = ["ServerSettings", "create_app", "main", "parse_settings", "serve"]


def create_app(settings: ServerSettings | None = None) -> Any:
    """The ASGI app (FastAPI); with no settings they come from the environment (for `uvicorn --factory`)."""
    from .app import create_app as build

    return build(settings)


def serve(settings: ServerSettings) -> None:
    """Run the server until SIGTERM or Ctrl-C; on either it stops accepting connections, answers every request
    already accepted, then returns."""
    from .runner import serve as run

    run(settings)


def main(argv: list[str] | None = None) -> None:
    """`python -m distilkit.serving`: a bad setting or model spec exits with 2 and one line."""
    import sys

    from ..errors import DistilkitError

    try:
        settings = parse_settings(argv)
        from .app import create_app as build

        app = build(settings)
    except DistilkitError as error:
        print(f"distilkit serve: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    from .runner import run_app

    run_app(app, settings)
