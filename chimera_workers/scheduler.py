"""Scheduled jobs that run on exactly one worker cluster-wide.

Every worker that hosts a job computes the same due ticks (interval or cron, UTC). For each
tick, one worker wins a ``SET NX`` claim on that tick's key, so a tick runs once even when
workers' clocks or wake-ups differ. The winner then takes the job's fenced leader lock (with
a TTL, extended while the job runs) so a long run is never overlapped by the next tick; a
tick that finds the previous run still going is skipped, not queued.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cronsim import CronSim
from redis.exceptions import RedisError

from chimera_workers.connections import RedisClient
from chimera_workers.context import Context
from chimera_workers.errors import cancel_and_wait, raise_if_cancelling
from chimera_workers.keys import schedule_fence, schedule_lock, schedule_tick
from chimera_workers.locks import FencedLock, lease_for
from chimera_workers.metrics import WorkerMetrics
from chimera_workers.scripts import Scripts
from chimera_workers.topology import ScheduleSpec

log = logging.getLogger(__name__)


def next_due_ms(job: ScheduleSpec, after_ms: int) -> int:
    """Return the first tick of ``job`` strictly after ``after_ms`` (epoch ms, UTC)."""
    if job.interval_ms is not None:
        return (after_ms // job.interval_ms + 1) * job.interval_ms
    assert job.cron is not None
    start = datetime.fromtimestamp(after_ms / 1000, tz=UTC)
    return int(next(CronSim(job.cron, start)).timestamp() * 1000)


class Scheduler:
    """Run ``jobs`` until stopped; ``make_context`` builds each run's ``Context``."""

    def __init__(
        self,
        redis: RedisClient,
        scripts: Scripts,
        jobs: list[ScheduleSpec],
        make_context: Callable[[], Context],
        metrics: WorkerMetrics,
        owner: str,
    ) -> None:
        self._redis = redis
        self._scripts = scripts
        self._jobs = jobs
        self._make_context = make_context
        self._metrics = metrics
        self._owner = owner
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start one timer task per job."""
        self._tasks = [asyncio.create_task(self._loop(job)) for job in self._jobs]

    async def stop(self) -> None:
        """Cancel the timers; a run in progress is cancelled and its lock released."""
        # Cancelled again if a library swallowed the first cancel (cancel_and_wait).
        await cancel_and_wait(self._tasks)

    async def _loop(self, job: ScheduleSpec) -> None:
        while True:
            raise_if_cancelling()  # a handler whose libraries swallowed the cancel outright
            due = next_due_ms(job, time.time_ns() // 1_000_000)
            await asyncio.sleep(max(0.0, due / 1000 - time.time()))
            try:
                await self.run_tick(job, due)
            except (ConnectionError, OSError, RedisError) as exc:
                raise_if_cancelling()
                log.warning("schedule %s tick %d skipped: %s", job.name, due, exc)

    async def run_tick(self, job: ScheduleSpec, due_ms: int) -> bool:
        """Run ``job`` for tick ``due_ms`` if this worker wins it; return whether it ran."""
        period = next_due_ms(job, due_ms) - due_ms
        claimed = await self._redis.set(
            schedule_tick(job.name, due_ms),
            self._owner,
            nx=True,
            px=max(job.lock_ttl_ms, 2 * period),
        )
        if not claimed:
            return False
        # A lease renewed while the run lasts (FencedLock.kept): a worker SIGKILLed mid-run
        # frees the schedule within the lease, not after the whole lock_ttl_ms.
        lock = FencedLock(
            self._redis,
            schedule_lock(job.name),
            ttl_ms=lease_for(job.lock_ttl_ms),
            fence_key=schedule_fence(job.name),
        )
        token = await lock.acquire()
        if token is None:
            log.info(
                "schedule %s: previous run still holds the lock; tick %d skipped", job.name, due_ms
            )
            return False
        try:
            async with lock.held(token):
                ctx = self._make_context()
                await job.handler(ctx)
                if ctx.emits:
                    pipe = self._redis.pipeline(transaction=False)
                    for stream, fields in ctx.emits:
                        pipe.xadd(stream, fields)  # type: ignore[arg-type]
                    await pipe.execute()
            self._metrics.schedule_runs.labels(job.name).inc()
        except Exception:
            # A cancel the handler's libraries turned into another error (on 3.11 a TimeoutError
            # from asyncio.timeout) is still a cancel: logging it here would keep the timer
            # loop running after stop().
            raise_if_cancelling()
            log.exception("schedule %s failed at tick %d", job.name, due_ms)
        return True
