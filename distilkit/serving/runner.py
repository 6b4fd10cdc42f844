"""Running the app under uvicorn, with a graceful stop: on SIGTERM or SIGINT uvicorn closes the listening
socket, lets every accepted request finish (no time limit: each is bounded by the work it queued), then the
app's shutdown stops the batchers."""

from __future__ import annotations

import logging
from typing import Any

from .._extras import require
from .app import create_app
from .settings import ServerSettings


def serve(settings: ServerSettings) -> None:
    run_app(create_app(settings), settings)


def run_app(app: Any, settings: ServerSettings) -> None:
    uvicorn = require("uvicorn", "serve", "the HTTP server")
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                            access_log=settings.access_log, timeout_graceful_shutdown=None, lifespan="on")
    server = uvicorn.Server(config)  # building it configures uvicorn's loggers; ours writes through them
    serving_logger = logging.getLogger("distilkit.serving")
    serving_logger.handlers = logging.getLogger("uvicorn").handlers
    serving_logger.setLevel(logging.getLogger("uvicorn.error").getEffectiveLevel())
    serving_logger.propagate = False
    server.run()
