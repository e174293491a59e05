"""Run a binding's handler on one delivery and settle the outcome.

A delivery ends one of four ways: finished (queued for commit, with its emits), retried in
place until it succeeds, dead-lettered (atomically, then released), or released unstarted
during shutdown (left pending for the next delivery). Outages of Redis or PostgreSQL raised by
a handler are waited out without spending the entry's delivery attempts.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import traceback
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chimera_workers.config_ref import ConfigRef
from chimera_workers.connections import RedisClient
from chimera_workers.context import Context, Resources
from chimera_workers.dead_letter import move_to_dead_letter
from chimera_workers.errors import Retry, is_outage, raise_if_cancelling, should_retry
from chimera_workers.inflight import InFlight
from chimera_workers.metrics import WorkerMetrics
from chimera_workers.topology import BindingSpec

log = logging.getLogger(__name__)

_TRANSIENT = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


@dataclass(slots=True)
class Delivery:
    """One entry delivered to this consumer: its fields, decoded event and delivery count."""

    entry_id: bytes
    fields: dict[bytes, bytes]
    deliveries: int
    event: Any = None


def now_ms() -> int:
    """Return the wall-clock time in milliseconds."""
    return time.time_ns() // 1_000_000


class Dispatcher:
    """Invoke ``binding``'s handler for entries of ``stream`` held in ``inflight``.

    ``stopping`` is set once at shutdown; from then on nothing new starts and retries give
    up their place (the entry stays pending). The attributes read by the unkeyed fast path
    (``chimera_workers.unkeyed``), which inlines ``handle`` for whole queues, are public.
    """

    def __init__(
        self,
        *,
        binding: BindingSpec,
        stream: str,
        dead_letter: str,
        redis: RedisClient,
        consumer: str,
        resources: Resources,
        config: ConfigRef[Any],
        metrics: WorkerMetrics,
        inflight: InFlight,
    ) -> None:
        self.binding, self.name, self.dead_letter = binding, stream, dead_letter
        self.redis, self.group, self.consumer = redis, binding.group, consumer
        self.handler = binding.handler
        self.resources, self.config, self.inflight = resources, config, inflight
        self.stopping = False
        self.latency = metrics.latency.labels(binding.name)
        self._m_failed = metrics.failed.labels(binding.name, stream)
        self._m_retried = metrics.retried.labels(binding.name, stream)
        self._m_dead = metrics.dead_lettered.labels(binding.name, stream)

    async def handle(self, d: Delivery) -> None:
        """Run the handler on ``d`` and settle it; never raises (but for cancellation)."""
        if self.stopping:
            # Not started yet: leave it pending rather than start work during shutdown.
            self.inflight.release(d.entry_id)
            return
        # The hot path: one Context, one await, one observation, one append.
        config = self.config
        ctx = Context(
            self.resources,
            config.current,
            config.rev,
            self.name,
            d.entry_id,
            d.deliveries,
            d.fields,
        )
        started = perf_counter()
        try:
            await self.handler(d.event, ctx)
        except Exception as exc:
            await self.retry(d, exc)
            return
        self.latency.observe(perf_counter() - started)
        self.inflight.finish(d.entry_id, ctx._emits)

    async def retry(self, d: Delivery, exc: Exception) -> None:
        """Retry a failed delivery in place, or dead-letter it; never raises."""
        attempt = d.deliveries
        outage_s = self.binding.retry_backoff_ms / 1000
        while True:
            self._m_failed.inc()
            raise_if_cancelling()
            if is_outage(exc) and not self.stopping:
                # A server is down, not the event bad: wait it out without spending attempts.
                log.warning(
                    "%s %s: %s; retrying in %.2fs", self.name, d.entry_id.decode(), exc, outage_s
                )
                await asyncio.sleep(outage_s)
                outage_s = min(self.binding.retry_backoff_max_ms / 1000, outage_s * 2)
            elif not should_retry(exc) or attempt >= self.binding.max_deliveries:
                d.deliveries = attempt
                await self.send_to_dead_letter(d, f"{type(exc).__name__}: {exc}", _format(exc))
                return
            elif self.stopping:
                # Shutting down: leave it pending for the next delivery instead of waiting.
                self.inflight.release(d.entry_id)
                return
            else:
                self._m_retried.inc()
                await asyncio.sleep(self._backoff_s(attempt, exc))
                attempt += 1
                await self._count_redelivery(d.entry_id)
            config = self.config
            ctx = Context(
                self.resources,
                config.current,
                config.rev,
                self.name,
                d.entry_id,
                attempt,
                d.fields,
            )
            started = time.perf_counter()
            try:
                await self.handler(d.event, ctx)
            except Exception as again:
                exc = again
                continue
            self.latency.observe(time.perf_counter() - started)
            self.inflight.finish(d.entry_id, ctx._emits)
            return

    def _backoff_s(self, attempt: int, exc: BaseException) -> float:
        if isinstance(exc, Retry) and exc.delay_ms is not None:
            return float(exc.delay_ms) / 1000
        base = self.binding.retry_backoff_ms << max(0, attempt - 1)
        capped = min(self.binding.retry_backoff_max_ms, base)
        return capped * random.uniform(0.5, 1.0) / 1000

    async def _count_redelivery(self, entry_id: bytes) -> None:
        # XCLAIM to ourselves bumps the PEL's delivery counter, so the count survives a crash
        # between retries and the next owner dead-letters at the right attempt.
        try:
            await self.redis.xclaim(self.name, self.group, self.consumer, 0, [entry_id])
        except _TRANSIENT:
            raise_if_cancelling()

    async def send_to_dead_letter(self, d: Delivery, error: str, tb: str) -> None:
        """Move ``d`` to the dead-letter stream (copy and ack in one script), then release it.

        Redis being unreachable is retried until it is back, or until shutdown, which leaves
        the entry pending to be dead-lettered on its next delivery.
        """
        backoff = 0.05
        while True:
            try:
                await move_to_dead_letter(
                    self.redis,
                    stream=self.name,
                    group=self.group,
                    entry_id=d.entry_id.decode(),
                    dead_letter=self.dead_letter,
                    error=error,
                    traceback=tb,
                    handler=self.binding.handler_path,
                    delivery_count=d.deliveries,
                    now_ms=now_ms(),
                )
                break
            except _TRANSIENT:
                raise_if_cancelling()
                if self.stopping:
                    break
                await asyncio.sleep(backoff)
                backoff = min(2.0, backoff * 2)
        self._m_dead.inc()
        log.warning(
            "%s %s dead-lettered to %s: %s", self.name, d.entry_id.decode(), self.dead_letter, error
        )
        self.inflight.release(d.entry_id)


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))
