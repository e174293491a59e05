"""Acceptance (issue B "Transfers"): the endpoint moving money on the paper venue through ccxt.

The API runs on uvicorn with the production wiring (``treasury_mount`` builds ccxt's spot
``binance`` from VenueSettings); the venue is the paper venue with its trading plugin, faults
armed through ``/_paper/faults``. Balances and the venue's transfer history are read back
through ccxt, so "moved exactly once" is checked at the venue, not in our own tables.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis

from chimera.http.server import serve
from chimera.paper.control import PaperControl
from chimera.paper.faults import FaultRule
from chimera.paper.trading.plugin import make_plugin
from chimera.paper.venue import PaperVenue
from chimera.venues.ccxt_factory import make_exchange
from chimera.venues.settings import VenueSettings
from handlers.api.app import create_app
from handlers.s1_connectors.treasury_api import TRANSFER_PATH, treasury_mount
from tests.chimera.paper.venue_fixtures import running_venue, venue_config
from tests.handlers.s1_connectors.treasury_support import (
    AUTH,
    POLICY,
    TOKEN,
    audits,
    create_schema,
    table_states,
)

# Short enough that a held response times out quickly, long enough for loopback calls.
TRANSFER_ROUTE = "/sapi/v1/asset/transfer"
CCXT_TIMEOUT_MS = 1_500
# A lost request may be re-sent 1 s after its (timed-out) answer was due.
PAPER_POLICY = msgspec.structs.replace(POLICY, resubmit_after_ms=CCXT_TIMEOUT_MS + 1_000)


class Setup(msgspec.Struct):
    http: httpx.AsyncClient
    venue: PaperVenue
    spot: Any  # ccxt binance, for reading balances and history back
    redis: aioredis.Redis
    db_url: str


@pytest.fixture
async def setup(redis_url: str, db_url: str, tmp_path: Path) -> AsyncIterator[Setup]:
    await create_schema(db_url)
    # A private state dir: the venue keeps balances across restarts, tests must not share them.
    config = venue_config(state_dir=str(tmp_path / "paper"))
    async with running_venue(config, plugin_factory=make_plugin) as venue:
        settings = VenueSettings(mode="paper", paper_url=venue.base_url, timeout_ms=CCXT_TIMEOUT_MS)
        app = create_app(
            service_token=TOKEN, redis_url=redis_url, database_url=db_url,
            mounts=[treasury_mount(policy=PAPER_POLICY, venue_settings=settings)],
        )  # fmt: skip
        spot = make_exchange("spot", settings)
        redis = aioredis.Redis.from_url(redis_url)
        try:
            async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
                yield Setup(http, venue, spot, redis, db_url)
        finally:
            await spot.close()
            await redis.aclose()


def body(transfer_id: str, amount: str = "100", **kw: str) -> dict[str, str]:
    return {
        "transfer_id": transfer_id, "asset": "USDT", "amount": amount, "from_account": "SPOT",
        "to_account": "FUTURES", "requested_by": "s6", **kw,
    }  # fmt: skip


async def spot_usdt(setup: Setup) -> Decimal:
    balance = await setup.spot.fetch_balance()
    rows = balance["info"]["balances"]
    return next((Decimal(r["free"]) for r in rows if r["asset"] == "USDT"), Decimal(0))


async def venue_transfers(setup: Setup) -> list[dict[str, Any]]:
    rows = await setup.spot.fetch_transfers(
        "USDT", None, 100, {"fromAccount": "spot", "toAccount": "linear"}
    )
    return [row["info"] for row in rows]


async def arm(setup: Setup, kind: str) -> None:
    async with PaperControl(setup.venue.base_url) as control:
        await control.arm_fault(
            FaultRule(kind=kind, path_prefix=TRANSFER_ROUTE, method="POST")  # type: ignore[arg-type]
        )


async def test_idempotent_by_transfer_id_and_audited(setup: Setup) -> None:
    before = await spot_usdt(setup)
    first = await setup.http.post(TRANSFER_PATH, json=body("p-1"), headers=AUTH)
    second = await setup.http.post(
        TRANSFER_PATH, json=body("p-1"), headers={**AUTH, "Idempotency-Key": "p-1"}
    )
    assert first.status_code == second.status_code == 200, first.text
    assert first.json() == second.json()
    assert first.json()["Result"] == "SUCCEEDED"
    assert await spot_usdt(setup) == before - Decimal("100")
    assert [Decimal(t["amount"]) for t in await venue_transfers(setup)] == [Decimal("100")]
    state, history = await table_states(setup.db_url, "p-1")
    assert state == "SUCCEEDED"
    assert history == [("-", "PENDING"), ("PENDING", "SUBMITTED"), ("SUBMITTED", "SUCCEEDED")]
    assert [(a.transfer_id, a.to_state) for a in await audits(setup.redis)] == [
        ("p-1", "PENDING"),
        ("p-1", "SUBMITTED"),
        ("p-1", "SUCCEEDED"),
    ]


async def test_over_limit_and_off_whitelist_are_refused_without_moving_money(
    setup: Setup,
) -> None:
    before = await spot_usdt(setup)
    over = await setup.http.post(TRANSFER_PATH, json=body("big", "1000.5"), headers=AUTH)
    assert over.status_code == 422
    assert over.json()["Message"] == (
        "refused: amount 1000.5 USDT exceeds the per-transfer limit of 1000 USDT"
    )
    off = await setup.http.post(TRANSFER_PATH, json=body("btc", asset="BTC"), headers=AUTH)
    assert off.status_code == 422
    assert "route BTC SPOT->FUTURES is not whitelisted" in off.json()["Message"]
    assert await spot_usdt(setup) == before
    assert await venue_transfers(setup) == []
    assert (await table_states(setup.db_url, "big"))[1] == [("-", "REJECTED")]
    assert [a.to_state for a in await audits(setup.redis)] == ["REJECTED", "REJECTED"]


async def test_timeout_after_accept_is_resolved_on_retry_without_a_second_transfer(
    setup: Setup,
) -> None:
    before = await spot_usdt(setup)
    await arm(setup, "timeout_after_accept")
    first = await setup.http.post(TRANSFER_PATH, json=body("u-1", "42.5"), headers=AUTH)
    assert first.status_code == 202, first.text
    assert first.json()["Result"] == "UNKNOWN"
    second = await setup.http.post(TRANSFER_PATH, json=body("u-1", "42.5"), headers=AUTH)
    assert second.status_code == 200, second.text
    assert second.json()["Result"] == "SUCCEEDED"
    assert "found at the venue" in second.json()["Message"]
    assert await spot_usdt(setup) == before - Decimal("42.5")
    assert len(await venue_transfers(setup)) == 1
    assert (await table_states(setup.db_url, "u-1"))[1] == [
        ("-", "PENDING"), ("PENDING", "SUBMITTED"), ("SUBMITTED", "UNKNOWN"),
        ("UNKNOWN", "SUCCEEDED"),
    ]  # fmt: skip
    assert [a.to_state for a in await audits(setup.redis)][-2:] == ["UNKNOWN", "SUCCEEDED"]


async def test_a_request_lost_before_the_venue_is_resent_once(setup: Setup) -> None:
    before = await spot_usdt(setup)
    await arm(setup, "timeout_before_accept")
    first = await setup.http.post(TRANSFER_PATH, json=body("u-2", "7"), headers=AUTH)
    assert first.json()["Result"] == "UNKNOWN"
    assert await venue_transfers(setup) == []
    # Within the resubmission window it stays UNKNOWN rather than risk a double transfer.
    early = await setup.http.post(TRANSFER_PATH, json=body("u-2", "7"), headers=AUTH)
    assert early.status_code == 202 and "re-sent safely" in early.json()["Message"]
    await asyncio.sleep(1.2)  # past resubmit_after_ms on the venue clock (speed 1)
    done = await setup.http.post(TRANSFER_PATH, json=body("u-2", "7"), headers=AUTH)
    assert done.json()["Result"] == "SUCCEEDED", done.text
    assert await spot_usdt(setup) == before - Decimal("7")
    assert len(await venue_transfers(setup)) == 1
