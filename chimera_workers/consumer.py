"""One binding reading one concrete stream: read, decode, admit, commit, renew, reclaim.

Lifecycle: first this consumer's own pending history (entries it held when it last stopped,
since consumer names are stable per Procfile slot), then new entries with a batched blocking
XREADGROUP. In-flight work is bounded by ``max_inflight``; reading pauses when it is full.
Running the handler, retries and dead-lettering are ``dispatch.Dispatcher``'s; bindings without
an ordering key take the fast path of ``unkeyed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

import asyncpg
import msgspec
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chimera_workers.codec import decode_entry
from chimera_workers.commit import Committer
from chimera_workers.config_ref import ConfigRef
from chimera_workers.connections import RedisClient
from chimera_workers.context import Resources
from chimera_workers.dispatch import Delivery, Dispatcher, now_ms
from chimera_workers.errors import ChimeraError, raise_if_cancelling
from chimera_workers.inflight import InFlight
from chimera_workers.keys import PAYLOAD_FIELD
from chimera_workers.lanes import KeyedLanes
from chimera_workers.metrics import WorkerMetrics
from chimera_workers.reclaim import Reclaimer
from chimera_workers.scripts import Scripts
from chimera_workers.stream_ids import decode
from chimera_workers.topology import App, BindingSpec, StreamSpec
from chimera_workers.unkeyed import Ready, UnkeyedLanes, decode_batch
from chimera_workers.wire import read_group

__all__ = ["StreamConsumer", "ensure_group", "now_ms"]

log = logging.getLogger(__name__)

_TRANSIENT = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


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
        self._reclaimer = Reclaimer(redis, scripts, stream.name, binding.group, consumer)
        self._committer = Committer(redis, stream.name, binding.group)
        self._inflight = InFlight(binding.max_inflight)
        self._dispatch = Dispatcher(
            binding=binding,
            stream=stream.name,
            dead_letter=self.dead_letter,
            redis=redis,
            consumer=consumer,
            resources=Resources(app, redis, db, metrics),
            config=config,
            metrics=metrics,
            inflight=self._inflight,
        )
        self._committing = False
        self._commit_deadline: float | None = None
        self._stop = asyncio.Event()
        self._read_history = True
        self._tasks: list[asyncio.Task[None]] = []
        self._lanes: KeyedLanes[Delivery] | None = None
        self._unkeyed: UnkeyedLanes | None = None
        self._m_processed = metrics.processed.labels(binding.name, stream.name)
        self._m_reclaimed = metrics.reclaimed.labels(binding.name, stream.name)

    def stopping(self) -> bool:
        """Return whether ``stop`` has begun."""
        return self._stop.is_set()

    @property
    def inflight(self) -> int:
        """Return how many entries this consumer holds (read, not yet acked or released)."""
        return len(self._inflight.ids)

    async def start(self) -> None:
        """Create the group if needed and start reading, committing, renewing, reclaiming."""
        await ensure_group(self.redis, self.name, self.group)
        if self.binding.ordering_key is None:
            self._unkeyed = UnkeyedLanes(self._dispatch, self.binding.concurrency)
        else:
            self._lanes = KeyedLanes(self.binding.concurrency, self._dispatch.handle)
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
        self._dispatch.stopping = True
        held = self._inflight
        reader, committer, *others = self._tasks
        reader.cancel()
        deadline = time.monotonic() + grace_s
        while held.unfinished():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            held.progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(held.progress.wait(), remaining)
        for lanes in (self._lanes, self._unkeyed):
            if lanes is not None:
                await lanes.close()
        # The commit loop finishes what is done; a Redis that stays unreachable bounds it.
        self._commit_deadline = max(deadline, time.monotonic() + 2.0)
        held.finished.set()
        while (held.done_ids or self._committing) and time.monotonic() < self._commit_deadline:
            held.progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    held.progress.wait(), self._commit_deadline - time.monotonic()
                )
        for task in (committer, *others):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- reading ---------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        backoff = 0.05
        cursor = "0"
        held = self._inflight
        while not self._stop.is_set():
            room = held.room()
            if room <= 0:
                held.capacity.clear()
                await held.capacity.wait()
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
        held = self._inflight.ids
        await self._admit_all(
            [(eid, fields, counts.get(eid, 1)) for eid, fields in entries if eid not in held]
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
        if not entries:
            return
        if self._unkeyed is not None:
            # The common case, without a call per message: every entry has a valid payload
            # and no ordering key applies. Anything else takes the general path below.
            batch = decode_batch(self.spec.decoder, entries)
            if batch is not None:
                ids, ready = batch
                self._inflight.ids.update(ids)
                self._unkeyed.submit_many(ready)
                return
        await self._admit_all([(eid, fields, 1) for eid, fields in entries])

    async def _admit_all(
        self, rows: Iterable[tuple[bytes, dict[bytes, bytes] | None, int]]
    ) -> None:
        """Decode and queue deliveries; only the rare ones that need I/O are awaited."""
        inflight = self._inflight.ids
        decoder, key, limit = (
            self.spec.decoder,
            self.binding.ordering_key,
            self.binding.max_deliveries,
        )
        decode_payload = decoder.decode
        unkeyed: list[Ready] = []
        vanished: list[bytes] = []
        rejected: list[tuple[Delivery, str, str]] = []
        for entry_id, fields, deliveries in rows:
            if not fields:
                # Trimmed or deleted after delivery: nothing to run, just settle it.
                vanished.append(entry_id)
                continue
            d = Delivery(entry_id, fields, deliveries)
            inflight.add(entry_id)
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
            if self._unkeyed is not None:
                unkeyed.append((entry_id, fields, d.event, deliveries))
            else:
                assert self._lanes is not None and key is not None
                self._lanes.submit(getattr(d.event, key), d)
        if unkeyed:
            assert self._unkeyed is not None
            self._unkeyed.submit_many(unkeyed)
        if vanished:
            await self.redis.xack(self.name, self.group, *vanished)
        for d, error, tb in rejected:
            await self._dispatch.send_to_dead_letter(d, error, tb)

    # -- committing ------------------------------------------------------------------------

    async def _commit_loop(self) -> None:
        finished = self._inflight.finished
        while True:
            await finished.wait()
            await self._drain_finished()

    async def _drain_finished(self) -> None:
        held = self._inflight
        held.finished.clear()
        while held.done_ids:
            ids, emitted = held.take_finished()
            self._committing = True
            try:
                done = await self._committer.commit(ids, emitted, deadline=self._commit_deadline)
            finally:
                self._committing = False
            held.settle(ids)
            if done:
                self._m_processed.inc(len(ids))

    # -- recovery --------------------------------------------------------------------------

    async def _renew_loop(self) -> None:
        period = max(0.05, self.binding.claim_idle_ms / 3000)
        held = self._inflight.ids
        while True:
            await asyncio.sleep(period)
            if held:
                try:
                    await self._reclaimer.renew(list(held))
                except _TRANSIENT as exc:
                    raise_if_cancelling()
                    log.warning("%s: claim renewal failed: %s", self.name, exc)

    async def _reclaim_loop(self) -> None:
        # Check often enough that an entry is reclaimed within claim-idle + 0.5 s of becoming
        # reclaimable; XAUTOCLAIM on a group with nothing idle is one cheap round trip.
        period = min(0.5, max(0.05, self.binding.claim_idle_ms / 2000))
        reap_every = max(1, int(60 / period))
        rounds = 0
        held = self._inflight
        while True:
            await asyncio.sleep(period * random.uniform(0.9, 1.0))
            rounds += 1
            try:
                claimed = await self._reclaimer.reclaim(self.binding.claim_idle_ms, held.room())
                fresh = [c for c in claimed if c.entry_id not in held.ids]
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
