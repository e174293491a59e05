"""The runner on a real Redis: delivery, ordering, retries, dead letters, claims, emits."""

from __future__ import annotations

import asyncio
import functools
import random
import time
from pathlib import Path

import pytest

from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient
from chimera_workers.dead_letter import list_dead_letters, retry_dead_letter
from chimera_workers.keys import schedule_lock
from chimera_workers.locks import DEFAULT_LEASE_MS
from chimera_workers.topology import App
from chimera_workers.worker import Worker
from tests.harness.polling import until
from tests.runner_app.events import Job
from tests.runner_app.topology import DONE, JOBS, make_app


async def enqueue(redis: RedisClient, jobs: list[Job], stream: str = JOBS) -> None:
    for i in range(0, len(jobs), 500):
        pipe = redis.pipeline(transaction=False)
        for job in jobs[i : i + 500]:
            pipe.xadd(stream, entry_fields(job))  # type: ignore[arg-type]
        await pipe.execute()


async def pending(redis: RedisClient, stream: str = JOBS, group: str = "jobs") -> int:
    return int((await redis.xpending(stream, group))["pending"])


@pytest.fixture
def client(redis: RedisClient) -> RedisClient:
    """The runner's cases run on a single Redis and on a 3-master Redis Cluster."""
    return redis


async def run_worker(app: App, redis: RedisClient, name: str = "w1", **kwargs: object) -> Worker:
    worker = Worker(app, redis, consumer=name, shutdown_grace_s=5, **kwargs)  # type: ignore[arg-type]
    await worker.start()
    return worker


async def test_every_event_handled_once_and_emits_commit_with_the_ack(
    tmp_path: Path, client: RedisClient
) -> None:
    app = make_app(tmp_path, handler="record_and_emit")
    worker = await run_worker(app, client)
    await enqueue(client, [Job(seq=i) for i in range(500)])
    await until(lambda: _hlen_is(client, "t:done_seen", 500))
    await worker.stop()
    assert await client.hlen("t:effects") == 500
    runs = await client.hgetall("t:runs")
    assert all(int(v) == 1 for v in runs.values()) and len(runs) == 500
    assert await pending(client) == 0
    assert await pending(client, DONE, "done") == 0
    assert await client.xlen(DONE) == 500


async def _hlen_is(redis: RedisClient, key: str, n: int) -> bool:
    return int(await redis.hlen(key)) >= n


async def test_per_key_order_holds_at_concurrency_32(tmp_path: Path, client: RedisClient) -> None:
    app = make_app(tmp_path, concurrency=32, ordering_key="key", batch_size=200)
    rng = random.Random(7)
    jobs = [
        Job(seq=i, key=f"k{rng.randrange(64)}", sleep_ms=rng.choice([0, 0, 1, 3]))
        for i in range(3000)
    ]
    worker = await run_worker(app, client)
    await enqueue(client, jobs)
    await until(lambda: _hlen_is(client, "t:effects", 3000), within=60)
    await worker.stop()
    for key in {j.key for j in jobs}:
        seen = [int(x) for x in await client.lrange(f"t:order:{key}", 0, -1)]
        assert seen == sorted(seen), key
        assert len(seen) == sum(1 for j in jobs if j.key == key)


async def test_keys_run_concurrently(tmp_path: Path, client: RedisClient) -> None:
    app = make_app(tmp_path, concurrency=32, ordering_key="key")
    worker = await run_worker(app, client)
    started = time.monotonic()
    await enqueue(client, [Job(seq=i, key=f"k{i}", sleep_ms=300) for i in range(32)])
    await until(lambda: _hlen_is(client, "t:effects", 32))
    elapsed = time.monotonic() - started
    await worker.stop()
    assert elapsed < 3.0, f"32 keys x 300 ms took {elapsed:.1f}s: keys were serialized"


async def test_poison_event_is_dead_lettered_and_the_stream_keeps_flowing(
    tmp_path: Path, client: RedisClient
) -> None:
    app = make_app(tmp_path, concurrency=1, max_deliveries=3)
    worker = await run_worker(app, client)
    jobs = [Job(seq=i, poison=(i == 5)) for i in range(20)]
    await enqueue(client, jobs)
    await until(lambda: _hlen_is(client, "t:effects", 19))
    await until(lambda: _len_is(client, app.bindings["jobs"].dead_letters[JOBS], 1))
    dlq = app.bindings["jobs"].dead_letters[JOBS]
    [entry] = await list_dead_letters(client, dlq, count=10)
    assert "poison event 5" in entry.error
    assert entry.deliveries == 3
    assert entry.handler == "tests.runner_app.handlers:record"
    assert entry.source == JOBS and entry.group == "jobs"
    assert int((await client.hget("t:runs", "5")) or 0) == 3
    assert await pending(client) == 0
    # A retry re-delivers the original payload (it is still poison, so it fails again).
    await retry_dead_letter(client, dlq, entry.id)
    await until(lambda: _runs_at_least(client, "5", 6))
    await until(lambda: _len_is(client, dlq, 1))
    await worker.stop()


async def _len_is(redis: RedisClient, stream: str, n: int) -> bool:
    return int(await redis.xlen(stream)) == n


async def _runs_at_least(redis: RedisClient, seq: str, n: int) -> bool:
    return int((await redis.hget("t:runs", seq)) or 0) >= n


async def test_transient_failures_retry_with_backoff(tmp_path: Path, client: RedisClient) -> None:
    app = make_app(tmp_path, max_deliveries=5)
    worker = await run_worker(app, client)
    await enqueue(client, [Job(seq=1, fail_times=3)])
    await until(lambda: _hlen_is(client, "t:effects", 1))
    await worker.stop()
    assert int(await client.hget("t:runs", "1")) == 4
    assert await client.xlen(app.bindings["jobs"].dead_letters[JOBS]) == 0


async def test_undecodable_payload_goes_straight_to_the_dead_letter_stream(
    tmp_path: Path, client: RedisClient
) -> None:
    app = make_app(tmp_path)
    worker = await run_worker(app, client)
    await client.xadd(JOBS, {"d": b'{"seq": "not-an-int"}'})
    await enqueue(client, [Job(seq=2)])
    dlq = app.bindings["jobs"].dead_letters[JOBS]
    await until(lambda: _len_is(client, dlq, 1))
    await until(lambda: _hlen_is(client, "t:effects", 1))
    await worker.stop()
    [entry] = await client.xrange(dlq)
    assert b"Expected `int`, got `str` - at `$.seq`" in entry[1][b"_error"]
    assert await pending(client) == 0


async def test_long_handler_is_not_run_twice(tmp_path: Path, client: RedisClient) -> None:
    app = make_app(tmp_path, claim_idle_ms=300)
    a = await run_worker(app, client, "a")
    b = await run_worker(app, client, "b")
    await enqueue(client, [Job(seq=i, sleep_ms=1500) for i in range(4)])
    await until(lambda: _hlen_is(client, "t:effects", 4))
    await asyncio.gather(a.stop(), b.stop())
    runs = await client.hgetall("t:runs")
    assert {k: int(v) for k, v in runs.items()} == {b"0": 1, b"1": 1, b"2": 1, b"3": 1}


async def test_entries_of_a_dead_consumer_are_reclaimed(
    tmp_path: Path, client: RedisClient
) -> None:
    app = make_app(tmp_path, claim_idle_ms=300)
    await enqueue(client, [Job(seq=i) for i in range(10)])
    from chimera_workers.consumer import ensure_group

    await ensure_group(client, JOBS, "jobs")
    # A consumer that read and died: the entries sit in its pending list.
    await client.xreadgroup("jobs", "dead", {JOBS: ">"}, count=10)
    assert await pending(client) == 10
    worker = await run_worker(app, client, "alive")
    started = time.monotonic()
    await until(lambda: _hlen_is(client, "t:effects", 10))
    assert time.monotonic() - started < 0.3 + 1.5
    await worker.stop()
    assert await pending(client) == 0


async def test_reclaim_falls_back_to_xpending_xclaim(tmp_path: Path, client: RedisClient) -> None:
    app = make_app(tmp_path, claim_idle_ms=200)
    from chimera_workers.consumer import ensure_group

    await enqueue(client, [Job(seq=i) for i in range(5)])
    await ensure_group(client, JOBS, "jobs")
    await client.xreadgroup("jobs", "dead", {JOBS: ">"}, count=5)
    worker = Worker(app, client, consumer="old-redis", shutdown_grace_s=5)
    await worker.start()
    for consumer in worker.consumers:
        consumer._reclaimer._autoclaim = False  # as on Redis < 6.2
    await until(lambda: _hlen_is(client, "t:effects", 5))
    await worker.stop()
    assert await pending(client) == 0


async def test_restart_resumes_own_pending_history(tmp_path: Path, client: RedisClient) -> None:
    app = make_app(tmp_path, claim_idle_ms=60_000)
    from chimera_workers.consumer import ensure_group

    await enqueue(client, [Job(seq=i) for i in range(7)])
    await ensure_group(client, JOBS, "jobs")
    await client.xreadgroup("jobs", "slot.1", {JOBS: ">"}, count=7)
    worker = await run_worker(app, client, "slot.1")  # same stable name, long claim-idle
    await until(lambda: _hlen_is(client, "t:effects", 7), within=5)
    await worker.stop()
    assert await pending(client) == 0


async def test_graceful_stop_finishes_in_flight_work(tmp_path: Path, client: RedisClient) -> None:
    app = make_app(tmp_path, concurrency=4)
    worker = await run_worker(app, client)
    await enqueue(client, [Job(seq=i, sleep_ms=400) for i in range(4)])
    await until(lambda: _runs_at_least(client, "3", 1))
    started = time.monotonic()
    await worker.stop()
    assert time.monotonic() - started < 5
    assert await client.hlen("t:effects") == 4
    assert await pending(client) == 0


async def test_schedule_runs_each_tick_once_across_workers(
    tmp_path: Path, client: RedisClient
) -> None:
    schedules = [{"name": "tick", "handler": "tests.runner_app.handlers:tick", "interval_ms": 200}]
    app = make_app(tmp_path, schedules=schedules)
    started = time.time()
    workers = [await run_worker(app, client, f"w{i}") for i in range(3)]
    await asyncio.sleep(2.1)
    await asyncio.gather(*(w.stop() for w in workers))
    ticks = int(await client.get("t:ticks") or 0)
    claimed = [k async for k in client.scan_iter(match="chimera:{sched:tick}:tick:*")]
    # Three workers host the job; each 200 ms tick still runs once, not three times.
    due = [t for t in range(int(started * 5) + 1, int(time.time() * 5) + 1)]
    assert len(due) - 2 <= ticks <= len(due)
    # Each tick is claimed once; a tick claimed as the workers stop may be cancelled unrun.
    assert len(claimed) - 1 <= ticks <= len(claimed)


async def test_stop_ends_schedules_whose_handler_hides_the_cancel(
    tmp_path: Path, client: RedisClient
) -> None:
    handler = "tests.runner_app.handlers:tick_hiding_its_cancel"
    schedules = [{"name": "tick", "handler": handler, "interval_ms": 100, "lock_ttl_ms": 60_000}]
    app = make_app(tmp_path, schedules=schedules)
    for attempt in (1, 2):  # the cancel turned into a TimeoutError, then swallowed outright
        worker = await run_worker(app, client, "w1")
        await until(functools.partial(_ticks_at_least, client, attempt), within=5)
        await asyncio.sleep(0.1)  # inside the tick's sleep
        # The leader lock is a 5 s lease renewed while the run lasts, not the 60 s TTL a
        # SIGKILLed worker would leave behind.
        assert 0 < await client.pttl(schedule_lock("tick")) <= DEFAULT_LEASE_MS
        started = time.monotonic()
        await worker.stop()
        assert time.monotonic() - started < 3
        assert int(await client.get("t:hidden") or 0) == attempt
        ticks = await client.get("t:ticks")
        await asyncio.sleep(0.4)
        assert await client.get("t:ticks") == ticks  # no timer left running


async def _ticks_at_least(client: RedisClient, n: int) -> bool:
    return int(await client.get("t:ticks") or 0) >= n


async def test_retention_never_trims_unread_entries(tmp_path: Path, client: RedisClient) -> None:
    from chimera_workers.consumer import now_ms
    from chimera_workers.retention import trim_stream
    from chimera_workers.scripts import Scripts
    from chimera_workers.worker import ensure_declared_groups

    app = make_app(tmp_path, retention={"maxlen": 100})
    await ensure_declared_groups(client, app)
    await enqueue(client, [Job(seq=i) for i in range(1000)])
    scripts = Scripts(client)
    spec = app.streams[JOBS]
    assert await trim_stream(client, scripts, JOBS, spec.retention, now_ms()) == 0
    assert await client.xlen(JOBS) == 1000
    # The group reads 600 and acks 500: the floor is the oldest pending entry.
    read = await client.xreadgroup("jobs", "c", {JOBS: ">"}, count=600)
    ids = [eid for eid, _ in read[0][1]]
    await client.xack(JOBS, "jobs", *ids[:500])
    removed = await trim_stream(client, scripts, JOBS, spec.retention, now_ms())
    assert removed == 500
    first = (await client.xrange(JOBS, count=1))[0][0]
    assert first == ids[500]
    await client.xack(JOBS, "jobs", *ids[500:])
    rest = await client.xreadgroup("jobs", "c", {JOBS: ">"}, count=1000)
    # Read but not acked: still pending, so still protected.
    await trim_stream(client, scripts, JOBS, spec.retention, now_ms())
    assert await client.xlen(JOBS) == 400
    await client.xack(JOBS, "jobs", *[eid for eid, _ in rest[0][1]])
    await trim_stream(client, scripts, JOBS, spec.retention, now_ms())
    assert await client.xlen(JOBS) == 100


async def test_prometheus_metrics_are_exported(tmp_path: Path, client: RedisClient) -> None:
    import urllib.request

    from chimera_workers.metrics import WorkerMetrics
    from tests.harness.servers import free_port

    app = make_app(tmp_path)
    metrics = WorkerMetrics()
    port = free_port()
    metrics.serve(port)
    worker = await run_worker(app, client, metrics=metrics)
    await enqueue(client, [Job(seq=i) for i in range(10)] + [Job(seq=99, poison=True)])
    await until(lambda: _hlen_is(client, "t:effects", 10))
    await until(lambda: _len_is(client, app.bindings["jobs"].dead_letters[JOBS], 1))
    await asyncio.sleep(0.2)
    await worker.stop()
    body = await asyncio.to_thread(
        lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    )
    assert 'chimera_processed_total{binding="jobs",stream="t:jobs"} 10.0' in body
    assert 'chimera_dead_lettered_total{binding="jobs",stream="t:jobs"} 1.0' in body
    assert "chimera_handler_seconds_bucket" in body
    assert "chimera_group_lag" in body


async def test_idle_consumer_is_reaped_only_with_an_empty_pending_list(
    tmp_path: Path, client: RedisClient
) -> None:
    from chimera_workers.consumer import ensure_group
    from chimera_workers.reclaim import Reclaimer
    from chimera_workers.scripts import Scripts

    await ensure_group(client, JOBS, "jobs")
    await enqueue(client, [Job(seq=1)])
    await enqueue(client, [Job(seq=2)])
    await client.xreadgroup("jobs", "holder", {JOBS: ">"}, count=1)
    done = await client.xreadgroup("jobs", "empty", {JOBS: ">"}, count=1)
    await client.xack(JOBS, "jobs", done[0][1][0][0])
    await asyncio.sleep(0.15)
    reaper = Reclaimer(client, Scripts(client), JOBS, "jobs", "me")
    assert await reaper.reap_consumers(100) == ["empty"]
    names = {c["name"] for c in await client.xinfo_consumers(JOBS, "jobs")}
    assert names == {b"holder"}


async def test_a_crashed_read_loop_stops_the_worker_loudly(
    tmp_path: Path, client: RedisClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chimera_workers.consumer as consumer_module
    from chimera_workers.worker import WorkerCrashed

    async def broken_read(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("reply in a shape nobody expected")

    monkeypatch.setattr(consumer_module, "read_group", broken_read)
    app = make_app(tmp_path)
    worker = Worker(app, client, consumer="w", shutdown_grace_s=1)
    with pytest.raises(WorkerCrashed, match="reply in a shape nobody expected"):
        await asyncio.wait_for(worker.run(), 10)
