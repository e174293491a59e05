"""Flow B3 on the paper venue: lock ladder, partial take-profit, add-on, then the stop-out.

A FUT entry goes through S3 → S4 → S6 (its own SL/TP legs); then S6's manage pass runs as the
price moves (the venue's synthetic market is frozen after its warm-up, so only the trades the
test prints move it, and the test publishes the same price as S1's mark):

1. +0.6 R: the stop rises to level 1 (entry - 0.5 R): the new stop is live before the entry's
   own stop is cancelled; ``pos:{sl}:level``, a snapshot, STOP_RAISED.
2. +1.6 R: a quarter is taken at market (``pos:{tp}:ladder``), half the entry is added
   (``pos:{adds}``, its margin reserved) and the stop moves to breakeven, re-sized to the whole
   position. Another pass at the same price changes nothing.
3. The price falls through breakeven: the stop closes everything, S6 releases the entry's and
   the add-on's reservations, cancels the leftover take-profit, writes the CLOSED snapshot and
   emits EXIT.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import asyncpg
import msgspec
import pytest

from chimera import names
from chimera.config.bundle import ConfigBundle
from chimera.domain.market import BookEvent, MarketEvent
from chimera.domain.positions import PositionEvent
from chimera.risk import RiskLedger
from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient
from handlers.s4_router.router import Router
from handlers.s6_positions.tick import manage_positions
from tests.chimera.paper.venue_fixtures import ccxt_exchange, print_trade
from tests.flows.support import FlowRig, flow_rig, paper_router, stream_payloads
from tests.handlers.s3_strategy.support import T0, bundle, snapshot
from tests.harness.polling import until

pytestmark = pytest.mark.timeout(180)

FROZEN = {"speed": 1e-6}
MANAGE = {
    "stop_ladder": [["0.5", "-0.5"], ["1", "0"], ["3", "2"]],
    "take_profit_ladder": [["1.5", "0.25"]],
    "add_ons": {"max_adds": 1, "at_r": ["1.2"], "size_fraction": "0.5"},
}
TICK = Decimal("0.1")


def managed_bundle() -> ConfigBundle:
    raw = msgspec.to_builtins(bundle(sizing={"notional_usdt": "600"}))
    raw["positions"]["manage"] = MANAGE
    return msgspec.convert(raw, ConfigBundle)


async def publish_mark(redis: RedisClient, price: Decimal) -> None:
    """Publish ``price`` as S1's latest perp book (the mark S6 reads)."""
    book = BookEvent(
        kind="perp",
        symbol="BTCUSDT",
        ts_ms=1,
        recv_ts_ms=1,
        update_id=1,
        bid=price - TICK,
        bid_qty=Decimal(1),
        ask=price + TICK,
        ask_qty=Decimal(1),
        mid=price,
        spread_bp=Decimal("0.04"),
        bids=(),
        asks=(),
    )
    stream = names.mkt_stream("perp", "BTCUSDT")
    await redis.xadd(stream, entry_fields(MarketEvent(book)))  # type: ignore[arg-type]


async def orders_of(pool: asyncpg.Pool, pos_id: str) -> dict[str, asyncpg.Record]:
    rows = await pool.fetch(
        "SELECT * FROM orders WHERE intent_id = $1 OR pos_id = $1 ORDER BY created_ts_ms", pos_id
    )
    return {r["intent_id"]: r for r in rows}


@pytest.fixture
async def rig(tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool) -> AsyncIterator[FlowRig]:
    bindings = ["s3-decide", "s4-intents", "s6-entry"]
    async with flow_rig(
        tmp_path,
        rclient,
        pool,
        managed_bundle(),
        bindings,
        schedules=["s4-conditionals"],
        venue_overrides=FROZEN,
    ) as running:
        yield running


@pytest.fixture
async def router(rig: FlowRig, rclient: RedisClient, pool: asyncpg.Pool) -> AsyncIterator[Router]:
    async with paper_router(rig.venue, rclient, pool, managed_bundle()) as running:
        yield running


async def test_ladder_partial_take_profit_add_on_and_stop_out(
    rig: FlowRig, rclient: RedisClient, pool: asyncpg.Pool, router: Router
) -> None:
    config = managed_bundle()
    mid = (await rig.mid()).quantize(TICK)
    event = snapshot("BTCUSDT", t0=T0, price=str(mid))
    pos_id = f"{event.signal_id}:entry"
    await rclient.xadd(names.feat_stream("BTCUSDT"), entry_fields(event))  # type: ignore[arg-type]

    async def protected() -> bool:
        n = await pool.fetchval(
            "SELECT count(*) FROM orders WHERE pos_id = $1 AND status = 'NEW'", pos_id
        )
        return int(n) == 2

    await until(protected, 60, "the entry's SL and TP live at the venue")
    rows = await orders_of(pool, pos_id)
    entry_price: Decimal = rows[pos_id]["avg_price"]
    qty: Decimal = rows[pos_id]["filled_qty"]
    first_stop: Decimal = rows[f"{pos_id}:sl"]["trigger_price"]
    opened = await pool.fetchrow(
        "SELECT * FROM positions_snapshots WHERE snapshot_id = $1",
        f"{pos_id}:EVENT:{rows[pos_id]['client_order_id']}",
    )
    assert (opened["status"], opened["qty"], opened["source"]) == ("OPEN", qty, "EVENT")
    r = entry_price - first_stop
    assert r > 0

    async def move_to(move_r: str) -> Decimal:
        price = (entry_price + r * Decimal(move_r)).quantize(TICK)
        print_trade(rig.venue, price, kind="perp")
        await publish_mark(rclient, price)
        return price

    async def manage() -> tuple[list, list[PositionEvent]]:  # type: ignore[type-arg]
        return await manage_positions(router, pool, config, rig.rev, "TICK")

    # 1. +0.6 R: level 1, stop at entry - 0.5 R; the entry's own stop cancelled after.
    await move_to("0.6")
    snaps, events = await manage()
    level1 = (entry_price - r / 2).quantize(TICK, rounding=ROUND_FLOOR)
    assert [(s.pos_id, s.sl_level, s.sl_price, s.qty) for s in snaps] == [(pos_id, 1, level1, qty)]
    assert snaps[0].move_r is not None and snaps[0].move_r > Decimal("0.5")
    assert [e.kind for e in events] == ["STOP_RAISED"]
    rows = await orders_of(pool, pos_id)
    assert rows[f"{pos_id}:sl"]["status"] == "CANCELED"
    assert rows[f"{pos_id}:tp"]["status"] == "NEW"
    stop1 = rows[f"{pos_id}:sl@1.1"]
    assert (stop1["status"], stop1["trigger_price"], stop1["qty"]) == ("NEW", level1, qty)
    assert stop1["reduce_only"] and stop1["order_type"] == "STOP_MARKET"
    assert stop1["created_ts_ms"] >= rows[f"{pos_id}:sl"]["created_ts_ms"]
    assert await rclient.hget(names.pos_sl_level_key(pos_id), "pending") is None

    # 2. +1.6 R: a quarter taken, half the entry added, the stop to breakeven for all of it.
    await move_to("1.6")
    snaps, events = await manage()
    assert sorted(e.kind for e in events) == ["ADD_ON", "PARTIAL_TP", "STOP_RAISED"]
    rows = await orders_of(pool, pos_id)
    taken = rows[f"{pos_id}:ptp@0"]
    assert taken["status"] == "FILLED" and taken["reduce_only"]
    assert taken["purpose"] == "REDUCE" and taken["filled_qty"] > 0
    added = rows[f"{pos_id}:add@0"]
    assert added["status"] == "FILLED" and added["purpose"] == "ADD"
    assert added["filled_qty"] == (qty / 2).quantize(Decimal("0.001"), rounding=ROUND_FLOOR)
    open_qty = qty + added["filled_qty"] - taken["filled_qty"]
    stops = [k for k in rows if k.startswith(f"{pos_id}:sl@2.")]
    assert len(stops) == 1
    stop2 = rows[stops[0]]
    breakeven = entry_price.quantize(TICK, rounding=ROUND_FLOOR)
    assert (stop2["status"], stop2["trigger_price"], stop2["qty"]) == (
        "NEW",
        breakeven,
        open_qty,
    )
    assert rows[f"{pos_id}:sl@1.1"]["status"] == "CANCELED"
    assert int(await rclient.get(names.pos_tp_ladder_key(pos_id))) == 1
    assert int(await rclient.get(names.pos_adds_key(pos_id))) == 1
    snap = snaps[0]
    assert (snap.sl_level, snap.tp_step, snap.add_on_count, snap.qty) == (2, 1, 1, open_qty)
    margin, slots = await RiskLedger(rclient).usage("BTCUSDT")
    assert slots == 1 and margin > 0
    assert int(await rclient.get(names.risk_add_on_slot_key("BTCUSDT"))) == 1

    # The same price again: nothing new is sent.
    before = len(await orders_of(pool, pos_id))
    snaps, events = await manage()
    assert events == [] and len(await orders_of(pool, pos_id)) == before
    assert snaps[0].sl_level == 2

    # 3. Through breakeven: the stop closes everything; S6 settles the position once.
    print_trade(rig.venue, breakeven - 1, kind="perp")

    async def exited() -> bool:
        found = await stream_payloads(
            rclient, names.POS_EVENTS, msgspec.json.Decoder(PositionEvent)
        )
        return any(e.kind == "EXIT" and e.pos_id == pos_id for e in found)

    await until(exited, 60, "EXIT on pos:events")
    rows = await orders_of(pool, pos_id)
    assert rows[stops[0]]["status"] == "FILLED"
    assert rows[stops[0]]["filled_qty"] == open_qty
    assert rows[f"{pos_id}:tp"]["status"] == "CANCELED"
    assert await RiskLedger(rclient).usage("BTCUSDT") == (Decimal(0), 0)
    assert int(await rclient.get(names.risk_add_on_slot_key("BTCUSDT"))) == 0
    closed = await pool.fetchrow(
        "SELECT * FROM positions_snapshots WHERE snapshot_id = $1", f"{pos_id}:CLOSED"
    )
    assert closed["status"] == "CLOSED" and closed["qty"] == 0
    assert closed["opened_qty"] == qty + added["filled_qty"]
    for key in (names.pos_sl_level_key(pos_id), names.pos_adds_key(pos_id)):
        assert not await rclient.exists(key)
    async with ccxt_exchange(rig.venue, "perp") as exchange:
        positions = await exchange.fetch_positions(["BTC/USDT:USDT"])  # type: ignore[attr-defined]
        triggers = await exchange.fetch_open_orders(  # type: ignore[attr-defined]
            "BTC/USDT:USDT", params={"trigger": True}
        )
    assert not [p for p in positions if p["contracts"]]
    assert triggers == []
    count = await pool.fetchval(
        "SELECT count(*) FROM positions_snapshots WHERE pos_id = $1", pos_id
    )
    assert count >= 4  # three passes and the close
