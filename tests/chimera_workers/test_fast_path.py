"""The unkeyed hot path: every run is timed, and a stop leaves unstarted queued items pending."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient
from chimera_workers.metrics import WorkerMetrics
from chimera_workers.worker import Worker
from tests.runner_app.events import Job
from tests.runner_app.topology import JOBS, make_app


async def _enqueue(redis: RedisClient, jobs: list[Job]) -> None:
    pipe = redis.pipeline(transaction=False)
    for job in jobs:
        pipe.xadd(JOBS, entry_fields(job))  # type: ignore[arg-type]
    await pipe.execute()


async def _until(predicate: object, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def test_every_handled_message_is_observed_once_in_the_latency_histogram(
    tmp_path: Path, redis: RedisClient
) -> None:
    app = make_app(tmp_path, concurrency=2)
    metrics = WorkerMetrics()
    worker = Worker(app, redis, consumer="w1", metrics=metrics, shutdown_grace_s=5)
    await worker.start()
    # Mostly instant handlers (tallied in bulk), a few slow ones (observed one by one).
    await _enqueue(redis, [Job(seq=i, sleep_ms=30 if i % 50 == 0 else 0) for i in range(200)])
    await _until(lambda: _hlen_at_least(redis, "t:effects", 200))
    await worker.stop()
    series = metrics.latency.labels("jobs")
    assert sum(series.counts) == 200
    slow = (
        sum(
            count
            for bound, count in zip(series.bounds, series.counts, strict=False)
            if bound > 0.025
        )
        + series.counts[-1]
    )
    assert slow >= 4
    assert series.total >= 4 * 0.03


async def test_stop_leaves_queued_unstarted_items_pending_and_a_restart_runs_them_once(
    tmp_path: Path, redis: RedisClient
) -> None:
    app = make_app(tmp_path, concurrency=1, claim_idle_ms=60_000)
    worker = Worker(app, redis, consumer="slot.1", shutdown_grace_s=5)
    await worker.start()
    await _enqueue(redis, [Job(seq=i, sleep_ms=300) for i in range(5)])
    await _until(lambda: _hlen_at_least(redis, "t:runs", 1))
    await worker.stop()
    # The running one finished and was acked; the queued ones never started.
    assert await redis.hlen("t:runs") == 1
    assert int((await redis.xpending(JOBS, "jobs"))["pending"]) == 4
    again = Worker(app, redis, consumer="slot.1", shutdown_grace_s=5)
    await again.start()
    await _until(lambda: _hlen_at_least(redis, "t:effects", 5))
    await again.stop()
    runs = await redis.hgetall("t:runs")
    assert {int(k): int(v) for k, v in runs.items()} == {i: 1 for i in range(5)}
    assert int((await redis.xpending(JOBS, "jobs"))["pending"]) == 0


async def _hlen_at_least(redis: RedisClient, key: str, n: int) -> bool:
    return int(await redis.hlen(key)) >= n
