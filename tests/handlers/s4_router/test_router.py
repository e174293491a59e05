"""S4's ``Router`` on the paper venue (trading plugin) with real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from chimera import names
from chimera.domain.metrics import MetricEvent
from chimera.paper.faults import FaultRule
from chimera.paper.venue import PaperVenue
from chimera.prod_state import KillSwitch, set_kill_switch
from chimera_workers.connections import RedisClient
from chimera_workers.keys import PAYLOAD_FIELD
from handlers.s4_router.errors import IntentConflict, IntentInvalid, IntentUnprocessable
from handlers.s4_router.ids import client_order_id
from handlers.s4_router.router import CancelRequest
from handlers.s4_router.runtime import RouterRuntime
from tests.handlers.s4_router.support import (
    fill_rows,
    intent,
    make_router,
    order_rows,
    perp,
    results,
    runtime,
    venue,
    venue_orders,
)

__all__ = ["perp", "runtime", "venue"]  # fixtures

PERP = "BTC/USDT:USDT"


async def metrics(redis: RedisClient) -> list[MetricEvent]:
    import msgspec

    decoder = msgspec.json.Decoder(MetricEvent)
    return [decoder.decode(f[PAYLOAD_FIELD]) for _, f in await redis.xrange(names.METRICS_EVENTS)]


async def test_market_order_fills_and_writes_orders_fills_and_results(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    entry = intent("mkt", signal_id="sig-1", pos_id="pos-1")
    outcome = await make_router(rclient, pool, runtime).submit(entry)
    assert outcome.state == "DONE"
    (result,) = outcome.results
    assert result.status == "FILLED" and result.filled_qty == Decimal("0.002")
    coid = client_order_id(entry.intent_id, "mk")
    assert result.client_order_id == coid and result.order_type == "MARKET"
    (row,) = await order_rows(pool, entry.intent_id)
    assert row["status"] == "FILLED" and row["venue_order_id"] == result.venue_order_id
    assert row["avg_price"] == result.avg_price and row["signal_id"] == "sig-1"
    fills = await fill_rows(pool, entry.intent_id)
    assert sum(f["qty"] for f in fills) == Decimal("0.002")
    for fill in fills:
        assert fill["trade_id"].startswith("FUT:") and fill["client_order_id"] == coid
        assert fill["mid_at_send"] > 0 and fill["slippage_bps"] is not None
        top3 = json.loads(fill["top3"])
        assert 1 <= len(top3) <= 3 and Decimal(top3[0][0]) >= fill["mid_at_send"]
        assert fill["slippage_bps"] == (
            (fill["price"] - fill["mid_at_send"]) / fill["mid_at_send"] * 10_000
        ).quantize(Decimal("0.0001"))
    assert [(r.client_order_id, r.status) for r in await results(rclient)] == [
        (coid, "PENDING"),
        (coid, "FILLED"),
    ]
    assert [m.name for m in await metrics(rclient)] == ["s4.router_p95"]
    positions = await perp.fetch_positions([PERP])
    assert positions[0]["contracts"] == pytest.approx(0.002)


async def test_the_same_intent_twice_makes_one_order(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    router = make_router(rclient, pool, runtime)
    entry = intent("dup")
    first, second = await asyncio.gather(router.submit(entry), router.submit(entry))
    third = await router.submit(entry)
    assert first.results == second.results == third.results
    coid = client_order_id(entry.intent_id, "mk")
    assert len(await venue_orders(perp, PERP, coid)) == 1
    assert len(await order_rows(pool, entry.intent_id)) == 1
    with pytest.raises(IntentConflict):
        await router.submit(intent("dup", intent_id=entry.intent_id, qty=Decimal("0.003")))


async def test_timeout_after_accept_is_unknown_then_resolved_by_client_order_id(
    venue: PaperVenue, rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    venue.faults.arm(
        FaultRule(kind="timeout_after_accept", path_prefix="/fapi/v1/order", method="POST")
    )
    entry = intent("taa")
    outcome = await make_router(rclient, pool, runtime).submit(entry)
    assert outcome.state == "DONE" and outcome.results[0].status == "FILLED"
    coid = client_order_id(entry.intent_id, "mk")
    statuses = [r.status for r in await results(rclient) if r.client_order_id == coid]
    assert statuses == ["PENDING", "UNKNOWN", "FILLED"]
    assert len(await venue_orders(perp, PERP, coid)) == 1
    (row,) = await order_rows(pool, entry.intent_id)
    assert row["status"] == "FILLED" and row["filled_qty"] == Decimal("0.002")
    assert sum(f["qty"] for f in await fill_rows(pool, entry.intent_id)) == Decimal("0.002")


async def test_timeout_before_accept_is_resent_only_after_the_window(
    venue: PaperVenue, rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    venue.faults.arm(
        FaultRule(kind="timeout_before_accept", path_prefix="/fapi/v1/order", method="POST")
    )
    router = make_router(rclient, pool, runtime)
    entry = intent("tba")
    assert (await router.submit(entry)).state == "UNKNOWN"
    assert (await router.submit(entry)).state == "UNKNOWN"  # absent, but too early to re-send
    coid = client_order_id(entry.intent_id, "mk")
    assert await venue_orders(perp, PERP, coid) == []
    await asyncio.sleep(0.7)
    outcome = await router.submit(entry)
    assert outcome.state == "DONE" and outcome.results[0].status == "FILLED"
    assert len(await venue_orders(perp, PERP, coid)) == 1


async def test_kill_switch_refuses_entries_and_lets_reduce_only_pass(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    router = make_router(rclient, pool, runtime)
    assert (await router.submit(intent("open"))).state == "DONE"
    await set_kill_switch(rclient, KillSwitch(on=True, by="test", reason="drill"))
    entry = intent("ks")
    refused = await router.submit(entry)
    assert refused.state == "REFUSED" and refused.results[0].status == "REJECTED"
    assert refused.results[0].message == "KILL_SWITCH"
    assert await order_rows(pool, entry.intent_id) == []
    closing = intent("ks-exit", side="sell", reduce_only=True, purpose="EXIT")
    closed = await router.submit(closing)
    assert closed.state == "DONE" and closed.results[0].status == "FILLED"
    await set_kill_switch(rclient, KillSwitch(on=False))
    assert (await router.submit(entry)).state == "REFUSED"  # the refusal is kept
    assert await perp.fetch_positions([PERP]) == []


async def test_maker_times_out_then_takes_the_rest(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    book = await perp.fetch_order_book(PERP, 5)
    far = Decimal(str(book["bids"][0][0])) * Decimal("0.98")  # caps the maker off the touch
    entry = intent("mt", exec="MAKER_TAKER", limit_price=far)
    started = time.monotonic()
    outcome = await make_router(rclient, pool, runtime).submit(entry)
    assert time.monotonic() - started >= 0.3  # rested for maker_wait_ms
    maker, taker = outcome.results
    assert maker.order_type == "LIMIT_MAKER" and maker.status == "CANCELED"
    assert taker.order_type == "MARKET" and taker.status == "FILLED"
    assert taker.filled_qty == Decimal("0.002") and outcome.state == "DONE"
    rows = await order_rows(pool, entry.intent_id)
    assert [r["status"] for r in rows] == ["CANCELED", "FILLED"]
    assert rows[0]["price"] == Decimal(perp.price_to_precision(PERP, str(far)))
    assert runtime.metrics.maker_timeouts == 1
    timeouts = [m for m in await metrics(rclient) if m.name == "s4.maker_timeout_count"]
    assert [(m.value, m.labels) for m in timeouts] == [(1.0, {"symbol": "BTCUSDT"})]


async def test_twap_places_its_slices_on_schedule(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    router = make_router(rclient, pool, runtime)
    entry = intent("twap", exec="TWAP", qty=Decimal("0.006"), twap_slices=3, twap_interval_ms=300)
    queued = await router.submit(entry)
    assert queued.state == "WORKING" and queued.results == ()
    scores = [s for _, s in await rclient.zrange(names.TWAP_QUEUE, 0, -1, withscores=True)]
    assert [int(s - scores[0]) for s in scores] == [0, 300, 600]
    assert await router.twap_tick() == 1
    assert len(await order_rows(pool, entry.intent_id)) == 1  # the others are not due yet
    deadline = time.monotonic() + 5
    while await rclient.zcard(names.TWAP_QUEUE) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        await router.twap_tick()
    rows = await order_rows(pool, entry.intent_id)
    assert [r["client_order_id"][-3:] for r in rows] == [".s0", ".s1", ".s2"]
    assert all(r["status"] == "FILLED" and r["qty"] == Decimal("0.002") for r in rows)
    # A slice is never placed before its due time; a slow first tick may place s0 late, so the
    # gaps between placements can be shorter than the interval (the schedule is absolute).
    assert all(r["created_ts_ms"] >= due for r, due in zip(rows, scores, strict=True))
    done = await router.submit(entry)
    assert done.state == "DONE" and len(done.results) == 3


async def test_tp_sl_legs_are_conditional_orders_and_cancel_removes_one(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    router = make_router(rclient, pool, runtime)
    await router.submit(intent("entry", qty=Decimal("0.004")))
    book = await perp.fetch_order_book(PERP, 5)
    bid, ask = Decimal(str(book["bids"][0][0])), Decimal(str(book["asks"][0][0]))
    legs = {
        "SL": intent("sl", exec="STOP_MARKET", side="sell", qty=Decimal("0.004"),
                     trigger_price=bid * Decimal("0.8"), purpose="SL", reduce_only=True,
                     pos_id="pos-9"),
        "TP": intent("tp", exec="TAKE_PROFIT_MARKET", side="sell", qty=Decimal("0.004"),
                     trigger_price=ask * Decimal("1.2"), purpose="TP", reduce_only=True,
                     pos_id="pos-9"),
    }  # fmt: skip
    for leg in legs.values():
        outcome = await router.submit(leg)
        assert outcome.state == "DONE" and outcome.results[0].status == "NEW"
        assert outcome.results[0].reduce_only
    listed = await perp.fetch_open_orders(PERP, params={"trigger": True})
    coids = {client_order_id(leg.intent_id, "cd") for leg in legs.values()}
    assert coids <= {o["clientOrderId"] for o in listed}
    events = await pool.fetch(
        "SELECT ref_id, body FROM strategy_events WHERE kind = 'TP_SL_PLACED' ORDER BY ref_id"
    )
    assert {e["ref_id"] for e in events} == {leg.intent_id for leg in legs.values()}
    assert all(json.loads(e["body"])["pos_id"] == "pos-9" for e in events)
    cancelled = await router.cancel(CancelRequest(legs["SL"].intent_id, reason="step up"))
    assert [r.status for r in cancelled.results] == ["CANCELED"]
    remaining = {
        o["clientOrderId"] for o in await perp.fetch_open_orders(PERP, params={"trigger": True})
    }
    assert client_order_id(legs["SL"].intent_id, "cd") not in remaining
    assert client_order_id(legs["TP"].intent_id, "cd") in remaining
    kinds = await pool.fetch("SELECT kind FROM strategy_events WHERE ref_id = $1",
                             legs["SL"].intent_id)  # fmt: skip
    assert {k["kind"] for k in kinds} >= {"TP_SL_PLACED", "CANCEL"}


async def test_cancel_unqueues_slices_and_escalates_the_rest_to_market(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    router = make_router(rclient, pool, runtime)
    await router.submit(intent("long", qty=Decimal("0.004")))
    exit_ = intent("exit", exec="TWAP", side="sell", qty=Decimal("0.004"), twap_slices=2,
                   twap_interval_ms=60_000, reduce_only=True, purpose="EXIT")  # fmt: skip
    await router.submit(exit_)
    assert await router.twap_tick() == 1
    outcome = await router.cancel(CancelRequest(exit_.intent_id, escalate_to_market=True))
    assert await rclient.zcard(names.TWAP_QUEUE) == 0
    assert [
        (r.client_order_id.rpartition(".")[2], r.status, r.filled_qty) for r in outcome.results
    ] == [("s0", "FILLED", Decimal("0.002")), ("x", "FILLED", Decimal("0.002"))]
    assert outcome.results[-1].reduce_only
    assert await perp.fetch_positions([PERP]) == []
    again = await router.cancel(CancelRequest(exit_.intent_id, escalate_to_market=True))
    assert again.results == outcome.results  # nothing sent twice


async def test_unroutable_intents_write_nothing(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime
) -> None:
    router = make_router(rclient, pool, runtime)
    cases: list[tuple[Any, type[Exception], str]] = [
        (intent("bad", qty=Decimal("0.00001")), IntentInvalid, "$.qty"),
        (intent("bad", symbol="NOPEUSDT"), IntentInvalid, "$.symbol"),
        (intent("bad", exec="STOP_MARKET"), IntentInvalid, "$.trigger_price"),
        (intent("bad", exec="OCO", market="SPOT"), IntentUnprocessable, "$.tp_price"),
        (intent("bad", exec="TWAP", twap_slices=0), IntentInvalid, "$.twap_slices"),
    ]
    for bad, error, field in cases:
        with pytest.raises(error, match=field.replace("$", r"\$")):
            await router.submit(bad)
    assert await pool.fetchval("SELECT count(*) FROM orders") == 0
    assert await pool.fetchval("SELECT count(*) FROM strategy_events") == 0
    assert await rclient.xlen(names.ORD_RESULTS) == 0
