"""S12's treasury endpoints (operators; spec §A S12 item 3, flow B8 step 2).

Every call carries an operator token (``Authorization: Bearer <token>``), checked before the
body is read: 401 without a known one. Bodies are msgspec Structs (400 naming the field,
nothing written). Responses are ``TransferView``; errors ``ErrorBody``.

- ``POST /treasury/transfer`` files a request (201; 200 for a repeat of the same request; 409
  for a transfer_id used for another transfer). An ``Idempotency-Key`` header, if sent, must
  equal ``transfer_id``.
- ``POST /treasury/transfer/{transfer_id}/approve``: 200 when the transfer reached a final
  state, 202 while it is still on its way (S1 busy, or the venue's answer unknown); 403 for the
  requester themself; 404 unknown id; 409 not awaiting approval.
- ``POST /treasury/transfer/{transfer_id}/reject`` (optional body ``{reason}``): 200; 404; 409.
- ``GET /treasury/transfer/{transfer_id}``: 200 or 404.
- ``GET /treasury/transfer?state=PENDING_APPROVAL&limit=100``: the newest transfers (400 for an
  unknown state or a limit outside 1..500).

The routes run S1's ``TreasuryService`` in-process (the ``treasury`` state the S1 treasury
mount creates), so the app must mount both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from litestar import Litestar, Request, Response, Router, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter

from chimera.http import BadRequest, ErrorBody, Mount
from chimera.http.auth import presented_token
from chimera_workers.errors import ConfigError
from handlers.s1_connectors.treasury_api import provide_treasury
from handlers.s12_gateway.operators import OperatorRegistry, load_registry
from handlers.s12_gateway.treasury_approval import (
    OperatorTransferRequest,
    RejectRequest,
    TreasuryApprovals,
)
from handlers.s12_gateway.treasury_requests import TransferView, TreasuryRequests

BASE_PATH = "/treasury/transfer"
_ON_THE_WAY = frozenset({"PENDING_APPROVAL", "PENDING", "SUBMITTED", "UNKNOWN"})


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description)


_AUTH = {401: _error("missing or unknown operator token")}
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(name="Idempotency-Key", required=False, description="must equal transfer_id"),
]


def operator_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Identify the caller from their operator token (401 otherwise); store the name."""
    registry: OperatorRegistry | None = connection.app.state.get("operators")
    if registry is None:
        raise ConfigError("the operators registry is not loaded in this app")
    connection.state["operator"] = registry.identify(presented_token(connection))


def provide_operator(request: Request[Any, Any, Any]) -> str:
    """Return the operator ``operator_guard`` identified."""
    return str(request.state["operator"])


def provide_approvals(state: State) -> TreasuryApprovals:
    """Return the approvals service over the app's S1 ``TreasuryService``."""
    return TreasuryApprovals(TreasuryRequests(provide_treasury(state)))


@post(
    BASE_PATH,
    summary="File a treasury transfer request (awaits another operator's approval)",
    status_code=201,
    responses={
        200: ResponseSpec(TransferView, description="the same request again; stored one"),
        400: _error("invalid body, or Idempotency-Key differs from transfer_id"),
        409: _error("transfer_id already used for a different transfer"),
        503: _error("route busy; nothing written, retry"),
        **_AUTH,
    },
)
async def file_request(
    data: JSONBody[OperatorTransferRequest],
    approvals: NamedDependency[TreasuryApprovals],
    operator: NamedDependency[str],
    idempotency_key: IdempotencyKey = None,
) -> Response[TransferView]:
    """File ``data`` as ``operator``'s request."""
    if idempotency_key is not None and idempotency_key != data.transfer_id:
        raise BadRequest(
            f"Idempotency-Key {idempotency_key!r} does not match transfer_id {data.transfer_id!r}",
            hint="send the transfer_id as the Idempotency-Key, or omit the header",
        )
    outcome = await approvals.request(operator, data)
    return Response(outcome.view, status_code=201 if outcome.changed else 200)


@post(
    BASE_PATH + "/{transfer_id:str}/approve",
    summary="Approve a request (a different operator than its requester); S1 runs it",
    status_code=200,
    responses={
        202: ResponseSpec(TransferView, description="approved; the transfer is on its way"),
        403: _error("the requester cannot approve their own request"),
        404: _error("no such transfer"),
        409: _error("not awaiting approval"),
        **_AUTH,
    },
)
async def approve(
    transfer_id: FromPath[str],
    approvals: NamedDependency[TreasuryApprovals],
    operator: NamedDependency[str],
) -> Response[TransferView]:
    """Approve ``transfer_id`` as ``operator``."""
    outcome = await approvals.approve(operator, transfer_id)
    status = 202 if outcome.view.state in _ON_THE_WAY else 200
    return Response(outcome.view, status_code=status)


@post(
    BASE_PATH + "/{transfer_id:str}/reject",
    summary="Reject a request awaiting approval",
    status_code=200,
    responses={404: _error("no such transfer"), 409: _error("not awaiting approval"), **_AUTH},
)
async def reject(
    transfer_id: FromPath[str],
    approvals: NamedDependency[TreasuryApprovals],
    operator: NamedDependency[str],
    data: JSONBody[RejectRequest | None] = None,
) -> TransferView:
    """Reject ``transfer_id`` as ``operator``."""
    reason = data.reason if data is not None else None
    return (await approvals.reject(operator, transfer_id, reason)).view


@get(
    BASE_PATH + "/{transfer_id:str}",
    summary="Read a treasury transfer",
    responses={404: _error("no such transfer"), **_AUTH},
)
async def show(
    transfer_id: FromPath[str],
    approvals: NamedDependency[TreasuryApprovals],
    operator: NamedDependency[str],
) -> TransferView:
    """Return ``transfer_id``."""
    del operator  # any identified operator may read
    return await approvals.show(transfer_id)


@get(
    BASE_PATH,
    summary="List treasury transfers, newest first (e.g. those awaiting approval)",
    responses={400: _error("unknown state or bad limit"), **_AUTH},
)
async def listing(
    approvals: NamedDependency[TreasuryApprovals],
    operator: NamedDependency[str],
    # ``state`` is a reserved parameter name in Litestar; the query key stays ``state``.
    only: Annotated[str | None, QueryParameter(name="state", description="only this state")] = None,
    limit: Annotated[int, QueryParameter(description="at most this many (1-500)")] = 100,
) -> list[TransferView]:
    """Return the newest transfers."""
    del operator  # any identified operator may read
    return await approvals.listing(only, limit)


gateway_router = Router(
    path="/",
    route_handlers=[file_request, approve, reject, show, listing],
    guards=[operator_guard],
    dependencies={
        "approvals": Provide(provide_approvals, sync_to_thread=False),
        "operator": Provide(provide_operator, sync_to_thread=False),
    },
    tags=["s12 treasury"],
)


def gateway_mount(*, registry: OperatorRegistry | None = None) -> Mount:
    """Return S12's treasury routes; the registry defaults to ``$CHIMERA_OPERATORS_FILE``.

    The registry is read now, so a bad file fails before the server starts.
    """
    active = registry if registry is not None else load_registry()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.operators = active
        yield

    return Mount(route_handlers=(gateway_router,), lifespans=(lifespan,))


__all__ = ["BASE_PATH", "gateway_mount", "gateway_router", "operator_guard"]
