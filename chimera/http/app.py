"""``build_app``: one Litestar ASGI app from route handlers, with Redis/PostgreSQL, errors, OpenAPI.

Handlers ask for ``redis: RedisDep`` and ``db: DbDep`` by parameter name;
both are opened when the app starts and closed when it stops (``app.state.redis`` /
``app.state.db``). A service that needs more (a venue client, its own service object) adds a
lifespan through its ``Mount``; lifespans run after the connections are open, in order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig
from litestar.params import SkipValidation
from litestar.types import ControllerRouterHandler

from chimera.http.auth import check_service_token
from chimera.http.errors import EXCEPTION_HANDLERS
from chimera_workers.connections import RedisClient, open_db_pool, open_redis
from chimera_workers.errors import ConfigError

Lifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]
# Annotate handler parameters with these to receive the app's connections.
# (SkipValidation: Litestar's signature model cannot validate a union of client classes, and
# these objects come from the app itself, not from the request.)
RedisDep = NamedDependency[SkipValidation[RedisClient]]
DbDep = NamedDependency[SkipValidation[asyncpg.Pool]]


class Mount(msgspec.Struct, frozen=True):
    """What one service contributes to the app: its routes and the resources they need."""

    route_handlers: tuple[ControllerRouterHandler, ...]
    lifespans: tuple[Lifespan, ...] = ()


def _connections(redis_url: str | None, database_url: str | None) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        redis = await open_redis(redis_url) if redis_url else None
        try:
            db = await open_db_pool(database_url) if database_url else None
            try:
                app.state.redis = redis
                app.state.db = db
                yield
            finally:
                if db is not None:
                    await db.close()
        finally:
            if redis is not None:
                await redis.aclose()

    return lifespan


def provide_redis(state: State) -> RedisClient:
    """Return the app's Redis client; a ConfigError if the app was built without one."""
    redis: RedisClient | None = state.get("redis")
    if redis is None:
        raise ConfigError("this API was started without Redis", hint="pass a Redis URL")
    return redis


def provide_db(state: State) -> asyncpg.Pool:
    """Return the app's PostgreSQL pool; a ConfigError if the app was built without one."""
    db: asyncpg.Pool | None = state.get("db")
    if db is None:
        raise ConfigError("this API was started without PostgreSQL", hint="pass a database URL")
    return db


def build_app(
    route_handlers: Sequence[ControllerRouterHandler],
    *,
    service_token: str,
    redis_url: str | None = None,
    database_url: str | None = None,
    lifespans: Sequence[Lifespan] = (),
    title: str = "Chimera API",
    version: str = "0.1.0",
    extra_state: dict[str, Any] | None = None,
) -> Litestar:
    """Assemble the app; the OpenAPI document is served at ``/schema/openapi.json``.

    ``service_token`` is what ``service_token_guard`` checks; it is required and must be long
    enough (``ConfigError`` otherwise). ``extra_state`` seeds ``app.state`` (e.g. injected
    dependencies in tests).
    """
    state = State({"service_token": check_service_token(service_token), **(extra_state or {})})
    return Litestar(
        route_handlers=list(route_handlers),
        lifespan=[_connections(redis_url, database_url), *lifespans],
        dependencies={
            "redis": Provide(provide_redis, sync_to_thread=False),
            "db": Provide(provide_db, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(title=title, version=version, path="/schema"),
        state=state,
    )


__all__ = ["DbDep", "Lifespan", "Mount", "RedisDep", "build_app", "provide_db", "provide_redis"]
