"""Open what a one-shot CLI command needs: the topology and a Redis client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from chimera_workers.connections import RedisClient, open_redis
from chimera_workers.endpoints import resolve_redis_url
from chimera_workers.settings import Settings
from chimera_workers.topology import App
from chimera_workers.topology_loader import load_app


def load_topology(streams: Path | None) -> App:
    """Load ``streams`` or the configured default topology file."""
    return load_app(streams or Path(Settings.from_env().streams_file))


@asynccontextmanager
async def redis_session(app: App) -> AsyncIterator[RedisClient]:
    """Yield a Redis client for the configured (or embedded) server, closed afterwards."""
    redis = await open_redis(resolve_redis_url(Settings.from_env()))
    try:
        yield redis
    finally:
        await redis.aclose()
