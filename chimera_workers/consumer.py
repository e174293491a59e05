"""One binding reading one concrete stream: read, decode, dispatch, retry, dead-letter, commit.

Lifecycle: first this consumer's own pending history (entries it held when it last stopped,
since consumer names are stable per Procfile slot), then new entries with a batched blocking
XREADGROUP. In-flight work is bounded by ``max_inflight``; reading pauses when it is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import asyncpg
import msgspec
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chimera_workers.codec import decode_entry
from chimera_workers.commit import Committer, Finished
from chimera_workers.config_ref import ConfigRef
from chimera_workers.connections import RedisClient
from chimera_workers.context import Context, Resources
from chimera_workers.dead_letter import move_to_dead_letter
from chimera_workers.errors import (
    ChimeraError,
    Retry,
    is_outage,
    raise_if_cancelling,
    should_retry,
)
from chimera_workers.keys import PAYLOAD_FIELD
from chimera_workers.lanes import KeyedLanes
from chimera_workers.metrics import WorkerMetrics
from chimera_workers.reclaim import Reclaimer
from chimera_workers.scripts import Scripts
from chimera_workers.stream_ids import decode
from chimera_workers.topology import App, BindingSpec, StreamSpec
from chimera_workers.wire import read_group

log = logging.getLogger(__name__)

_TRANSIENT = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


@dataclass(slots=True)
class Delivery:
    entry_id: bytes
    fields: dict[bytes, bytes]
    deliveries: int
    event: Any = None


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class StreamConsumer:
    """Consume ``stream`` for ``binding`` as ``consumer`` until ``stop``."""

    def __init__(
        self,
        *,
        app: App,
        binding: BindingSpec,
        stream: StreamSpec,
        redis: RedisClient,
        scripts: Scripts,
        consumer: str,
        db: asyncpg.Pool | None,
        config: ConfigRef[Any],
        metrics: WorkerMetrics,
        on_crash: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.app, self.binding, self.spec = app, binding, stream
        self._on_crash = on_crash
        self.redis, self.consumer, self.db, self.config = redis, consumer, db, config
        self.group = binding.group
        self.name = stream.name
        self.dead_letter = binding.dead_letters[stream.name]
        self._handler = binding.handler
        self._resources = Resources(app, redis, db, metrics)
        self._reclaimer = Reclaimer(redis, scripts, stream.name, binding.group, consumer)
        self._committer = Committer(redis, stream.name, binding.group)
        self._inflight: dict[bytes, Delivery] = {}
        self._finished: list[Finished] = []
        self._finished_event = asyncio.Event()
        self._capacity = asyncio.Event()
        self._capacity.set()
        self._progress = asyncio.Event()
        self._committing = False
        self._commit_deadline: float | None = None
        self._stop = asyncio.Event()
        self._read_history = True
        self._tasks: list[asyncio.Task[None]] = []
        self._lanes: KeyedLanes[Delivery] | None = None
        m = metrics
        self._m_processed = m.processed.labels(binding.name, stream.name)
        self._m_failed = m.failed.labels(binding.name, stream.name)
        self._m_retried = m.retried.labels(binding.name, stream.name)
        self._m_dead = m.dead_lettered.labels(binding.name, stream.name)
        self._m_reclaimed = m.reclaimed.labels(binding.name, stream.name)
        self._m_latency = m.latency.labels(binding.name)
        self._metrics = m

    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    async def start(self) -> None:
        """Create the group if needed and start reading, committing, renewing, reclaiming."""
        await ensure_group(self.redis, self.name, self.group)
        self._lanes = KeyedLanes(self.binding.concurrency, self._handle)
        for coro in (
            self._read_loop(),
            self._commit_loop(),
            self._renew_loop(),
            self._reclaim_loop(),
        ):
            task = asyncio.create_task(coro)
            task.add_done_callback(self._task_done)
            self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        # These loops only end by cancellation; anything else is a bug or a broken server,
        # and a worker that silently stopped reading would look healthy while doing nothing.
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        assert exc is not None
        log.critical("%s: %s crashed", self.name, task.get_coro(), exc_info=exc)
        if self._on_crash is not None:
            self._on_crash(exc)

    async def stop(self, grace_s: float) -> None:
        """Stop reading; let in-flight work finish within ``grace_s``; commit what finished.

        Work still running at the deadline is cancelled and left pending: this consumer picks
        it up from its history on restart, or another reclaims it after claim-idle.
        """
        self._stop.set()
        reader, committer, *others = self._tasks
        reader.cancel()
        deadline = time.monotonic() + grace_s
        while set(self._inflight) - self._finished_ids():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)
        if self._lanes is not None:
            await self._lanes.close()
        # The commit loop finishes what is done; a Redis that stays unreachable bounds it.
        self._commit_deadline = max(deadline, time.monotonic() + 2.0)
        self._finished_event.set()
        while (self._finished or self._committing) and time.monotonic() < self._commit_deadline:
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._progress.wait(), self._commit_deadline - time.monotonic()
                )
        for task in (committer, *others):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _finished_ids(self) -> set[bytes]:
        return {entry_id for entry_id, _ in self._finished}

    # -- reading ---------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        backoff = 0.05
        cursor = "0"
        while not self._stop.is_set():
            room = self.binding.max_inflight - len(self._inflight)
            if room <= 0:
                self._capacity.clear()
                await self._capacity.wait()
                continue
            count = min(self.binding.batch_size, room)
            try:
                if self._read_history:
                    cursor = await self._read_own_history(cursor, count)
                else:
                    await self._read_new(count)
                backoff = 0.05
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                await ensure_group(self.redis, self.name, self.group)
            except _TRANSIENT as exc:
                raise_if_cancelling()
                log.warning("%s: read failed (%s); retrying in %.2fs", self.name, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(2.0, backoff * 2)
                # Entries delivered by a read whose reply was lost sit in our history.
                self._read_history, cursor = True, "0"

    async def _read_own_history(self, cursor: str, count: int) -> str:
        entries = await read_group(
            self.redis, self.group, self.consumer, self.name, cursor, count=count, block_ms=None
        )
        if not entries:
            self._read_history = False
            return "0"
        counts = await self._reclaimer.delivery_counts([eid for eid, _ in entries])
        await self._admit_all(
            [
                (eid, fields, counts.get(eid, 1))
                for eid, fields in entries
                if eid not in self._inflight
            ]
        )
        return decode(entries[-1][0])

    async def _read_new(self, count: int) -> None:
        entries = await read_group(
            self.redis,
            self.group,
            self.consumer,
            self.name,
            ">",
            count=count,
            block_ms=self.binding.block_ms,
        )
        if entries:
            await self._admit_all([(eid, fields, 1) for eid, fields in entries])

    async def _admit_all(
        self, rows: Iterable[tuple[bytes, dict[bytes, bytes] | None, int]]
    ) -> None:
        """Decode and queue deliveries; only the rare ones that need I/O are awaited."""
        assert self._lanes is not None
        submit, inflight = self._lanes.submit, self._inflight
        decoder, key, limit = (
            self.spec.decoder,
            self.binding.ordering_key,
            self.binding.max_deliveries,
        )
        decode_payload = decoder.decode
        unkeyed: list[Delivery] = []
        vanished: list[bytes] = []
        rejected: list[tuple[Delivery, str, str]] = []
        for entry_id, fields, deliveries in rows:
            if not fields:
                # Trimmed or deleted after delivery: nothing to run, just settle it.
                vanished.append(entry_id)
                continue
            d = Delivery(entry_id, fields, deliveries)
            inflight[entry_id] = d
            if deliveries > limit:
                why = f"delivered {deliveries} times (max {limit}); a worker likely died on it"
                rejected.append((d, why, ""))
                continue
            try:
                d.event = decode_payload(fields[PAYLOAD_FIELD])
            except (KeyError, msgspec.ValidationError, msgspec.DecodeError):
                # Re-decode through the codec for a message that says what and where.
                try:
                    decode_entry(decoder, self.name, entry_id.decode(), fields)
                except ChimeraError as exc:
                    rejected.append((d, str(exc), traceback.format_exc()))
                continue
            if key is None:
                unkeyed.append(d)
            else:
                submit(getattr(d.event, key), d)
        if unkeyed:
            self._lanes.submit_many(unkeyed)
        if vanished:
            await self.redis.xack(self.name, self.group, *vanished)
        for d, error, tb in rejected:
            await self._dead_letter(d, error, tb)

    # -- handling --------------------------------------------------------------------------

    def _context(self, d: Delivery, attempt: int) -> Context:
        config = self.config
        return Context(
            self._resources, config.current, config.rev, self.name, d.entry_id, attempt, d.fields
        )

    async def _handle(self, d: Delivery) -> None:
        if self._stop.is_set():
            # Not started yet: leave it pending rather than start work during shutdown.
            self._release(d.entry_id)
            return
        # The hot path: one Context, one await, one observation, one append.
        config = self.config
        ctx = Context(
            self._resources,
            config.current,
            config.rev,
            self.name,
            d.entry_id,
            d.deliveries,
            d.fields,
        )
        started = perf_counter()
        try:
            await self._handler(d.event, ctx)
        except Exception as exc:
            await self._retry(d, exc)
            return
        self._m_latency.observe(perf_counter() - started)
        self._finished.append((d.entry_id, ctx._emits))
        self._finished_event.set()

    def _finish(self, entry_id: bytes, ctx: Context) -> None:
        self._finished.append((entry_id, ctx._emits))
        self._finished_event.set()

    async def _retry(self, d: Delivery, exc: Exception) -> None:
        """Retry a failed delivery in place, or dead-letter it; never raises."""
        attempt = d.deliveries
        outage_s = self.binding.retry_backoff_ms / 1000
        while True:
            self._m_failed.inc()
            raise_if_cancelling()
            if is_outage(exc) and not self._stop.is_set():
                # A server is down, not the event bad: wait it out without spending attempts.
                log.warning(
                    "%s %s: %s; retrying in %.2fs", self.name, d.entry_id.decode(), exc, outage_s
                )
                await asyncio.sleep(outage_s)
                outage_s = min(self.binding.retry_backoff_max_ms / 1000, outage_s * 2)
            elif not should_retry(exc) or attempt >= self.binding.max_deliveries:
                d.deliveries = attempt
                await self._dead_letter(d, f"{type(exc).__name__}: {exc}", _format(exc))
                return
            elif self._stop.is_set():
                # Shutting down: leave it pending for the next delivery instead of waiting.
                self._release(d.entry_id)
                return
            else:
                self._m_retried.inc()
                await asyncio.sleep(self._backoff_s(attempt, exc))
                attempt += 1
                await self._count_redelivery(d.entry_id)
            ctx = self._context(d, attempt)
            started = time.perf_counter()
            try:
                await self._handler(d.event, ctx)
            except Exception as again:
                exc = again
                continue
            self._m_latency.observe(time.perf_counter() - started)
            self._finish(d.entry_id, ctx)
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

    async def _dead_letter(self, d: Delivery, error: str, tb: str) -> None:
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
                if self._stop.is_set():
                    break
                await asyncio.sleep(backoff)
                backoff = min(2.0, backoff * 2)
        self._m_dead.inc()
        log.warning(
            "%s %s dead-lettered to %s: %s", self.name, d.entry_id.decode(), self.dead_letter, error
        )
        self._release(d.entry_id)

    def _release(self, entry_id: bytes) -> None:
        self._inflight.pop(entry_id, None)
        self._progress.set()
        if len(self._inflight) < self.binding.max_inflight:
            self._capacity.set()

    # -- committing ------------------------------------------------------------------------

    async def _commit_loop(self) -> None:
        while True:
            await self._finished_event.wait()
            await self._drain_finished()

    async def _drain_finished(self) -> None:
        self._finished_event.clear()
        while self._finished:
            batch, self._finished = self._finished, []
            self._committing = True
            try:
                done = await self._committer.commit(batch, deadline=self._commit_deadline)
            finally:
                self._committing = False
            pop = self._inflight.pop
            for entry_id, _ in batch:
                pop(entry_id, None)
            self._progress.set()
            if len(self._inflight) < self.binding.max_inflight:
                self._capacity.set()
            if done:
                self._m_processed.inc(len(batch))

    # -- recovery --------------------------------------------------------------------------

    async def _renew_loop(self) -> None:
        period = max(0.05, self.binding.claim_idle_ms / 3000)
        while True:
            await asyncio.sleep(period)
            if self._inflight:
                try:
                    await self._reclaimer.renew(list(self._inflight))
                except _TRANSIENT as exc:
                    raise_if_cancelling()
                    log.warning("%s: claim renewal failed: %s", self.name, exc)

    async def _reclaim_loop(self) -> None:
        # Check often enough that an entry is reclaimed within claim-idle + 0.5 s of becoming
        # reclaimable; XAUTOCLAIM on a group with nothing idle is one cheap round trip.
        period = min(0.5, max(0.05, self.binding.claim_idle_ms / 2000))
        reap_every = max(1, int(60 / period))
        rounds = 0
        while True:
            await asyncio.sleep(period * random.uniform(0.9, 1.0))
            rounds += 1
            try:
                room = self.binding.max_inflight - len(self._inflight)
                claimed = await self._reclaimer.reclaim(self.binding.claim_idle_ms, room)
                fresh = [c for c in claimed if c.entry_id not in self._inflight]
                self._m_reclaimed.inc(len(fresh))
                await self._admit_all((c.entry_id, c.fields, c.deliveries) for c in fresh)
                if rounds % reap_every == 0:
                    await self._reclaimer.reap_consumers(
                        max(600_000, 20 * self.binding.claim_idle_ms)
                    )
            except _TRANSIENT as exc:
                raise_if_cancelling()
                log.warning("%s: reclaim failed: %s", self.name, exc)


async def ensure_group(redis: RedisClient, stream: str, group: str) -> None:
    """Create ``group`` on ``stream`` from the beginning, creating the stream if needed."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))
