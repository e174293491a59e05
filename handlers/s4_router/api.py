"""``POST /orders`` and ``POST /cancel`` (internal, service token): S4 over HTTP.

``POST /orders`` takes an ``OrderIntent`` and answers a ``RouteOutcome``: 200 when the intent's
orders reached their state (``DONE``: filled, rejected by the venue, or a conditional leg
resting), 202 when it is ``WORKING`` (TWAP slices queued) or ``UNKNOWN`` (an order's outcome is
not known yet: send the same intent again to resolve it), 422 when it was ``REFUSED`` (the kill
switch; the same intent_id keeps that answer) or its execution style is not offered. Sending the
same intent again never places a second order.

``POST /cancel`` takes a ``CancelRequest`` and answers the intent's orders after cancelling them
(200), or 404 for an unknown intent.

Errors (``ErrorBody``): 400 a bad body naming the field (nothing written), 401 missing/wrong
service token, 409 an intent_id reused for a different intent, 503 the intent is being routed
by another request (send it again).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from litestar import Litestar, Response, Router, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody

from chimera.config.router import RouterConfig
from chimera.config.store import load_active
from chimera.domain.orders import OrderIntent
from chimera.http import ErrorBody, Mount, service_token_guard
from chimera.http.app import provide_db, provide_redis
from chimera.venues.settings import VenueSettings
from chimera_workers.errors import ConfigError
from handlers.s4_router.handlers import RedisSink
from handlers.s4_router.router import CancelRequest, RouteOutcome
from handlers.s4_router.router import Router as OrderRouter
from handlers.s4_router.runtime import RouterRuntime, VenuePool

ORDERS_PATH = "/orders"
CANCEL_PATH = "/cancel"
_STATUS = {"DONE": 200, "WORKING": 202, "UNKNOWN": 202, "REFUSED": 422}


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description)


_ERRORS = {
    400: _error("invalid body (the field is named); nothing written"),
    401: _error("missing or wrong service token"),
    409: _error("intent_id already used for a different intent"),
    503: _error("the intent is being routed by another request; send it again"),
}


@post(
    ORDERS_PATH,
    summary="Route an order intent (internal)",
    description=__doc__,
    status_code=200,
    responses={
        202: ResponseSpec(RouteOutcome, description="WORKING or UNKNOWN"),
        422: ResponseSpec(RouteOutcome, description="REFUSED (kill switch) or unsupported"),
        **_ERRORS,
    },
)
async def submit_order(
    data: JSONBody[OrderIntent], s4: NamedDependency[OrderRouter]
) -> Response[RouteOutcome]:
    """Route (or report) the intent ``data.intent_id``."""
    outcome = await s4.submit(data)
    return Response(outcome, status_code=_STATUS[outcome.state])


@post(
    CANCEL_PATH,
    summary="Cancel an intent's orders, optionally closing the rest at market (internal)",
    description=__doc__,
    status_code=200,
    responses={404: _error("no such intent"), **_ERRORS},
)
async def cancel_order(
    data: JSONBody[CancelRequest], s4: NamedDependency[OrderRouter]
) -> Response[RouteOutcome]:
    """Cancel the open orders and queued slices of ``data.intent_id``."""
    return Response(await s4.cancel(data), status_code=200)


class ActiveRouterConfig:
    """The ``router:`` section of the active config bundle, re-checked at most every ``refresh_ms``.

    A check is one small read of ``config_active``'s revision; the bundle is read again only when
    the revision changed, so a newly activated bundle applies within ``refresh_ms`` without a
    restart. With a ``fixed`` config (tests, embedding) the database is never read.
    """

    def __init__(self, fixed: RouterConfig | None = None, *, refresh_ms: int = 1_000) -> None:
        self.fixed = fixed
        self.refresh_ms = refresh_ms
        self.rev: int | None = None
        self._config: RouterConfig | None = None
        self._checked = -float("inf")

    async def get(self, pool: asyncpg.Pool) -> RouterConfig:
        """Return the router config of the active revision."""
        if self.fixed is not None:
            return self.fixed
        now = time.monotonic()
        if self._config is not None and (now - self._checked) * 1000 < self.refresh_ms:
            return self._config
        rev = await pool.fetchval("SELECT rev FROM config_active LIMIT 1")
        if self._config is None or rev != self.rev:
            bundle, loaded = await load_active(pool)
            self._config, rev = bundle.router, (loaded if rev is not None else None)
        self.rev, self._checked = rev, now
        assert self._config is not None
        return self._config


async def provide_router(state: State) -> OrderRouter:
    """Return a ``Router`` on the app's connections, the mount's runtime and active config."""
    runtime: RouterRuntime | None = state.get("s4_runtime")
    active: ActiveRouterConfig | None = state.get("s4_config")
    if runtime is None or active is None:
        raise ConfigError("the S4 router is not running in this app")
    redis, db = provide_redis(state), provide_db(state)
    config = await active.get(db)
    return OrderRouter(redis=redis, db=db, runtime=runtime, config=config, sink=RedisSink(redis))


orders_router = Router(
    path="/",
    route_handlers=[submit_order, cancel_order],
    guards=[service_token_guard],
    dependencies={"s4": Provide(provide_router)},
    tags=["s4 router"],
)


def router_mount(
    *,
    config: RouterConfig | None = None,
    venue_settings: VenueSettings | None = None,
    config_refresh_ms: int = 1_000,
) -> Mount:
    """Return S4's routes and the lifespan that holds their venues.

    Without ``config`` the routes follow the active config bundle's ``router`` section (the
    bundle file's while none is active), re-checked at most every ``config_refresh_ms``. The
    venue defaults to ``VenueSettings.from_env()``, read now so a bad setting fails before serving.
    """
    active = ActiveRouterConfig(config, refresh_ms=config_refresh_ms)
    settings = venue_settings or VenueSettings.from_env()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        runtime = RouterRuntime(VenuePool(settings))
        try:
            app.state.s4_runtime = runtime
            app.state.s4_config = active
            yield
        finally:
            await runtime.close()

    return Mount(route_handlers=(orders_router,), lifespans=(lifespan,))


__all__ = [
    "CANCEL_PATH",
    "ORDERS_PATH",
    "ActiveRouterConfig",
    "orders_router",
    "provide_router",
    "router_mount",
]
