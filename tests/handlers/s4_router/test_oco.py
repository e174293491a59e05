"""SPOT OCO entries on the paper venue: market buy, one native SELL OCO, child-leg fills."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from chimera import names
from chimera.paper.faults import FaultRule
from chimera.paper.venue import PaperVenue
from chimera.prod_state import KillSwitch, set_kill_switch
from chimera_workers.connections import RedisClient
from handlers.s4_router import guard
from handlers.s4_router.errors import IntentUnprocessable
from handlers.s4_router.ids import client_order_id
from handlers.s4_router.runtime import RouterRuntime
from tests.chimera.paper.venue_fixtures import print_trade
from tests.handlers.s4_router.support import (
    SPOT,
    bracket,
    fill_rows,
    make_router,
    order_rows,
    results,
    runtime,
    spot,
    spot_intent,
    stream_statuses,
    venue,
    venue_orders,
)

__all__ = ["runtime", "spot", "venue"]  # fixtures


async def _index(redis: RedisClient, intent_id: str) -> tuple[float | None, float | None]:
    below = await redis.zscore(names.guard_below_index_key("BTCUSDT"), intent_id)
    above = await redis.zscore(names.guard_above_index_key("BTCUSDT"), intent_id)
    return below, above


async def test_oco_is_placed_natively_and_a_take_profit_fill_expires_the_stop(
    venue: PaperVenue, rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, spot: Any
) -> None:
    tp, sl = await bracket(spot)
    entry = spot_intent("oco", "OCO", tp, sl, signal_id="sig-oco", pos_id="pos-oco")
    router = make_router(rclient, pool, runtime)
    outcome = await router.submit(entry)
    assert outcome.state == "DONE"
    # Hop 1: the rows — the buy filled, both OCO legs resting, each with its purpose.
    mk, os_, ot = await order_rows(pool, entry.intent_id)  # created together: ordered by id
    assert (mk["order_type"], mk["side"], mk["purpose"], mk["status"]) == (
        "MARKET", "buy", "ENTRY", "FILLED",
    )  # fmt: skip
    assert mk["filled_qty"] == Decimal("0.002")
    assert (ot["order_type"], ot["side"], ot["purpose"], ot["status"]) == (
        "LIMIT_MAKER", "sell", "TP", "NEW",
    )  # fmt: skip
    assert ot["price"] == tp and ot["qty"] == Decimal("0.002") and ot["venue_order_id"]
    assert (os_["order_type"], os_["side"], os_["purpose"], os_["status"]) == (
        "STOP_LOSS_LIMIT", "sell", "SL", "NEW",
    )  # fmt: skip
    limit = Decimal(spot.price_to_precision(SPOT, str(sl * Decimal("0.995"))))
    assert os_["trigger_price"] == sl and os_["price"] == limit
    assert ot["signal_id"] == os_["signal_id"] == "sig-oco" and ot["pos_id"] == "pos-oco"
    # Hop 2: the venue holds one OCO list with our ids.
    listed = await spot.privateGetOrderList(
        {"origClientOrderId": client_order_id(entry.intent_id, "ol")}
    )
    assert listed["contingencyType"] == "OCO"
    assert {o["clientOrderId"] for o in listed["orders"]} == {
        ot["client_order_id"],
        os_["client_order_id"],
    }
    # Hop 3: ord:{results} per leg state; the watch indexes hold the intent at its two prices.
    assert await stream_statuses(rclient, entry.intent_id) == [
        ("mk", "PENDING"), ("mk", "FILLED"),
        ("ot", "PENDING"), ("os", "PENDING"), ("ot", "NEW"), ("os", "NEW"),
    ]  # fmt: skip
    assert await _index(rclient, entry.intent_id) == (float(sl), float(tp))
    # The market trades through the take-profit: the venue fills it and expires the stop.
    print_trade(venue, tp + Decimal("1"))
    outcomes = await guard.check(router, "BTCUSDT", tp, tp)
    assert outcomes == {entry.intent_id: "FILLED/EXPIRED"}
    rows = {
        r["client_order_id"].rsplit(".", 1)[1]: r for r in await order_rows(pool, entry.intent_id)
    }
    assert rows["ot"]["status"] == "FILLED" and rows["ot"]["filled_qty"] == Decimal("0.002")
    assert rows["ot"]["avg_price"] == tp and rows["os"]["status"] == "EXPIRED"
    fills = [
        f
        for f in await fill_rows(pool, entry.intent_id)
        if f["client_order_id"] == ot["client_order_id"]
    ]
    assert sum(f["qty"] for f in fills) == Decimal("0.002")
    for fill in fills:
        assert fill["trade_id"].startswith("SPOT:") and fill["side"] == "sell"
        assert fill["price"] == tp and fill["is_maker"] is True
        # Followed by another call than the send: the send-time book is unknown here.
        assert fill["mid_at_send"] is None and fill["slippage_bps"] is None
    assert not [
        f
        for f in await fill_rows(pool, entry.intent_id)
        if f["client_order_id"] == os_["client_order_id"]
    ]
    assert (await stream_statuses(rclient, entry.intent_id))[6:] == [
        ("ot", "FILLED"),
        ("os", "EXPIRED"),
    ]
    assert await _index(rclient, entry.intent_id) == (None, None)
    # Nothing more to follow: the next events find nobody.
    assert await guard.check(router, "BTCUSDT", tp, tp) == {}


async def test_the_same_oco_intent_twice_places_one_oco(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, spot: Any
) -> None:
    tp, sl = await bracket(spot)
    entry = spot_intent("oco2", "OCO", tp, sl)
    router = make_router(rclient, pool, runtime)
    first = await router.submit(entry)
    second = await router.submit(entry)
    assert first.state == second.state == "DONE"
    assert [r.status for r in first.results] == [r.status for r in second.results]
    lists = await spot.privateGetOpenOrderList({})
    ours = [e for e in lists if e["listClientOrderId"] == client_order_id(entry.intent_id, "ol")]
    assert len(ours) == 1
    for leg in ("mk", "ot", "os"):
        assert len(await venue_orders(spot, SPOT, client_order_id(entry.intent_id, leg))) == 1
    assert len(await order_rows(pool, entry.intent_id)) == 3


async def test_oco_send_timeout_is_unknown_then_adopted_by_client_order_id(
    venue: PaperVenue, rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, spot: Any
) -> None:
    venue.faults.arm(
        FaultRule(kind="timeout_after_accept", path_prefix="/api/v3/orderList/oco", method="POST")
    )
    tp, sl = await bracket(spot)
    entry = spot_intent("ocot", "OCO", tp, sl)
    outcome = await make_router(rclient, pool, runtime).submit(entry)
    assert outcome.state == "DONE"
    statuses = await stream_statuses(rclient, entry.intent_id)
    assert [s for s in statuses if s[0] == "ot"] == [
        ("ot", "PENDING"),
        ("ot", "UNKNOWN"),
        ("ot", "NEW"),
    ]
    assert [s for s in statuses if s[0] == "os"] == [
        ("os", "PENDING"),
        ("os", "UNKNOWN"),
        ("os", "NEW"),
    ]
    lists = await spot.privateGetOpenOrderList({})
    assert [e["listClientOrderId"] for e in lists].count(
        client_order_id(entry.intent_id, "ol")
    ) == 1


async def test_kill_switch_refuses_an_oco_entry(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, spot: Any
) -> None:
    await set_kill_switch(rclient, KillSwitch(on=True, reason="test", by="test", ts_ms=1))
    tp, sl = await bracket(spot)
    entry = spot_intent("ocok", "OCO", tp, sl)
    outcome = await make_router(rclient, pool, runtime).submit(entry)
    assert outcome.state == "REFUSED" and outcome.message == "KILL_SWITCH"
    assert await order_rows(pool, entry.intent_id) == []
    (result,) = await results(rclient)
    assert result.status == "REJECTED" and result.message == "KILL_SWITCH"
    assert await venue_orders(spot, SPOT, client_order_id(entry.intent_id, "mk")) == []


@pytest.mark.parametrize("exec_", ["OCO", "GUARD"])
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tp_price": None}, "tp_price"),
        ({"sl_price": None}, "sl_price"),
        ({"tp_price": "below_ask"}, "tp_price"),
        ({"sl_price": "above_bid"}, "sl_price"),
        ({"market": "FUT"}, "market"),
        ({"side": "sell"}, "side"),
    ],
)
async def test_bad_bracket_intents_are_refused_naming_the_field_with_nothing_written(
    rclient: RedisClient,
    pool: asyncpg.Pool,
    runtime: RouterRuntime,
    spot: Any,
    exec_: str,
    change: dict[str, Any],
    field: str,
) -> None:
    tp, sl = await bracket(spot)
    fields = dict(change)
    if fields.get("tp_price") == "below_ask":
        fields["tp_price"] = (await bracket(spot, tp_pct="-1"))[0]
    if fields.get("sl_price") == "above_bid":
        fields["sl_price"] = (await bracket(spot, sl_pct="-1"))[1]
    entry = spot_intent("bad", exec_, tp, sl, **fields)
    with pytest.raises(IntentUnprocessable, match=rf"at `\$\.{field}`") as raised:
        await make_router(rclient, pool, runtime).submit(entry)
    assert raised.value.status_code == 422
    assert await pool.fetchval("SELECT count(*) FROM orders") == 0
    assert await pool.fetchval("SELECT count(*) FROM strategy_events") == 0
    assert await rclient.exists(names.ORD_RESULTS) == 0
