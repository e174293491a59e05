"""Payload type, handlers and the handled-message recorder shared by the benchmark processes.

Importable as ``bench_handlers`` with ``scripts/bench`` on ``sys.path`` (the runner puts it
on ``PYTHONPATH`` for its children), so a ``streams.yaml`` can name ``bench_handlers:Ping`` and
``bench_handlers:stall``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import msgspec


class Ping(msgspec.Struct, frozen=True):
    """The benchmark payload: a sequence number and the producer's ``time.time_ns()``."""

    seq: int
    sent_ns: int


class Recorder:
    """Count handled messages: the first ``throughput_n`` time the drain, the rest give latency.

    The producer enqueues the latency messages only after the throughput ones are all handled,
    so "the (throughput_n + 1)-th handled message" is always a latency-phase message.
    """

    def __init__(
        self,
        throughput_n: int,
        latency_n: int = 0,
        *,
        sample_every: int = 0,
        on_sample: Callable[[int], None] | None = None,
    ) -> None:
        self.throughput_n = throughput_n
        self.total = throughput_n + latency_n
        self.handled = 0
        self.first = 0.0
        self.last = 0.0
        self.latencies_ns: list[int] = []
        self.throughput_done = asyncio.Event()
        self.latency_done = asyncio.Event()
        self.sample_every = sample_every
        self.on_sample = on_sample

    @property
    def in_throughput_phase(self) -> bool:
        return self.handled < self.throughput_n

    def hit(self, sent_ns: int) -> None:
        """Record one handled message carrying producer timestamp ``sent_ns``."""
        n = self.handled = self.handled + 1
        if self.sample_every and n % self.sample_every == 0 and self.on_sample is not None:
            self.on_sample(n)
        if n <= self.throughput_n:
            if n == 1:
                self.first = time.perf_counter()
            if n == self.throughput_n:
                self.last = time.perf_counter()
                self.throughput_done.set()
            return
        self.latencies_ns.append(time.time_ns() - sent_ns)
        if n == self.total:
            self.latency_done.set()

    def hit_throughput(self, count: int) -> int:
        """Record up to ``count`` throughput-phase messages without their payload.

        Returns how many were counted (the rest belong to the latency phase).
        """
        take = min(count, self.throughput_n - self.handled)
        if take <= 0:
            return 0
        now = time.perf_counter()
        if self.handled == 0:
            self.first = now
        self.handled += take
        if self.handled == self.throughput_n:
            self.last = now
            self.throughput_done.set()
        return take


RECORDER: Recorder | None = None
"""Set by the process hosting ``record``; the handlers below report to it."""

SEEN: dict[str, float] = {}
"""``entry id -> time.monotonic()`` of the first time ``record_ids`` handled it."""

WANTED: set[str] = set()
"""The entry ids whose redelivery is awaited; ``ALL_SEEN`` is set once all are in ``SEEN``."""

ALL_SEEN = asyncio.Event()


async def record(event: Ping, ctx: Any) -> None:
    """No-op Chimera handler: only tells the recorder it ran."""
    assert RECORDER is not None
    RECORDER.hit(event.sent_ns)


async def record_ids(event: Ping, ctx: Any) -> None:
    """Chimera handler for the SIGKILL survivor: note when each entry id was handled."""
    if ctx.entry_id not in SEEN:
        SEEN[ctx.entry_id] = time.monotonic()
        if WANTED and WANTED.issubset(SEEN):
            ALL_SEEN.set()


async def stall(event: Ping, ctx: Any) -> None:
    """Chimera handler for the SIGKILL victim: hold the entry for ``$BENCH_STALL_S`` seconds."""
    await asyncio.sleep(float(os.environ.get("BENCH_STALL_S", "3600")))
