"""Flow B2 end to end: features → S3 SPOT decision → S4 market buy, then native OCO or GuardStop.

OCO: the buy FILLED with fills, then one SELL OCO at the venue (take-profit LIMIT_MAKER at the
intent's ``tp_price``, stop-loss STOP_LOSS_LIMIT at ``sl_price``), every leg an ``orders`` row and
``ord:{results}`` entries, S3's concurrency slot taken with no futures margin.
GUARD: the buy, a LIMIT_MAKER take-profit, ``guard:{stop}:BTCUSDT:<intent_id>`` ARMED; a trade
through the stop on ``mkt:events:{spot}:BTCUSDT`` (standing in for S1) cancels the take-profit
first, then sells at market; the guard reads FIRED.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import asyncpg
import msgspec
import pytest

from chimera import names
from chimera.domain.market import MarketEvent, TradeEvent
from chimera.domain.orders import OrderIntent, OrderResult
from chimera.risk import RiskLedger
from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient
from tests.chimera.paper.venue_fixtures import ccxt_exchange
from tests.flows.support import flow_rig, stream_payloads
from tests.handlers.s3_strategy.support import T0, bundle, snapshot
from tests.harness.polling import until

pytestmark = pytest.mark.timeout(180)
_INTENTS = msgspec.json.Decoder(OrderIntent)
_RESULTS = msgspec.json.Decoder(OrderResult)


async def rows_of(pool: asyncpg.Pool, intent_id: str) -> dict[str, asyncpg.Record]:
    rows = await pool.fetch("SELECT * FROM orders WHERE intent_id = $1", intent_id)
    return {r["client_order_id"].rpartition(".")[2]: r for r in rows}


async def spot_entry(
    rclient: RedisClient, pool: asyncpg.Pool, mid: Decimal
) -> tuple[str, OrderIntent]:
    """Publish one BTCUSDT feature snapshot at ``mid``; return its signal id and S3's intent."""
    event = snapshot("BTCUSDT", t0=T0, price=str(mid))
    await rclient.xadd(names.feat_stream("BTCUSDT"), entry_fields(event))  # type: ignore[arg-type]

    async def emitted() -> bool:
        return int(await rclient.xlen(names.ORD_INTENTS)) == 1

    await until(emitted, 30, "S3's SPOT intent")
    (intent,) = await stream_payloads(rclient, names.ORD_INTENTS, _INTENTS)
    decision = json.loads(
        await pool.fetchval("SELECT decision FROM signals WHERE signal_id = $1", event.signal_id)
    )
    assert (decision["action"], decision["reason"]) == ("open", "ENTRY")
    assert Decimal(str(decision["margin_usdt"])) == 0  # spot reserves no futures margin
    assert (await RiskLedger(rclient).usage("BTCUSDT")) == (Decimal(0), 1)
    assert (intent.market, intent.side, intent.purpose) == ("SPOT", "buy", "ENTRY")
    assert intent.tp_price is not None and intent.sl_price is not None
    assert intent.sl_price < mid < intent.tp_price
    return event.signal_id, intent


async def test_b2_spot_entry_with_a_native_oco(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    config = bundle(entry_market="SPOT", spot_exec="OCO", sizing={"notional_usdt": "300"})
    async with flow_rig(tmp_path, rclient, pool, config, ["s3-decide", "s4-intents"]) as rig:
        mid = (await rig.mid("BTC/USDT", "spot")).quantize(Decimal("0.01"))
        _, intent = await spot_entry(rclient, pool, mid)
        assert intent.exec == "OCO"

        async def oco_live() -> bool:
            rows = await rows_of(pool, intent.intent_id)
            return {k: r["status"] for k, r in rows.items() if k in ("ot", "os")} == {
                "ot": "NEW",
                "os": "NEW",
            }

        await until(oco_live, 60, "both OCO legs NEW")
        rows = await rows_of(pool, intent.intent_id)
        buy = rows["mk"]
        assert (buy["status"], buy["side"], buy["order_type"]) == ("FILLED", "buy", "MARKET")
        fills = await pool.fetch(
            "SELECT * FROM fills WHERE client_order_id = $1", buy["client_order_id"]
        )
        assert sum(f["qty"] for f in fills) == buy["filled_qty"] > 0
        for fill in fills:
            assert fill["mid_at_send"] is not None and fill["trade_id"].startswith("SPOT:")
        tp, sl = rows["ot"], rows["os"]
        assert (tp["order_type"], tp["side"], tp["purpose"], tp["price"]) == (
            "LIMIT_MAKER",
            "sell",
            "TP",
            intent.tp_price,
        )
        assert (sl["order_type"], sl["side"], sl["purpose"], sl["trigger_price"]) == (
            "STOP_LOSS_LIMIT",
            "sell",
            "SL",
            intent.sl_price,
        )
        assert tp["qty"] == sl["qty"] <= buy["filled_qty"]
        results = await stream_payloads(rclient, names.ORD_RESULTS, _RESULTS)
        latest = {r.client_order_id: r.status for r in results}
        assert latest[tp["client_order_id"]] == "NEW" and latest[sl["client_order_id"]] == "NEW"
        async with ccxt_exchange(rig.venue, "spot") as exchange:
            open_orders = await exchange.fetch_open_orders("BTC/USDT")  # type: ignore[attr-defined]
        legs = {tp["client_order_id"], sl["client_order_id"]}
        ours = [o for o in open_orders if o["clientOrderId"] in legs]
        assert len(ours) == 2  # both legs open at the venue, in one order list
        assert len({o["info"].get("orderListId") for o in ours}) == 1
        assert ours[0]["info"].get("orderListId") not in (None, -1)


async def test_b2_spot_entry_with_a_guard_stop(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    config = bundle(entry_market="SPOT", spot_exec="GUARD", sizing={"notional_usdt": "300"})
    bindings = ["s3-decide", "s4-intents", "s4-guard"]
    async with flow_rig(tmp_path, rclient, pool, config, bindings) as rig:
        mid = (await rig.mid("BTC/USDT", "spot")).quantize(Decimal("0.01"))
        _, intent = await spot_entry(rclient, pool, mid)
        assert intent.exec == "GUARD"
        key = names.guard_stop_key("BTCUSDT", intent.intent_id)

        async def armed() -> bool:
            return await rclient.hget(key, "state") == b"ARMED"

        await until(armed, 60, "guard armed")
        guard = {k.decode(): v.decode() for k, v in (await rclient.hgetall(key)).items()}
        assert Decimal(guard["trigger"]) == intent.sl_price and int(guard["armed_at"]) > 0
        rows = await rows_of(pool, intent.intent_id)
        assert rows["mk"]["status"] == "FILLED"
        assert (rows["gt"]["order_type"], rows["gt"]["status"], rows["gt"]["price"]) == (
            "LIMIT_MAKER",
            "NEW",
            intent.tp_price,
        )

        # S1's trade events: one above the stop, then the stop traded through.
        assert intent.sl_price is not None
        now = int(time.time() * 1000)
        for trade_id, price in ((1, intent.sl_price + 1), (2, intent.sl_price - 1)):
            trade = TradeEvent(
                kind="spot", symbol="BTCUSDT", trade_id=trade_id, price=price,
                qty=Decimal(1), side="sell", ts_ms=now, recv_ts_ms=now,
            )  # fmt: skip
            stream = names.mkt_stream("spot", "BTCUSDT")
            await rclient.xadd(stream, entry_fields(MarketEvent(trade)))  # type: ignore[arg-type]

        async def fired() -> bool:
            return await rclient.hget(key, "state") == b"FIRED"

        await until(fired, 30, "guard fired")
        rows = await rows_of(pool, intent.intent_id)
        assert rows["gt"]["status"] == "CANCELED"
        assert (rows["gs"]["status"], rows["gs"]["side"], rows["gs"]["order_type"]) == (
            "FILLED",
            "sell",
            "MARKET",
        )
        assert rows["gs"]["filled_qty"] == rows["gt"]["qty"]
        # The take-profit was cancelled before the stop-out was sent (stream order).
        results = [
            (r.client_order_id.rpartition(".")[2], r.status)
            for r in await stream_payloads(rclient, names.ORD_RESULTS, _RESULTS)
        ]
        assert results.index(("gt", "CANCELED")) < results.index(("gs", "PENDING"))
        event = await pool.fetchrow(
            "SELECT * FROM strategy_events WHERE kind = 'GUARD_FIRED' AND ref_id = $1",
            intent.intent_id,
        )
        assert event is not None
