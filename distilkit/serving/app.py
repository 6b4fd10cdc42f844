"""The FastAPI application: one route per task, OpenAI-compatible embeddings, health, readiness, info,
Prometheus metrics, offline API docs and the playground page.

`create_app(settings)` builds it (with no argument it reads the environment, so `uvicorn --factory
distilkit.serving:create_app` works). Models load in a background thread after start-up: /health answers at
once, /ready and the task routes answer 503 until every model is loaded. Each inference request is admitted
(or refused with 429), its body read within the payload limit, parsed strictly, validated against the task's
schema, checked and tokenized in a worker thread, then queued for its model's batcher.
"""

import asyncio
import base64
import contextlib
import json
import logging
import platform
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .._extras import require
from .._version import __version__
from ..errors import ConfigError
from ..explain import explain_json
from .batching import Batcher, as_serve_error
from .errors import ERRORS, ServeError, error_body
from .metrics import Metrics
from .playground import playground_html
from .served import ModelSpec, ServedModel, load, resolve_specs
from .settings import ServerSettings
from .tasks import (
    EXPLAINABLE,
    SHAPES,
    EmbeddingsRequest,
    ExplainRequest,
    TaskShape,
    parse_request,
    request_model,
    single_result,
    validate,
)

logger = logging.getLogger("distilkit.serving")

DRAIN_LIMIT = 64 * 1024 * 1024  # bytes of an over-limit body read (and dropped) so the client gets its 413
DOCS_ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
EMBEDDING_OPTIONS = {"pooling": "mean", "normalize": True}  # sentence embeddings, as OpenAI's are unit vectors


class ServerState:
    """Everything one app holds: settings, models, batchers, the preparation threads and the counters."""

    def __init__(self, settings: ServerSettings, specs: list[ModelSpec]) -> None:
        self.settings = settings
        self.specs = specs
        self.metrics = Metrics()
        self.models: dict[str, ServedModel] = {}
        self.batchers: dict[str, Batcher] = {}
        self.ready = False
        self.failure: str | None = None
        self.in_flight = 0
        self.prepare_threads = ThreadPoolExecutor(2, thread_name_prefix="distilkit-prepare")

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        loader = asyncio.get_running_loop().create_task(self.load_models())
        try:
            yield
        finally:
            loader.cancel()
            await asyncio.gather(loader, return_exceptions=True)
            for batcher in self.batchers.values():
                await batcher.stop()
            self.prepare_threads.shutdown(wait=True)

    async def load_models(self) -> None:
        try:
            models = await asyncio.to_thread(self.load_all)
        except Exception as error:  # a broken model: /health and /ready say so (and the log has the cause)
            self.failure = f"loading the models failed: {type(error).__name__}: {error}"
            logger.error(self.failure, exc_info=not isinstance(error, ConfigError))
            return
        for served in models:
            batcher = Batcher(served, self.settings.max_batch_tokens, self.settings.max_batch_requests,
                              self.settings.batch_size, self.metrics)
            batcher.start()
            self.batchers[served.name] = batcher
            self.models[served.name] = served
        self.ready = True
        logger.info("ready: %s", ", ".join(f"{model.name} ({model.task})" for model in models))

    def load_all(self) -> list[ServedModel]:
        loaded: dict[str, Any] = {}
        return [load(spec, self.settings, loaded) for spec in self.specs]

    @contextlib.asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        limit = self.settings.max_concurrent_requests
        if self.in_flight >= limit:
            raise ServeError("overloaded", f"the server is busy: {limit} requests are in flight "
                                           "(max_concurrent_requests); retry shortly", {"Retry-After": "1"})
        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            yield
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()

    def select(self, task: str, name: str | None, lenient: bool = False) -> ServedModel:
        """The model serving `task` (the first given for it, or the one named); `lenient` falls back to the
        first when the name is unknown (OpenAI clients always send some model name)."""
        if not self.ready:
            raise ServeError("not_ready", self.failure or "the models are still loading; poll GET /ready")
        candidates = [model for model in self.models.values() if model.task == task]
        if not candidates:
            served = ", ".join(sorted({model.task for model in self.models.values()}))
            raise ServeError("not_found", f"no model serves {task} here; this server serves: {served}")
        if name is None:
            return candidates[0]
        for model in candidates:
            if model.name == name:
                return model
        if lenient:
            return candidates[0]
        names = ", ".join(model.name for model in candidates)
        raise ServeError("not_found", f"model {name!r} does not serve {task} here; choose from: {names}")

    def select_explainable(self, name: str | None) -> ServedModel:
        """The model `/v1/explain` uses: the one named, else the first text-classification, token-classification
        or fill-mask model."""
        if not self.ready:
            raise ServeError("not_ready", self.failure or "the models are still loading; poll GET /ready")
        candidates = [model for model in self.models.values() if model.task in EXPLAINABLE]
        chosen = [model for model in candidates if name is None or model.name == name]
        if not chosen:
            names = ", ".join(model.name for model in candidates) or "none"
            raise ServeError("not_found", f"no explainable model{'' if name is None else f' named {name!r}'} is "
                                          f"served ({', '.join(EXPLAINABLE)}); explainable here: {names}")
        return chosen[0]

    async def infer(self, served: ServedModel, items: list[Any], parameters: dict[str, Any],
                    single: bool) -> tuple[list[Any], list[int]]:
        """Results of a request's inputs, in order, and each input's real token count."""
        names = ["inputs"] if single else [f"inputs[{index}]" for index in range(len(items))]
        loop = asyncio.get_running_loop()
        try:
            items, costs = await loop.run_in_executor(
                self.prepare_threads, served.prepare, items, parameters, self.settings, names)
        except Exception as error:  # a tokenizer failure is this request's error, never a crash
            raise as_serve_error(error, served.name) from None
        return await self.batchers[served.name].submit(items, costs, parameters), costs

    def info(self) -> dict[str, Any]:
        versions = {"distilkit": __version__, "python": platform.python_version()}
        for module in ("torch", "fastapi", "uvicorn", "tokenizers"):
            with contextlib.suppress(ImportError):
                versions[module] = __import__(module).__version__
        return {
            "ready": self.ready,
            "models": [model.info() for model in self.models.values()] if self.ready else
                      [{"name": spec.name, "task": spec.task, "source": spec.source} for spec in self.specs],
            "tasks": sorted({spec.task for spec in self.specs}),
            "limits": self.settings.limits(),
            "versions": versions,
            "explain": any(model.task in EXPLAINABLE for model in self.models.values()),
        }


async def read_body(request: Any, limit: int) -> bytes:
    """The body, or 413 once it passes `limit` bytes (the rest is read and dropped, up to DRAIN_LIMIT, so the
    client is not cut off mid-upload and reads the 413)."""
    declared = request.headers.get("content-length", "")
    too_large = declared.isdigit() and int(declared) > limit
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            too_large = True
        if too_large:
            if size > DRAIN_LIMIT:
                break
            continue
        chunks.append(chunk)
    if too_large:
        shown = f"{int(declared):,}" if declared.isdigit() else f"more than {limit:,}"
        raise ServeError("payload_too_large", f"the body has {shown} bytes but this server takes at most "
                                              f"payload_limit={limit:,}; send less per request")
    return b"".join(chunks)


def reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (a number must be finite)")


def parse_json(body: bytes) -> Any:
    """Strict JSON: UTF-8 only, no NaN or Infinity, bounded nesting; every failure is a 422."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ServeError("validation", f"the body is not UTF-8: byte 0x{body[error.start]:02x} at position "
                                       f"{error.start}; send UTF-8 encoded JSON") from None
    try:
        value = json.loads(text, parse_constant=reject_constant)
        # a lone surrogate escape ("\\ud800") decodes to a str no tokenizer or encoder can take
        json.dumps(value, ensure_ascii=False).encode("utf-8")
        return value
    except UnicodeEncodeError:
        raise ServeError("validation", "the body holds a lone UTF-16 surrogate escape (e.g. \"\\ud800\"), "
                                       "which is not a character; send valid text") from None
    except RecursionError:
        raise ServeError("validation", "the JSON body is nested too deeply") from None
    except json.JSONDecodeError as error:
        raise ServeError("validation", f"the body is not valid JSON: {error.msg} at line {error.lineno} "
                                       f"column {error.colno}") from None
    except ValueError as error:
        raise ServeError("validation", f"the body is not valid JSON: {error}") from None


def to_plain(value: Any) -> Any:
    """Numpy and torch values -> plain JSON-able Python values."""
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def json_bytes(value: Any) -> bytes:
    try:
        return json.dumps(to_plain(value), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except ValueError:
        raise ServeError("backend", "the model produced a NaN or infinite value; the result cannot be sent as "
                                    "JSON") from None


class Observe:
    """ASGI middleware counting every HTTP request by route template and status, with its latency."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped every handler

        async def capture(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")  # templates only: bounded label values
            self.metrics.requests.labels(path, str(status)).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - started)


def create_app(settings: ServerSettings | None = None) -> Any:
    """The server's ASGI app. With no settings, they come from the DISTILKIT_SERVE_* environment variables."""
    fastapi = require("fastapi", "serve", "the HTTP server")
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.openapi.utils import get_openapi
    from starlette.exceptions import HTTPException
    from starlette.responses import FileResponse, HTMLResponse, Response

    settings = settings or ServerSettings.from_sources()
    state = ServerState(settings, resolve_specs(settings))
    app = fastapi.FastAPI(title="distilkit", version=__version__, lifespan=state.lifespan, docs_url=None,
                          redoc_url=None, description="DistilBERT-family pipelines over HTTP, with dynamic "
                                                      "batching on real tokens. Errors: {\"error\", \"type\"}.")
    app.state.server = state
    metrics = state.metrics

    def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(json_bytes(value), status_code=status, media_type="application/json", headers=headers)

    def error_response(error: ServeError) -> Response:
        metrics.errors.labels(error.kind).inc()
        return Response(error_body(error.kind, error.message), status_code=error.status,
                        media_type="application/json", headers=error.headers)

    @app.exception_handler(ServeError)
    async def on_serve_error(request: Any, error: ServeError) -> Response:
        return error_response(error)

    @app.exception_handler(HTTPException)
    async def on_http_error(request: Any, error: HTTPException) -> Response:
        if error.status_code == 405:
            return error_response(ServeError("method_not_allowed",
                                             f"{request.method} is not allowed on {request.url.path}"))
        return error_response(ServeError("not_found", f"no route {request.method} {request.url.path}; the "
                                                      "routes are listed at /docs"))

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Any, error: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors()[:5])
        return error_response(ServeError("validation", problems))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Any, error: Exception) -> Response:
        logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
        return error_response(ServeError("backend", "internal error; the server logged the details"))

    app.add_middleware(Observe, metrics=metrics)

    error_docs = {kind.status: {"description": f"`{name}`: {kind.when}"} for name, kind in ERRORS.items()
                  if kind.status in (400, 404, 413, 422, 429, 500, 503)}

    def add_task_route(shape: TaskShape) -> None:
        model = request_model(shape)
        request_models.append(model)

        async def endpoint(request: fastapi.Request) -> Response:
            async with state.admit():
                body = parse_json(await read_body(request, settings.payload_limit))
                parsed = parse_request(shape, model, body, settings.max_client_batch_size)
                served = state.select(shape.task, parsed.model)
                results, _ = await state.infer(served, parsed.items, parsed.parameters, parsed.single)
            if parsed.single:
                return json_response(single_result(shape.task, parsed.items[0], results[0], parsed.parameters))
            return json_response(results)

        endpoint.__name__ = shape.task.replace("-", "_")
        app.post(shape.route, summary=shape.summary, tags=["tasks"], responses=error_docs,
                 openapi_extra=body_schema(model))(endpoint)

    request_models: list[Any] = [EmbeddingsRequest, ExplainRequest]
    for shape in SHAPES.values():
        add_task_route(shape)

    @app.post("/v1/embeddings", tags=["OpenAI-compatible"], responses=error_docs,
              openapi_extra=body_schema(EmbeddingsRequest),
              summary="Sentence embeddings (mean pooling, unit length) in OpenAI's format")
    async def embeddings(request: fastapi.Request) -> Response:
        async with state.admit():
            body = parse_json(await read_body(request, settings.payload_limit))
            parsed = validate(EmbeddingsRequest, body, settings.max_client_batch_size, field="input")
            texts = [parsed.input] if isinstance(parsed.input, str) else list(parsed.input)
            if not texts or not all(text.strip() for text in texts):
                raise ServeError("empty_input", "`input` is empty or holds an empty text; send some text")
            if parsed.encoding_format not in ("float", "base64"):
                raise ServeError("validation", f"encoding_format={parsed.encoding_format!r} is not float or base64")
            served = state.select("feature-extraction", parsed.model, lenient=True)
            dim = getattr(getattr(served.pipeline.model, "config", None), "dim", None)
            if parsed.dimensions is not None and parsed.dimensions != dim:
                raise ServeError("validation", f"dimensions={parsed.dimensions}: model {served.name!r} gives "
                                               f"{dim}-dimensional embeddings; omit dimensions or send {dim}")
            vectors, costs = await state.infer(served, texts, dict(EMBEDDING_OPTIONS), False)
        data = []
        for index, vector in enumerate(vectors):
            if parsed.encoding_format == "base64":
                vector = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(costs)
        return json_response({"object": "list", "data": data, "model": served.name,
                              "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    @app.post("/v1/explain", tags=["explain"], responses=error_docs, openapi_extra=body_schema(ExplainRequest),
              summary="Token attributions and attention maps of one text (the playground's Explain)")
    async def explain(request: fastapi.Request) -> Response:
        async with state.admit():
            body = parse_json(await read_body(request, settings.payload_limit))
            parsed = validate(ExplainRequest, body, settings.max_client_batch_size)
            if not parsed.inputs.strip():
                raise ServeError("empty_input", "`inputs` is empty (or only whitespace); send some text")
            options = parsed.parameters.model_dump()
            if options["n_steps"] > settings.max_explain_steps:
                raise ServeError("validation", f"parameters.n_steps={options['n_steps']} is more than this "
                                               f"server's max_explain_steps={settings.max_explain_steps}")
            served = state.select_explainable(parsed.model)
            loop = asyncio.get_running_loop()
            try:
                (text,), _ = await loop.run_in_executor(
                    state.prepare_threads, served.prepare, [parsed.inputs], {}, settings, ["inputs"])
                # in the model's own thread: it never runs beside one of that model's batches
                data = await loop.run_in_executor(state.batchers[served.name].thread, partial(
                    explain_json, served.pipeline, text, **options))
            except ServeError:
                raise
            except Exception as error:
                raise as_serve_error(error, served.name) from None
        return json_response({"model": served.name, **data})

    @app.get("/health", tags=["operations"], summary="Liveness: 200 while the process can serve")
    async def health() -> Response:
        if state.failure:
            raise ServeError("not_ready", state.failure)
        return json_response({"status": "ok"})

    @app.get("/ready", tags=["operations"], summary="Readiness: 200 once every model is loaded")
    async def ready() -> Response:
        if not state.ready:
            raise ServeError("not_ready", state.failure or "the models are still loading")
        return json_response({"status": "ready", "models": list(state.models)})

    @app.get("/info", tags=["operations"], summary="Models, tasks, limits and versions")
    async def info() -> Response:
        return json_response(state.info())

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def prometheus_metrics() -> Response:
        content, media_type = metrics.render()
        return Response(content, media_type=media_type)

    @app.get("/", include_in_schema=False)
    async def playground() -> HTMLResponse:
        return HTMLResponse(playground_html())

    docs_folder = Path(require("swagger_ui_bundle", "serve", "the /docs page").swagger_ui_path)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="distilkit API",
                                   swagger_js_url="/docs/assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/assets/swagger-ui.css",
                                   swagger_favicon_url="/docs/assets/favicon-32x32.png")

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> FileResponse:
        if name not in DOCS_ASSETS:
            raise ServeError("not_found", f"no docs asset {name!r}")
        return FileResponse(docs_folder / name)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in request_models:
                model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(model_schema.pop("$defs", {}))
                components[model.__name__] = model_schema
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app


def body_schema(model: Any) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}
