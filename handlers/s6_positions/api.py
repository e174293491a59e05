"""``POST /positions/manage`` (internal, service token): one S6 manage pass over HTTP (spec S6).

The body is a ``ManageRequest`` (``pos_id``: one position, or none for every open position);
the answer is the pass's ``ManageReport`` (a snapshot per managed position and the events
published on ``pos:events``). 400 a bad body naming the field (nothing written), 401 a
missing/wrong service token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import msgspec
from litestar import Litestar, Response, post
from litestar import Router as HttpRouter
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody

from chimera import names
from chimera.config.bundle import ConfigBundle
from chimera.config.store import load_active
from chimera.domain.positions import PositionEvent, PositionSnapshot
from chimera.http import ErrorBody, Mount, service_token_guard
from chimera.http.app import provide_db, provide_redis
from chimera.venues.settings import VenueSettings
from chimera_workers.codec import entry_fields
from chimera_workers.errors import ConfigError
from handlers.s4_router.handlers import RedisSink
from handlers.s4_router.router import Router
from handlers.s4_router.runtime import RouterRuntime, VenuePool
from handlers.s6_positions.tick import manage_positions

MANAGE_PATH = "/positions/manage"
PosId = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]


class ManageRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Manage one position (``pos_id``) or, without it, every open position."""

    pos_id: PosId | None = None


class ManageReport(msgspec.Struct, frozen=True):
    """What one manage pass did."""

    snapshots: list[PositionSnapshot]
    events: list[PositionEvent]


@post(
    MANAGE_PATH,
    summary="Run S6's manage pass now (internal)",
    description=__doc__,
    status_code=200,
    responses={
        400: ResponseSpec(ErrorBody, description="invalid body (the field is named)"),
        401: ResponseSpec(ErrorBody, description="missing or wrong service token"),
    },
)
async def manage(data: JSONBody[ManageRequest], state: State) -> Response[ManageReport]:
    """Manage ``data.pos_id`` (or every open position) once and answer the report."""
    runtime: RouterRuntime | None = state.get("s6_runtime")
    if runtime is None:
        raise ConfigError("S6's manage pass is not mounted in this app")
    redis, db = provide_redis(state), provide_db(state)
    bundle: ConfigBundle | None = state.get("s6_config")
    rev = 0
    if bundle is None:
        bundle, rev = await load_active(db)
    router = Router(
        redis=redis, db=db, runtime=runtime, config=bundle.router, sink=RedisSink(redis)
    )
    snapshots, events = await manage_positions(router, db, bundle, rev, "API", data.pos_id)
    for event in events:
        await redis.xadd(names.POS_EVENTS, entry_fields(event))  # type: ignore[arg-type]
    return Response(ManageReport(snapshots, events), status_code=200)


positions_router = HttpRouter(
    path="/",
    route_handlers=[manage],
    guards=[service_token_guard],
    tags=["s6 positions"],
)


def positions_mount(
    *, config: ConfigBundle | None = None, venue_settings: VenueSettings | None = None
) -> Mount:
    """Return S6's route and the lifespan that holds its venues (S4's router places orders).

    Without ``config`` each pass reads the active config bundle.
    """
    settings = venue_settings or VenueSettings.from_env()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        runtime = RouterRuntime(VenuePool(settings))
        try:
            app.state.s6_runtime = runtime
            app.state.s6_config = config
            yield
        finally:
            await runtime.close()

    return Mount(route_handlers=(positions_router,), lifespans=(lifespan,))


__all__ = ["MANAGE_PATH", "ManageReport", "ManageRequest", "positions_mount", "positions_router"]
