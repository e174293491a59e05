"""``POST /decide`` (internal, service token): run S3's decision on a feature snapshot.

The body is a ``FeatureEvent`` (the payload of ``feat:events:<symbol>``). The decision runs on
the active config revision (``config_active``, read per request) exactly as the stream binding
does, and is idempotent by ``signal_id``: the first request decides, stores ``signals.decision``
and publishes the decision on ``sig:events`` and, for ``open``, the entry intent on
``ord:{intents}``; a repeat returns the stored decision with ``fresh: false`` and publishes
nothing. Entries are sized with the venue's filters from the mount's instrument catalog (the
same lazy ``InstrumentCatalog`` the workers' ``s3_instruments`` resource holds). Errors
(``ErrorBody``): 400 bad body naming the field (nothing written), 401 missing or wrong service
token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
from litestar import Litestar, Request, Router, post
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody

from chimera import names
from chimera.config.store import load_active
from chimera.domain.features import FeatureEvent, signal_id_of
from chimera.domain.orders import OrderIntent
from chimera.domain.signals import Decision
from chimera.http import BadRequest, DbDep, ErrorBody, Mount, RedisDep, service_token_guard
from chimera.venues.instruments import InstrumentCatalog
from chimera.venues.settings import VenueSettings
from chimera_workers.codec import entry_fields
from handlers.s3_strategy.engine import DecisionEngine

DECIDE_PATH = "/decide"
_CATALOG_STATE = "s3_instruments"


class DecideResponse(msgspec.Struct, frozen=True):
    """The decision, its entry intent (``open`` only) and whether this request made it."""

    decision: Decision
    intent: OrderIntent | None
    fresh: bool


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description)


@post(
    DECIDE_PATH,
    summary="Decide a feature snapshot (internal)",
    description=__doc__,
    status_code=200,
    responses={
        400: _error("invalid body; nothing written"),
        401: _error("missing or wrong service token"),
    },
)
async def decide(
    data: JSONBody[FeatureEvent],
    redis: RedisDep,
    db: DbDep,
    request: Request,  # type: ignore[type-arg]
) -> DecideResponse:
    """Decide ``data`` (or return the stored decision on its ``signal_id``)."""
    _check(data)
    config, rev = await load_active(db)
    catalog: InstrumentCatalog | None = request.app.state.get(_CATALOG_STATE)
    outcome = await DecisionEngine(redis, db, catalog=catalog).decide(data, config, rev)
    if outcome.fresh:
        await redis.xadd(names.SIG_EVENTS, entry_fields(outcome.decision))  # type: ignore[arg-type]
        if outcome.intent is not None:
            await redis.xadd(names.ORD_INTENTS, entry_fields(outcome.intent))  # type: ignore[arg-type]
    return DecideResponse(outcome.decision, outcome.intent, outcome.fresh)


def _check(event: FeatureEvent) -> None:
    expected = signal_id_of(event.symbol, event.t0)
    if event.signal_id != expected:
        raise BadRequest(
            f"signal_id {event.signal_id!r} is not the snapshot's id - at `$.signal_id`",
            hint=f"a snapshot of {event.symbol} at t0={event.t0} is {expected!r}",
        )
    if not event.price.is_finite() or event.price <= 0:
        raise BadRequest(
            f"price must be a positive decimal, got {event.price} - at `$.price`",
            hint="send the bar's close price",
        )


strategy_router = Router(
    path="/", route_handlers=[decide], guards=[service_token_guard], tags=["s3 strategy"]
)


def strategy_mount(
    *, venue_settings: VenueSettings | None = None, catalog: InstrumentCatalog | None = None
) -> Mount:
    """Return S3's routes and the lifespan that holds their instrument catalog.

    The catalog defaults to a lazy one on ``venue_settings`` (default
    ``VenueSettings.from_env()``, read now so a bad setting fails before serving).
    """
    chosen = catalog or InstrumentCatalog(venue_settings or VenueSettings.from_env())

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state[_CATALOG_STATE] = chosen
        try:
            yield
        finally:
            app.state.pop(_CATALOG_STATE, None)

    return Mount(route_handlers=(strategy_router,), lifespans=(lifespan,))


__all__ = ["DECIDE_PATH", "DecideResponse", "decide", "strategy_mount", "strategy_router"]
