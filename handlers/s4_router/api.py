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

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Response, Router, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody

from chimera.config.bundle import load_bundle
from chimera.config.router import RouterConfig
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


def provide_router(state: State) -> OrderRouter:
    """Return a ``Router`` on the app's connections and the mount's runtime."""
    runtime: RouterRuntime | None = state.get("s4_runtime")
    config: RouterConfig | None = state.get("s4_config")
    if runtime is None or config is None:
        raise ConfigError("the S4 router is not running in this app")
    redis = provide_redis(state)
    return OrderRouter(
        redis=redis, db=provide_db(state), runtime=runtime, config=config, sink=RedisSink(redis)
    )


orders_router = Router(
    path="/",
    route_handlers=[submit_order, cancel_order],
    guards=[service_token_guard],
    dependencies={"s4": Provide(provide_router, sync_to_thread=False)},
    tags=["s4 router"],
)


def router_mount(
    *, config: RouterConfig | None = None, venue_settings: VenueSettings | None = None
) -> Mount:
    """Return S4's routes and the lifespan that holds their venues.

    The config defaults to the ``router`` section of the config bundle file, the venue to
    ``VenueSettings.from_env()``; both are read now, so a bad setting fails before serving.
    """
    active = config if config is not None else load_bundle().router
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


__all__ = ["CANCEL_PATH", "ORDERS_PATH", "orders_router", "provide_router", "router_mount"]
