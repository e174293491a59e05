"""The demo's account view against the paper venue (through ccxt) and the fills table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from chimera.demo.account import AccountWatch
from chimera.paper.trading.plugin import make_plugin
from chimera.paper.venue import PaperVenue
from chimera.venues.orders import parse_order
from chimera.venues.settings import VenueSettings
from tests.chimera.paper.venue_fixtures import (
    ccxt_exchange,
    paper_settings,
    running_venue,
    venue_config,
)

SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"


@pytest.fixture
async def venue(tmp_path: Path) -> AsyncIterator[PaperVenue]:
    config = venue_config(state_dir=str(tmp_path / "paper"), symbols=("BTCUSDT",))
    async with running_venue(config, make_plugin) as running:
        yield running


async def record_fills(pool: asyncpg.Pool, market: str, order: dict[str, Any]) -> None:
    """Write an order and its fills as S4 would (only the columns the demo reads matter)."""
    parsed = parse_order(order)
    await pool.execute(
        "INSERT INTO orders (client_order_id, intent_id, market, symbol, side, order_type,"
        " purpose, status, qty, created_ts_ms, updated_ts_ms)"
        " VALUES ($1, 'i', $2, $3, $4, 'MARKET', 'ENTRY', 'FILLED', $5, 0, 0)",
        parsed.client_order_id, market, parsed.symbol, parsed.side, parsed.qty,
    )  # fmt: skip
    for f in parsed.fills:
        await pool.execute(
            "INSERT INTO fills (trade_id, symbol, client_order_id, intent_id, side, price, qty,"
            " fee, fee_asset, is_maker, ts_ms) VALUES ($1, $2, $3, 'i', $4, $5, $6, $7, $8,"
            " false, $9)",
            f.trade_id, parsed.symbol, parsed.client_order_id, parsed.side, f.price, f.qty,
            f.fee, f.fee_asset, f.ts_ms,
        )  # fmt: skip


@pytest.mark.timeout(60)
async def test_positions_come_from_the_venue_and_pnl_from_the_fills(
    venue: PaperVenue, pool: asyncpg.Pool
) -> None:
    async with ccxt_exchange(venue, "perp") as perp, ccxt_exchange(venue, "spot") as spot:
        await perp.create_order(PERP, "market", "sell", 0.002)
        bought = await spot.create_order(SPOT, "market", "buy", 0.001)
    await record_fills(pool, "SPOT", bought)
    watch = AccountWatch(paper_settings(venue), pool, ["BTCUSDT"])
    try:
        snap = await watch.read()
    finally:
        await watch.close()
    assert snap.positions is not None
    fut, spot_pos = snap.positions
    assert (fut.market, fut.symbol, fut.side) == ("FUT", "BTCUSDT", "short")
    assert fut.qty == Decimal("0.002")
    assert fut.entry_price and fut.mark_price and fut.unrealized_pnl is not None
    assert fut.unrealized_pnl == (fut.entry_price - fut.mark_price) * fut.qty
    assert (spot_pos.market, spot_pos.side, spot_pos.qty) == ("SPOT", "long", Decimal("0.001"))
    fills = parse_order(bought).fills
    entry = sum((f.price * f.qty for f in fills), Decimal(0)) / Decimal("0.001")
    assert spot_pos.entry_price == entry and spot_pos.mark_price is not None
    assert spot_pos.unrealized_pnl == (spot_pos.mark_price - entry) * Decimal("0.001")
    fee = sum((f.fee for f in fills), Decimal(0))
    assert fee > 0
    assert snap.pnl.fills == len(fills) and snap.pnl.fees == fee and snap.pnl.realized == -fee
    assert snap.pnl.unrealized == fut.unrealized_pnl + spot_pos.unrealized_pnl
    assert snap.pnl.total == -fee + snap.pnl.unrealized


@pytest.mark.timeout(60)
async def test_a_dead_venue_shows_na_and_the_refresh_runs_in_the_background(
    pool: asyncpg.Pool,
) -> None:
    settings = VenueSettings(mode="paper", paper_url="http://127.0.0.1:1", timeout_ms=1000)
    watch = AccountWatch(settings, pool, ["BTCUSDT"], interval_s=60.0, timeout_s=2.0)
    try:
        watch.tick()
        watch.tick()  # one refresh at a time, at most every interval
        for _ in range(100):
            if watch.snapshot.read_at:
                break
            await asyncio.sleep(0.05)
    finally:
        await watch.close()
    snap = watch.snapshot
    assert snap.read_at > 0 and snap.positions is None
    assert snap.pnl.unrealized is None and snap.pnl.total is None
    assert snap.pnl.realized == 0 and snap.pnl.fills == 0  # the database still answered
