"""Threads: every pipeline of a process computes inside one section, one batch at a time, on torch's intra-op
pool sized by the pipeline's `threads=` (default: torch's current setting, i.e. `torch.set_num_threads`). Results
are bit-identical whatever the thread count. On a machine whose cores other processes also use, `threads=1` is
the better choice for single sentences: the pool's spin-waits made a 12-token forward 5-10x slower on two threads
under load, while on idle cores two threads were 1.2-1.7x faster (measured here).

Several pipelines in one process (a server with three models, a script with two) therefore never run their
forward passes at the same time: on a CPU, two concurrent forwards each asking for every core only
oversubscribe it and are slower together than one after the other.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from ..errors import InputError

_COMPUTE = threading.RLock()


def check_threads(threads: object) -> int | None:
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InputError(f"threads must be an int >= 1 (or None for torch's setting), got {threads!r}")
    return threads


@contextmanager
def compute_section(threads: int | None = None) -> Iterator[None]:
    """Hold the process's compute section, with torch using `threads` intra-op threads inside it (None: torch's
    setting)."""
    with _COMPUTE:
        previous = torch.get_num_threads()
        if threads is not None and threads != previous:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            if torch.get_num_threads() != previous:
                torch.set_num_threads(previous)
