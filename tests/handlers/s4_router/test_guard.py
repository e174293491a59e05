"""SPOT GuardStop entries: market buy, LIMIT_MAKER take-profit, a stop that s4-guard fires."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec

from chimera import names
from chimera.domain.market import BookEvent, MarketEvent, TradeEvent
from chimera.paper.venue import PaperVenue
from chimera_workers.connections import RedisClient
from handlers.s4_router import guard
from handlers.s4_router.ids import client_order_id
from handlers.s4_router.runtime import RouterRuntime, VenuePool
from tests.chimera.paper.venue_fixtures import print_trade
from tests.handlers.s4_router.support import (
    SPOT,
    bracket,
    fill_rows,
    make_router,
    order_rows,
    runtime,
    spot,
    spot_intent,
    stream_statuses,
    venue,
    venue_orders,
)

__all__ = ["runtime", "spot", "venue"]  # fixtures


async def _hash(redis: RedisClient, intent_id: str) -> dict[str, str]:
    raw = await redis.hgetall(names.guard_stop_key("BTCUSDT", intent_id))
    return {k.decode(): v.decode() for k, v in raw.items()}


async def _indexed(redis: RedisClient, intent_id: str) -> tuple[bool, bool]:
    below = await redis.zscore(names.guard_below_index_key("BTCUSDT"), intent_id)
    above = await redis.zscore(names.guard_above_index_key("BTCUSDT"), intent_id)
    return below is not None, above is not None


async def _armed(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, spot: Any, label: str
) -> tuple[Any, Decimal, Decimal]:
    tp, sl = await bracket(spot)
    entry = spot_intent(label, "GUARD", tp, sl)
    outcome = await make_router(rclient, pool, runtime).submit(entry)
    assert outcome.state == "DONE"
    mk, gt = await order_rows(pool, entry.intent_id)
    assert (mk["order_type"], mk["side"], mk["purpose"], mk["status"]) == (
        "MARKET", "buy", "ENTRY", "FILLED",
    )  # fmt: skip
    assert (gt["order_type"], gt["side"], gt["purpose"], gt["status"]) == (
        "LIMIT_MAKER", "sell", "TP", "NEW",
    )  # fmt: skip
    assert gt["price"] == tp and gt["qty"] == Decimal("0.002")
    state = await _hash(rclient, entry.intent_id)
    assert state["state"] == "ARMED" and state["armed"] == "1" and int(state["armed_at"]) > 0
    assert Decimal(state["trigger"]) == sl and Decimal(state["qty"]) == Decimal("0.002")
    assert state["side"] == "sell" and state["tp_client_order_id"] == gt["client_order_id"]
    assert await rclient.pttl(names.guard_stop_key("BTCUSDT", entry.intent_id)) > 86_400_000
    assert await _indexed(rclient, entry.intent_id) == (True, True)
    assert await stream_statuses(rclient, entry.intent_id) == [
        ("mk", "PENDING"), ("mk", "FILLED"), ("gt", "PENDING"), ("gt", "NEW"),
    ]  # fmt: skip
    return entry, tp, sl


async def test_stop_cancels_the_take_profit_first_then_sells_once_with_two_workers(
    venue: PaperVenue, rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, spot: Any
) -> None:
    entry, _, sl = await _armed(rclient, pool, runtime, spot, "grd")
    # Above the trigger: nothing fires.
    assert await guard.check(make_router(rclient, pool, runtime), "BTCUSDT", sl + 1, sl + 1) == {}
    # Two workers (own runtimes) see the price fall through the trigger at the same time.
    other = RouterRuntime(VenuePool(runtime.venues.settings))
    try:
        first, second = await asyncio.gather(
            guard.check(make_router(rclient, pool, runtime), "BTCUSDT", sl - 1, sl - 1),
            guard.check(make_router(rclient, pool, other), "BTCUSDT", sl - 1, sl - 1),
        )
    finally:
        await other.close()
    outcomes = sorted([first.get(entry.intent_id, ""), second.get(entry.intent_id, "")])
    # One fired; the other was turned away by the intent lock (or found the guard done).
    assert "FIRED" in outcomes and {*outcomes} <= {"FIRED", "BUSY", ""}
    # The venue: the take-profit cancelled, one market sell, cancel first.
    gt_id, gs_id = (client_order_id(entry.intent_id, leg) for leg in ("gt", "gs"))
    (gt_venue,) = await venue_orders(spot, SPOT, gt_id)
    (gs_venue,) = await venue_orders(spot, SPOT, gs_id)
    assert gt_venue["status"] == "canceled" and gs_venue["status"] == "closed"
    assert int(gt_venue["info"]["updateTime"]) <= int(gs_venue["info"]["time"])
    rows = {r["client_order_id"]: r for r in await order_rows(pool, entry.intent_id)}
    assert rows[gt_id]["status"] == "CANCELED" and rows[gt_id]["filled_qty"] == 0
    gs = rows[gs_id]
    assert (gs["order_type"], gs["side"], gs["purpose"], gs["status"]) == (
        "MARKET", "sell", "SL", "FILLED",
    )  # fmt: skip
    assert gs["filled_qty"] == Decimal("0.002")
    fills = [f for f in await fill_rows(pool, entry.intent_id) if f["client_order_id"] == gs_id]
    assert sum(f["qty"] for f in fills) == Decimal("0.002")
    for fill in fills:
        assert fill["trade_id"].startswith("SPOT:") and fill["side"] == "sell"
        assert fill["mid_at_send"] > 0 and len(json.loads(fill["top3"])) >= 1
        assert fill["slippage_bps"] == (
            (fill["mid_at_send"] - fill["price"]) / fill["mid_at_send"] * 10_000
        ).quantize(Decimal("0.0001"))
    # ord:{results}: the take-profit's CANCELED comes before the stop-out is even claimed.
    assert (await stream_statuses(rclient, entry.intent_id))[4:] == [
        ("gt", "CANCELED"), ("gs", "PENDING"), ("gs", "FILLED"),
    ]  # fmt: skip
    state = await _hash(rclient, entry.intent_id)
    assert state["state"] == "FIRED" and state["armed"] == "0" and int(state["fired_at"]) > 0
    assert await _indexed(rclient, entry.intent_id) == (False, False)
    body = await pool.fetchval(
        "SELECT body::text FROM strategy_events WHERE event_id = $1",
        f"GUARD_FIRED:{entry.intent_id}",
    )
    assert json.loads(body)["client_order_id"] == gs_id
    # Later events (and a repeated intent) change nothing.
    assert await guard.check(make_router(rclient, pool, runtime), "BTCUSDT", sl - 5, sl - 5) == {}
    again = await make_router(rclient, pool, runtime).submit(entry)
    assert {r.client_order_id: r.status for r in again.results}[gs_id] == "FILLED"
    assert len(await venue_orders(spot, SPOT, gs_id)) == 1


async def test_a_filled_take_profit_disarms_the_guard(
    venue: PaperVenue, rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, spot: Any
) -> None:
    entry, tp, sl = await _armed(rclient, pool, runtime, spot, "grdtp")
    print_trade(venue, tp + Decimal("1"))
    router = make_router(rclient, pool, runtime)
    assert await guard.check(router, "BTCUSDT", tp, tp) == {entry.intent_id: "DISARMED"}
    gt_id = client_order_id(entry.intent_id, "gt")
    rows = {r["client_order_id"]: r for r in await order_rows(pool, entry.intent_id)}
    assert rows[gt_id]["status"] == "FILLED" and rows[gt_id]["avg_price"] == tp
    fills = [f for f in await fill_rows(pool, entry.intent_id) if f["client_order_id"] == gt_id]
    assert sum(f["qty"] for f in fills) == Decimal("0.002") and fills[0]["is_maker"] is True
    state = await _hash(rclient, entry.intent_id)
    assert state["state"] == "DISARMED" and state["armed"] == "0" and "fired_at" not in state
    assert await _indexed(rclient, entry.intent_id) == (False, False)
    assert (await stream_statuses(rclient, entry.intent_id))[4:] == [("gt", "FILLED")]
    # The price falling through the stop afterwards sells nothing.
    assert await guard.check(router, "BTCUSDT", sl - 1, sl - 1) == {}
    assert client_order_id(entry.intent_id, "gs") not in rows
    assert await venue_orders(spot, SPOT, client_order_id(entry.intent_id, "gs")) == []


def test_prices_read_from_market_events() -> None:
    book = BookEvent(
        kind="spot", symbol="BTCUSDT", ts_ms=1, recv_ts_ms=1, update_id=1, bid=Decimal(100),
        bid_qty=Decimal(1), ask=Decimal(101), ask_qty=Decimal(1), mid=Decimal("100.5"),
        spread_bp=Decimal(99), bids=((Decimal(100), Decimal(1)),),
        asks=((Decimal(101), Decimal(1)),),
    )  # fmt: skip
    trade = TradeEvent(
        kind="spot", symbol="BTCUSDT", trade_id=1, price=Decimal(99), qty=Decimal(1), side="sell",
        ts_ms=1, recv_ts_ms=1,
    )  # fmt: skip
    assert guard.prices(MarketEvent(book)) == (Decimal(100), Decimal(101))
    assert guard.prices(MarketEvent(trade)) == (Decimal(99), Decimal(99))
    assert guard.prices(MarketEvent(msgspec.structs.replace(book, crossed=True))) is None
