"""Flow B1 after the entry: the venue triggers the stop-loss; S4 records the leg's execution and
cancels its take-profit sibling (``s4-conditionals`` schedule).

Asserted: the SL row FILLED with the executed quantity and average price, its ``fills`` (trade ids
of the order the algo order became), the ``ord:{results}`` FILLED entry S6 consumes, the TP row
CANCELED with a ``strategy_events(CANCEL)`` naming the cause, the venue flat with no trigger
orders left, and S3's B7 reservation released by S6 once the position is flat (spec B7 step 2).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import asyncpg
import msgspec
import pytest

from chimera import names
from chimera.domain.orders import OrderResult
from chimera.risk import RiskLedger
from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient
from tests.chimera.paper.venue_fixtures import ccxt_exchange, print_trade
from tests.flows.support import flow_rig, stream_payloads
from tests.handlers.s3_strategy.support import T0, bundle, snapshot
from tests.harness.polling import until

pytestmark = pytest.mark.timeout(180)


async def test_a_triggered_stop_is_recorded_and_its_take_profit_cancelled(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    config = bundle(sizing={"notional_usdt": "300"})
    bindings = ["s3-decide", "s4-intents", "s6-entry"]
    async with flow_rig(
        tmp_path, rclient, pool, config, bindings, schedules=["s4-conditionals"]
    ) as rig:
        mid = (await rig.mid()).quantize(Decimal("0.1"))
        event = snapshot("BTCUSDT", t0=T0, price=str(mid))
        entry_id = f"{event.signal_id}:entry"
        await rclient.xadd(names.feat_stream("BTCUSDT"), entry_fields(event))  # type: ignore[arg-type]

        async def legs_live() -> bool:
            n = await pool.fetchval(
                "SELECT count(*) FROM orders WHERE purpose IN ('SL', 'TP') AND status = 'NEW'"
            )
            return int(n) == 2

        await until(legs_live, 60, "SL and TP live at the venue")
        entry = await pool.fetchrow("SELECT * FROM orders WHERE intent_id = $1", entry_id)
        sl = await pool.fetchrow("SELECT * FROM orders WHERE intent_id = $1", f"{entry_id}:sl")
        tp = await pool.fetchrow("SELECT * FROM orders WHERE intent_id = $1", f"{entry_id}:tp")

        # The market trades through the stop: the venue turns it into a market sell.
        print_trade(rig.venue, sl["trigger_price"] - 1, kind="perp")

        async def closed() -> bool:
            states = await pool.fetch(
                "SELECT purpose, status FROM orders WHERE purpose IN ('SL', 'TP')"
            )
            return {r["purpose"]: r["status"] for r in states} == {
                "SL": "FILLED",
                "TP": "CANCELED",
            }

        await until(closed, 30, "SL FILLED and TP CANCELED")
        sl_after = await pool.fetchrow(
            "SELECT * FROM orders WHERE client_order_id = $1", sl["client_order_id"]
        )
        assert sl_after["filled_qty"] == entry["filled_qty"]
        assert sl_after["avg_price"] is not None and sl_after["order_type"] == "STOP_MARKET"
        fills = await pool.fetch(
            "SELECT * FROM fills WHERE client_order_id = $1", sl["client_order_id"]
        )
        assert sum(f["qty"] for f in fills) == entry["filled_qty"]
        assert all(f["side"] == "sell" and f["trade_id"].startswith("FUT:") for f in fills)
        vwap = sum(f["price"] * f["qty"] for f in fills) / entry["filled_qty"]
        assert sl_after["avg_price"] == vwap
        results = await stream_payloads(
            rclient, names.ORD_RESULTS, msgspec.json.Decoder(OrderResult)
        )
        sl_results = [r for r in results if r.client_order_id == sl["client_order_id"]]
        assert sl_results[-1].status == "FILLED" and sl_results[-1].purpose == "SL"
        assert sl_results[-1].filled_qty == entry["filled_qty"]
        tp_results = [r for r in results if r.client_order_id == tp["client_order_id"]]
        assert tp_results[-1].status == "CANCELED"
        cancel = await pool.fetchrow(
            "SELECT * FROM strategy_events WHERE kind = 'CANCEL' AND ref_id = $1",
            f"{entry_id}:tp",
        )
        assert cancel is not None and f"{entry_id}:sl filled" in cancel["body"]

        async with ccxt_exchange(rig.venue, "perp") as exchange:
            positions = await exchange.fetch_positions(["BTC/USDT:USDT"])  # type: ignore[attr-defined]
            triggers = await exchange.fetch_open_orders(  # type: ignore[attr-defined]
                "BTC/USDT:USDT", params={"trigger": True}
            )
        assert not [p for p in positions if p["contracts"]]
        assert triggers == []

        async def released() -> bool:
            return (await RiskLedger(rclient).usage("BTCUSDT")) == (Decimal(0), 0)

        await until(released, 30, "B7 reservation released after the stop-out")
        assert not await RiskLedger(rclient).release(event.signal_id, "BTCUSDT")  # once only
