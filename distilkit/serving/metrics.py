"""Prometheus metrics of one server, in a registry of its own (two apps in one process do not collide).

Requests by route and status, errors by type, requests in flight, queue depth, batch sizes in inputs and in
real tokens, tokens computed (rate() of the counter gives tokens/s; a gauge holds the last batch's rate), and
latency histograms of whole requests and of model batches.
"""

from __future__ import annotations

from .._extras import require

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
TOKEN_BUCKETS = (16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)


class Metrics:
    def __init__(self) -> None:
        prometheus = require("prometheus_client", "serve", "the server's /metrics")
        self.prometheus = prometheus
        self.registry = prometheus.CollectorRegistry()
        registry = self.registry
        self.requests = prometheus.Counter(
            "distilkit_requests", "HTTP requests by route and status", ["route", "status"], registry=registry)
        self.errors = prometheus.Counter(
            "distilkit_errors", "error responses by type (see the error table)", ["type"], registry=registry)
        self.latency = prometheus.Histogram(
            "distilkit_request_duration_seconds", "time from request to response, by route", ["route"],
            buckets=LATENCY_BUCKETS, registry=registry)
        self.in_flight = prometheus.Gauge(
            "distilkit_requests_in_flight", "inference requests being served", registry=registry)
        self.queue_depth = prometheus.Gauge(
            "distilkit_queue_depth", "inputs waiting for a batch, by model", ["model"], registry=registry)
        self.batch_inputs = prometheus.Histogram(
            "distilkit_batch_inputs", "inputs per model batch", ["model"], buckets=SIZE_BUCKETS, registry=registry)
        self.batch_tokens = prometheus.Histogram(
            "distilkit_batch_tokens", "real (unpadded) tokens per model batch", ["model"], buckets=TOKEN_BUCKETS,
            registry=registry)
        self.batch_latency = prometheus.Histogram(
            "distilkit_batch_duration_seconds", "model time per batch", ["model"], buckets=LATENCY_BUCKETS,
            registry=registry)
        self.tokens = prometheus.Counter(
            "distilkit_tokens", "real tokens computed, by model (rate() gives tokens/s)", ["model"],
            registry=registry)
        self.tokens_per_second = prometheus.Gauge(
            "distilkit_tokens_per_second", "real tokens per second of the last batch, by model", ["model"],
            registry=registry)

    def record_batch(self, model: str, inputs: int, tokens: int, seconds: float) -> None:
        self.batch_inputs.labels(model).observe(inputs)
        self.batch_tokens.labels(model).observe(tokens)
        self.batch_latency.labels(model).observe(seconds)
        self.tokens.labels(model).inc(tokens)
        self.tokens_per_second.labels(model).set(tokens / seconds if seconds > 0 else 0.0)

    def render(self) -> tuple[bytes, str]:
        return self.prometheus.generate_latest(self.registry), self.prometheus.CONTENT_TYPE_LATEST
