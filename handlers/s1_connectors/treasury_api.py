"""``POST /xchg/treasury/transfer`` (internal, service token): S1's treasury-transfer endpoint.

Status codes: 200 when the transfer reached a final venue outcome (``Result`` SUCCEEDED or
FAILED); 202 when it is UNKNOWN (retry the same transfer_id to resolve it) or PENDING_APPROVAL;
422 when the treasury policy refused it (``Result`` REJECTED; the refusal is stored, so the same
transfer_id keeps that answer). Errors (``ErrorBody``): 400 bad body or an ``Idempotency-Key``
header that differs from ``transfer_id`` (nothing written), 401 missing/wrong service token, 409
a transfer_id reused for a different transfer, 503 route busy or venue unreachable (nothing was
sent; retry the same request).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from litestar import Litestar, Response, Router, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.params import HeaderParameter, JSONBody

from chimera.config.bundle import load_bundle
from chimera.config.treasury import TreasuryPolicy
from chimera.http import BadRequest, ErrorBody, Mount, service_token_guard
from chimera.http.app import provide_db, provide_redis
from chimera.venues.ccxt_factory import make_exchange
from chimera.venues.settings import VenueSettings
from chimera_workers.errors import ConfigError
from handlers.s1_connectors.treasury import (
    TransferRequest,
    TransferResponse,
    TreasuryService,
    response_of,
)
from handlers.s1_connectors.treasury_store import TreasuryStore
from handlers.s1_connectors.treasury_venue import CcxtVenue, TreasuryVenue

TRANSFER_PATH = "/xchg/treasury/transfer"
_STATUS = {"SUCCEEDED": 200, "FAILED": 200, "UNKNOWN": 202, "PENDING_APPROVAL": 202,
           "REJECTED": 422}  # fmt: skip


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description)


@post(
    TRANSFER_PATH,
    summary="Transfer funds between the spot and futures wallets (internal)",
    description=__doc__,
    status_code=200,
    responses={
        202: ResponseSpec(TransferResponse, description="UNKNOWN or PENDING_APPROVAL"),
        400: _error("invalid body, or Idempotency-Key differs from transfer_id"),
        401: _error("missing or wrong service token"),
        409: _error("transfer_id already used for a different transfer"),
        422: ResponseSpec(TransferResponse, description="REJECTED by the treasury policy"),
        503: _error("route busy or venue unreachable; nothing sent, retry"),
    },
)
async def transfer(
    data: JSONBody[TransferRequest],
    treasury: NamedDependency[TreasuryService],
    idempotency_key: Annotated[
        str | None,
        HeaderParameter(
            name="Idempotency-Key", required=False, description="must equal transfer_id"
        ),
    ] = None,
) -> Response[TransferResponse]:
    """Execute (or replay) the transfer ``data.transfer_id``."""
    if idempotency_key is not None and idempotency_key != data.transfer_id:
        raise BadRequest(
            f"Idempotency-Key {idempotency_key!r} does not match transfer_id {data.transfer_id!r}",
            hint="send the transfer_id as the Idempotency-Key, or omit the header",
        )
    row = await treasury.transfer(data)
    return Response(response_of(row), status_code=_STATUS.get(row.state, 202))


def provide_treasury(state: State) -> TreasuryService:
    """Return the app's ``TreasuryService`` (created by the treasury mount's lifespan)."""
    service: TreasuryService | None = state.get("treasury")
    if service is None:
        raise ConfigError("the treasury service is not running in this app")
    return service


treasury_router = Router(
    path="/",
    route_handlers=[transfer],
    guards=[service_token_guard],
    dependencies={"treasury": Provide(provide_treasury, sync_to_thread=False)},
    tags=["s1 treasury"],
)


def treasury_mount(
    *,
    policy: TreasuryPolicy | None = None,
    venue_settings: VenueSettings | None = None,
    venue: TreasuryVenue | None = None,
) -> Mount:
    """Return S1's treasury routes and the lifespan that runs their ``TreasuryService``.

    The policy defaults to the ``treasury`` section of the config bundle (read now, so a bad
    bundle fails before the server starts); the venue to ccxt's spot ``binance`` object for
    ``VenueSettings.from_env()`` (paper or live).
    """
    active_policy = policy if policy is not None else load_bundle().treasury
    # Resolved now too, so a bad CHIMERA_VENUE* setting fails before the server starts.
    settings = None if venue is not None else (venue_settings or VenueSettings.from_env())

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        exchange = None
        active_venue = venue
        if active_venue is None:
            assert settings is not None
            exchange = make_exchange("spot", settings)
            active_venue = CcxtVenue(exchange)
        try:
            app.state.treasury = TreasuryService(
                store=TreasuryStore(provide_db(app.state)),
                redis=provide_redis(app.state),
                venue=active_venue,
                policy=active_policy,
            )
            yield
        finally:
            if exchange is not None:
                await exchange.close()

    return Mount(route_handlers=(treasury_router,), lifespans=(lifespan,))


__all__ = ["TRANSFER_PATH", "provide_treasury", "transfer", "treasury_mount", "treasury_router"]
