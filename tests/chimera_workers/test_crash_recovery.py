"""Process-level failures: SIGKILL mid-batch, Redis restart mid-run, SIGTERM shutdown."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import redis.exceptions

from chimera_workers.connections import RedisClient, open_redis
from chimera_workers.worker import Worker
from tests.chimera_workers.test_consumer import enqueue, pending
from tests.harness.polling import until
from tests.harness.servers import RedisProcess
from tests.runner_app.events import Job
from tests.runner_app.processes import start_worker
from tests.runner_app.topology import JOBS, make_app, write_topology


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[RedisClient]:
    redis = await open_redis(redis_url, retries=0)
    yield redis
    await redis.aclose()


@pytest.mark.timeout(300)
async def test_sigkill_mid_batch_every_effect_happens_exactly_once(
    tmp_path: Path, redis_url: str, db_url: str, client: RedisClient
) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await _kill_and_recover(tmp_path, redis_url, db_url, client, conn)
    finally:
        await conn.close()


async def _kill_and_recover(
    tmp_path: Path, redis_url: str, db_url: str, client: RedisClient, conn: asyncpg.Connection
) -> None:
    await conn.execute("CREATE TABLE t_effects(seq int PRIMARY KEY, entry_id text NOT NULL)")
    streams = write_topology(
        tmp_path,
        handler="record_in_db",
        batch_size=200,
        concurrency=16,
        claim_idle_ms=1000,
        max_deliveries=5,
    )
    make_app(tmp_path, handler="record_in_db")  # validates the topology in-process too
    await enqueue(client, [Job(seq=i, sleep_ms=2) for i in range(10_000)])
    log = tmp_path / "workers.log"
    victim = start_worker(streams, "victim", redis_url=redis_url, database_url=db_url, log=log)
    try:
        await until(lambda: _runs_at_least(client, 2_000), within=60)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        held = await client.xpending(JOBS, "jobs")
        assert held["pending"] > 0, "the kill should leave entries pending under the victim"
        survivor = start_worker(
            streams, "survivor", redis_url=redis_url, database_url=db_url, log=log
        )
        try:
            await until(lambda: _rows_are(conn, 10_000), within=90)
            await until(lambda: _pending_is(client, 0), within=30)
        finally:
            survivor.send_signal(signal.SIGTERM)
            assert survivor.wait(30) == 0
    finally:
        if victim.poll() is None:
            victim.kill()
    assert await conn.fetchval("SELECT count(DISTINCT seq) FROM t_effects") == 10_000
    runs = {int(k): int(v) for k, v in (await client.hgetall("t:runs")).items()}
    assert set(runs) == set(range(10_000))


async def _runs_at_least(client: RedisClient, n: int) -> bool:
    return int(await client.hlen("t:runs")) >= n


async def _rows_are(conn: asyncpg.Connection, n: int) -> bool:
    return int(await conn.fetchval("SELECT count(*) FROM t_effects")) >= n


async def _pending_is(client: RedisClient, n: int) -> bool:
    try:
        return await pending(client) == n
    except redis.exceptions.ConnectionError:
        return False


@pytest.mark.timeout(300)
async def test_redis_restart_mid_run_loses_nothing(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path / "redis").start()
    redis = await open_redis(server.url, retries=0)
    try:
        app = make_app(
            tmp_path, concurrency=8, max_deliveries=3, retry_backoff_ms=50, retry_backoff_max_ms=500
        )
        worker = Worker(app, redis, consumer="w", shutdown_grace_s=5)
        await worker.start()
        await enqueue(redis, [Job(seq=i, sleep_ms=1) for i in range(3_000)])
        await until(lambda: _effects_at_least(redis, 500), within=30)
        await asyncio.to_thread(server.restart, 1.0)
        await until(lambda: _effects_at_least(redis, 3_000), within=60)
        await until(lambda: _pending_is(redis, 0), within=30)
        await worker.stop()
        assert await redis.xlen(app.bindings["jobs"].dead_letters[JOBS]) == 0
        assert await redis.hlen("t:effects") == 3_000
    finally:
        await redis.aclose()
        server.stop()


async def _effects_at_least(client: RedisClient, n: int) -> bool:
    # Around a restart the client's pooled connections are stale: the first use of each
    # fails once (this client has redis-py's retries off, like the worker's). Poll again.
    try:
        return int(await client.hlen("t:effects")) >= n
    except redis.exceptions.ConnectionError:
        return False


async def test_sigterm_finishes_in_flight_work_and_exits_zero(
    tmp_path: Path, redis_url: str, client: RedisClient
) -> None:
    streams = write_topology(tmp_path, concurrency=4, batch_size=4)
    await enqueue(client, [Job(seq=i, sleep_ms=700) for i in range(40)])
    proc = start_worker(
        streams, "slot.1", redis_url=redis_url, database_url=None, grace=5, log=tmp_path / "w.log"
    )
    await until(lambda: _runs_at_least(client, 4), within=30)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(proc.wait, 15)
    assert code == 0, (tmp_path / "w.log").read_text()
    assert time.monotonic() - started < 6
    # Everything that ran was committed; nothing it still held is lost: it stays pending
    # under the stable consumer name and the restarted slot finishes it.
    effects = int(await client.hlen("t:effects"))
    assert effects >= 4
    assert await pending(client) <= 40 - effects
    proc = start_worker(
        streams, "slot.1", redis_url=redis_url, database_url=None, log=tmp_path / "w.log"
    )
    try:
        await until(lambda: _effects_at_least(client, 40), within=60)
        await until(lambda: _pending_is(client, 0), within=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 15) == 0
