"""``chimera treasury request|approve|reject|show|list``: B8's operator actions from a terminal.

The operator is identified by their token (``--token`` or ``$CHIMERA_OPERATOR_TOKEN``) against
the same registry the API uses (``$CHIMERA_OPERATORS_FILE``), and the commands call the same
``TreasuryApprovals`` as the API, on ``$CHIMERA_REDIS_URL`` / ``$CHIMERA_DATABASE_URL``, the
config bundle's ``treasury:`` policy and the venue of ``$CHIMERA_VENUE``/``$CHIMERA_PAPER_URL``.
Each prints the transfer as JSON; refusals (unknown token, self-approval, unknown id, wrong
state) are one ``error:`` line and exit code 2.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated

import msgspec
import typer

from chimera.config.bundle import load_bundle
from chimera.venues.ccxt_factory import make_exchange
from chimera.venues.settings import VenueSettings
from chimera_workers.cli.common import run, user_errors
from chimera_workers.connections import open_db_pool, open_redis
from chimera_workers.endpoints import resolve_database_url, resolve_redis_url
from chimera_workers.errors import PayloadError
from chimera_workers.settings import Settings
from handlers.s1_connectors.treasury import TreasuryService
from handlers.s1_connectors.treasury_store import TreasuryStore
from handlers.s1_connectors.treasury_venue import CcxtVenue
from handlers.s12_gateway.operators import OPERATOR_TOKEN_ENV, load_registry
from handlers.s12_gateway.treasury_approval import (
    OperatorTransferRequest,
    Outcome,
    TreasuryApprovals,
)
from handlers.s12_gateway.treasury_requests import TransferView, TreasuryRequests

app = typer.Typer(
    help="Treasury transfers (B8): file, approve, reject and show requests as an operator.",
    no_args_is_help=True,
)

Token = Annotated[
    str,
    typer.Option(
        "--token", envvar=OPERATOR_TOKEN_ENV, help="Your operator token.", show_default=False
    ),
]
TransferIdArg = Annotated[str, typer.Argument(help="The transfer_id.")]

Action = Callable[[TreasuryApprovals, str], Awaitable[TransferView | Outcome]]


@asynccontextmanager
async def open_approvals() -> AsyncIterator[TreasuryApprovals]:
    """Yield the approvals service on the environment's Redis, PostgreSQL, policy and venue."""
    policy = load_bundle().treasury
    venue_settings = VenueSettings.from_env()
    settings = Settings.from_env()
    redis = await open_redis(resolve_redis_url(settings))
    try:
        db = await open_db_pool(resolve_database_url(settings), max_size=2)
        try:
            exchange = make_exchange("spot", venue_settings)
            try:
                service = TreasuryService(
                    store=TreasuryStore(db), redis=redis, venue=CcxtVenue(exchange), policy=policy
                )
                yield TreasuryApprovals(TreasuryRequests(service))
            finally:
                await exchange.close()
        finally:
            await db.close()
    finally:
        await redis.aclose()


def _perform(token: str, action: Action) -> None:
    # The token is checked before anything is opened: a stranger touches no server.
    operator = load_registry().identify(token)

    async def go() -> TransferView | Outcome:
        async with open_approvals() as approvals:
            return await action(approvals, operator)

    result = run(go())
    view = result.view if isinstance(result, Outcome) else result
    typer.echo(msgspec.json.format(msgspec.json.encode(view)).decode())


@app.command()
@user_errors
def request(
    amount: Annotated[str, typer.Argument(help="Decimal amount, e.g. 250.5.")],
    token: Token = "",
    asset: Annotated[str, typer.Option("--asset", help="Asset code.")] = "USDT",
    from_account: Annotated[str, typer.Option("--from", help="SPOT or FUTURES.")] = "SPOT",
    to_account: Annotated[str, typer.Option("--to", help="SPOT or FUTURES.")] = "FUTURES",
    transfer_id: Annotated[
        str | None, typer.Option("--id", help="transfer_id (default: a new one).")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why.")] = None,
) -> None:
    """File a transfer request; another operator must approve it."""
    fields = {
        "transfer_id": transfer_id or f"op-{uuid.uuid4().hex[:20]}", "asset": asset,
        "amount": amount, "from_account": from_account, "to_account": to_account,
        "reason": reason,
    }  # fmt: skip
    try:
        body = msgspec.convert(fields, OperatorTransferRequest)
    except msgspec.ValidationError as exc:
        raise PayloadError(f"invalid request: {exc}") from exc
    _perform(token, lambda approvals, operator: approvals.request(operator, body))


@app.command()
@user_errors
def approve(transfer_id: TransferIdArg, token: Token = "") -> None:
    """Approve a request (not your own); S1 then runs the transfer."""
    _perform(token, lambda approvals, operator: approvals.approve(operator, transfer_id))


@app.command()
@user_errors
def reject(
    transfer_id: TransferIdArg,
    token: Token = "",
    reason: Annotated[str | None, typer.Option("--reason", help="Why.")] = None,
) -> None:
    """Reject a request awaiting approval."""
    _perform(token, lambda approvals, operator: approvals.reject(operator, transfer_id, reason))


@app.command()
@user_errors
def show(transfer_id: TransferIdArg, token: Token = "") -> None:
    """Show a transfer."""
    _perform(token, lambda approvals, _operator: approvals.show(transfer_id))


@app.command("list")
@user_errors
def list_(
    token: Token = "",
    state: Annotated[
        str | None, typer.Option("--state", help="Only this state, e.g. PENDING_APPROVAL.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 100,
) -> None:
    """List transfers, newest first."""
    operator = load_registry().identify(token)
    del operator  # any identified operator may read

    async def go() -> list[TransferView]:
        async with open_approvals() as approvals:
            return await approvals.listing(state, limit)

    typer.echo(msgspec.json.format(msgspec.json.encode(run(go()))).decode())


__all__ = ["app", "open_approvals"]
