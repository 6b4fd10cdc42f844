"""Dynamic batching: one queue per model; a batch closes on real tokens or on inputs, and runs in the model's
own thread while the next requests are validated and tokenized in other threads.

A request's inputs become queue entries (a client list is split into one entry per input and reassembled in
order, so a list larger than a batch spans several batches). Each entry carries its real token count (every
model row it becomes, unpadded) and its call options; only entries with equal options share a batch. When the
model is free, the batch is cut from the queue in arrival order: the oldest entry decides the options, then
entries with the same options join until the next would pass `max_batch_tokens` or the batch holds
`max_batch_requests` inputs. The batch runs as one call of the public pipeline API on the list of its inputs,
so whatever engine sits under the pipelines (padded or packed) does the work. If a batch fails, its inputs are
retried one by one, so one bad input fails only its own request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import DistilkitError
from .errors import ServeError
from .metrics import Metrics
from .served import ServedModel

logger = logging.getLogger("distilkit.serving")


@dataclass(eq=False)
class Entry:
    item: Any
    tokens: int  # real tokens the model computes for this input
    key: str  # the call options as canonical JSON: only equal options share a batch
    parameters: dict[str, Any]
    future: asyncio.Future


class Batcher:
    """The queue and model thread of one served model."""

    def __init__(self, served: ServedModel, max_batch_tokens: int, max_batch_requests: int | None,
                 batch_size: int, metrics: Metrics) -> None:
        self.served = served
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_requests = max_batch_requests
        self.batch_size = batch_size
        self.metrics = metrics
        self.pending: deque[Entry] = deque()
        self.wake = asyncio.Event()
        # one thread per model: batches of one model run one after another, never interleaved
        self.thread = ThreadPoolExecutor(1, thread_name_prefix=f"distilkit-model-{served.name}")
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run(), name=f"batcher-{self.served.name}")

    async def stop(self) -> None:
        """Called once the server has answered every accepted request; anything still queued is refused."""
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        while self.pending:
            entry = self.pending.popleft()
            if not entry.future.done():
                entry.future.set_exception(ServeError("not_ready", "the server is shutting down"))
        self.thread.shutdown(wait=True)

    async def submit(self, items: list[Any], costs: list[int], parameters: dict[str, Any]) -> list[Any]:
        """Queue the inputs of one request and wait for their results, in order."""
        loop = asyncio.get_running_loop()
        key = json.dumps(parameters, sort_keys=True)
        entries = [Entry(item, cost, key, parameters, loop.create_future())
                   for item, cost in zip(items, costs, strict=True)]
        self.pending.extend(entries)
        self.metrics.queue_depth.labels(self.served.name).set(len(self.pending))
        self.wake.set()
        return list(await asyncio.gather(*(entry.future for entry in entries)))

    def cut(self) -> list[Entry]:
        """The next batch, in arrival order (see the module docstring); the rest stays queued in order."""
        batch: list[Entry] = []
        kept: deque[Entry] = deque()
        tokens = 0
        while self.pending:
            entry = self.pending.popleft()
            if entry.future.done():  # its request was cancelled (the client went away)
                continue
            if batch and entry.key != batch[0].key:
                kept.append(entry)
                continue
            full = self.max_batch_requests is not None and len(batch) >= self.max_batch_requests
            if batch and (full or tokens + entry.tokens > self.max_batch_tokens):
                kept.append(entry)
                break
            batch.append(entry)
            tokens += entry.tokens
        kept.extend(self.pending)
        self.pending = kept
        self.metrics.queue_depth.labels(self.served.name).set(len(self.pending))
        return batch

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.pending:
                self.wake.clear()
                await self.wake.wait()
                continue
            batch = self.cut()
            if not batch:
                continue
            started = time.perf_counter()
            outcomes = await loop.run_in_executor(self.thread, self.compute, batch)
            self.metrics.record_batch(self.served.name, len(batch), sum(entry.tokens for entry in batch),
                                      time.perf_counter() - started)
            for entry, (ok, value) in zip(batch, outcomes, strict=True):
                if entry.future.done():
                    continue
                if ok:
                    entry.future.set_result(value)
                else:
                    entry.future.set_exception(value)

    def compute(self, batch: list[Entry]) -> list[tuple[bool, Any]]:
        """Run one batch in the model thread: (True, result) or (False, ServeError) per entry."""
        items = [entry.item for entry in batch]
        try:
            results = self.served.pipeline(items, batch_size=self.batch_size, **batch[0].parameters)
            return [(True, result) for result in results]
        except Exception as error:  # every failure becomes an error response, never a crash
            if len(batch) > 1:  # find the input(s) at fault: each alone
                return [self.compute([entry])[0] for entry in batch]
            return [(False, as_serve_error(error, self.served.name))]


def as_serve_error(error: Exception, model: str) -> ServeError:
    if isinstance(error, ServeError):
        return error
    if isinstance(error, DistilkitError):
        return ServeError("validation", str(error))
    logger.error("model %r failed on an input", model, exc_info=error)
    return ServeError("backend", f"model {model!r} failed on this input ({type(error).__name__}); the server "
                                 "logged the details")
