"""Open Redis (standalone or Cluster, detected) and PostgreSQL pools with one clear failure mode."""

from __future__ import annotations

from typing import Any

import asyncpg
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.retry import Retry as RedisRetry

from chimera_workers.errors import ServerUnavailable
from chimera_workers.wire import HIREDIS_AVAILABLE, HiredisPackingConnection

RedisClient = aioredis.Redis | RedisCluster

# redis-py's default socket timeout (5 s) would cut a long XREAD BLOCK; every blocking read in
# Chimera stays below half of this (the topology loader enforces it for bindings).
SOCKET_TIMEOUT_S = 30.0

_SERVICES_HINT = "run `chimera services up`, or set the URL to a running server"


def _retry(retries: int) -> RedisRetry:
    return RedisRetry(ExponentialBackoff(cap=2.0, base=0.05), retries=retries)


async def open_redis(url: str, *, cluster: bool | None = None, retries: int = 3) -> RedisClient:
    """Connect to ``url``; a server with cluster mode enabled gets a ``RedisCluster`` client.

    The worker passes ``retries=0``: it resolves a failed command itself (a transparently
    retried MULTI/EXEC whose reply was lost would emit twice).
    """
    extra: dict[str, Any] = {}
    if HIREDIS_AVAILABLE and url.startswith("redis://"):
        extra["connection_class"] = HiredisPackingConnection
    client: RedisClient = aioredis.Redis.from_url(
        url,
        retry=_retry(retries),
        health_check_interval=15,
        socket_timeout=SOCKET_TIMEOUT_S,
        **extra,
    )
    try:
        info = await client.info("cluster")
    except (RedisError, OSError) as exc:
        await client.aclose()
        raise ServerUnavailable(f"cannot reach Redis at {url}: {exc}", hint=_SERVICES_HINT) from exc
    is_cluster = bool(info.get("cluster_enabled")) if cluster is None else cluster
    if not is_cluster:
        return client
    await client.aclose()
    cluster_client = RedisCluster.from_url(
        url, retry=_retry(retries), socket_timeout=SOCKET_TIMEOUT_S
    )
    try:
        await cluster_client.initialize()
    except (RedisError, OSError) as exc:
        await cluster_client.aclose()
        raise ServerUnavailable(
            f"cannot reach Redis Cluster at {url}: {exc}", hint=_SERVICES_HINT
        ) from exc
    return cluster_client


def is_cluster(client: RedisClient) -> bool:
    """Tell whether ``client`` talks to a Redis Cluster."""
    return isinstance(client, RedisCluster)


async def _end_transaction(conn: asyncpg.Connection) -> None:
    # asyncpg's default reset sends `RESET ALL; UNLISTEN *; CLOSE ALL; SELECT
    # pg_advisory_unlock_all()` on every release: a second round trip after every pooled query,
    # on the order path too. Chimera keeps no session state (no SET, LISTEN, cursors or advisory
    # locks; tests/chimera_workers/test_connections.py checks a released connection is clean),
    # so only a transaction a cancelled caller left open needs ending.
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def open_db_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """Create an asyncpg pool for ``url`` or raise ``ServerUnavailable`` naming the URL."""
    try:
        pool = await asyncpg.create_pool(
            url, min_size=min_size, max_size=max_size, timeout=10, reset=_end_transaction
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise ServerUnavailable(
            f"cannot reach PostgreSQL at {url}: {exc}", hint=_SERVICES_HINT
        ) from exc
    assert pool is not None
    return pool


__all__ = ["RedisClient", "RedisConnectionError", "is_cluster", "open_db_pool", "open_redis"]
