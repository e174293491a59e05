"""Flow B1 end to end: features → S3 decision → S4 market entry → S6 SL/TP → S4 reduce-only legs.

Every hop's writes the spec lists are asserted: ``signals.decision``, ``sig:events``, the intent
on ``ord:{intents}``, the B7 reservation keys, ``orders`` (FILLED entry, NEW legs), ``fills`` with
``mid_at_send``/``top3``/``slippage_bps``, ``ord:{results}``, ``strategy_events(TP_SL_PLACED)``,
the pinned protection prices, and the venue's own view (position and two conditional orders).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import asyncpg
import msgspec
import pytest

from chimera import names
from chimera.domain.orders import OrderIntent, OrderResult
from chimera.domain.signals import Decision
from chimera.protection import protective_prices
from chimera.risk import margin_units
from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient
from tests.chimera.paper.venue_fixtures import ccxt_exchange
from tests.flows.support import flow_rig, stream_payloads
from tests.handlers.s3_strategy.support import T0, bundle, snapshot
from tests.harness.polling import until

pytestmark = pytest.mark.timeout(180)
B1_BINDINGS = ["s3-decide", "s4-intents", "s6-entry"]


async def test_b1_fut_entry_with_stop_loss_and_take_profit(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    config = bundle(sizing={"notional_usdt": "300", "qty_step": {"BTCUSDT": "0.001"}})
    async with flow_rig(tmp_path, rclient, pool, config, B1_BINDINGS) as rig:
        mid = (await rig.mid()).quantize(Decimal("0.1"))
        event = snapshot("BTCUSDT", t0=T0, price=str(mid))
        entry_id = f"{event.signal_id}:entry"
        await rclient.xadd(names.feat_stream("BTCUSDT"), entry_fields(event))  # type: ignore[arg-type]

        async def protected() -> bool:
            placed = await pool.fetchval(
                "SELECT count(*) FROM strategy_events WHERE kind = 'TP_SL_PLACED'"
            )
            return int(placed) == 2

        await until(protected, 60, "two TP_SL_PLACED events")

        # Hop 1 — S3: the decision row, sig:events, the intent and the B7 reservation.
        row = await pool.fetchrow("SELECT * FROM signals WHERE signal_id = $1", event.signal_id)
        assert row is not None
        decision = json.loads(row["decision"])
        assert (decision["action"], decision["reason"]) == ("open", "ENTRY")
        assert decision["config_rev"] == rig.rev and decision["model_p"] > 0.5
        (published,) = await stream_payloads(
            rclient, names.SIG_EVENTS, msgspec.json.Decoder(Decision)
        )
        assert published.signal_id == event.signal_id and published.action == "open"
        intents = {
            i.intent_id: i
            for i in await stream_payloads(
                rclient, names.ORD_INTENTS, msgspec.json.Decoder(OrderIntent)
            )
        }
        assert set(intents) == {entry_id, f"{entry_id}:sl", f"{entry_id}:tp"}
        entry = intents[entry_id]
        assert (entry.market, entry.side, entry.exec, entry.purpose) == (
            "FUT",
            "buy",
            "MARKET",
            "ENTRY",
        )
        qty = entry.qty
        assert qty > 0 and qty % Decimal("0.001") == 0
        # The budget key holds whole cents, rounded up (chimera/risk.py).
        reserved = int(await rclient.get(names.RISK_FUT_MARGIN_INUSE))
        assert reserved == margin_units(Decimal(str(decision["margin_usdt"]))) > 0
        assert await rclient.get(names.risk_concurrency_key("BTCUSDT")) == b"1"

        # Hop 2 — S4: the entry order FILLED, its fills with execution quality.
        orders = {
            r["client_order_id"]: r
            for r in await pool.fetch("SELECT * FROM orders ORDER BY created_ts_ms")
        }
        assert len(orders) == 3
        (entry_row,) = [r for r in orders.values() if r["intent_id"] == entry_id]
        assert (entry_row["status"], entry_row["order_type"], entry_row["purpose"]) == (
            "FILLED",
            "MARKET",
            "ENTRY",
        )
        assert entry_row["filled_qty"] == qty and entry_row["signal_id"] == event.signal_id
        fills = await pool.fetch(
            "SELECT * FROM fills WHERE client_order_id = $1", entry_row["client_order_id"]
        )
        assert fills and sum(f["qty"] for f in fills) == qty
        for fill in fills:
            assert fill["mid_at_send"] is not None and fill["slippage_bps"] is not None
            assert len(json.loads(fill["top3"])) == 3
            expected = (fill["price"] - fill["mid_at_send"]) / fill["mid_at_send"] * 10_000
            assert abs(fill["slippage_bps"] - expected) <= Decimal("0.00005")  # stored to 4 dp
        vwap = sum(f["price"] * f["qty"] for f in fills) / qty
        assert entry_row["avg_price"] == vwap

        # Hop 3 — S6: SL/TP priced from the fill (no ATR yet: the configured percentages),
        # pinned in pos:{protection}:<entry>.
        avg_price = entry_row["avg_price"]
        sl_price, tp_price = protective_prices("buy", avg_price, None, config.positions)
        pinned = await rclient.get(names.entry_protection_key(entry_id))
        assert pinned == f"{sl_price}|{tp_price}".encode()
        sl, tp = intents[f"{entry_id}:sl"], intents[f"{entry_id}:tp"]
        assert (sl.exec, sl.side, sl.reduce_only, sl.trigger_price, sl.qty) == (
            "STOP_MARKET",
            "sell",
            True,
            sl_price,
            qty,
        )
        assert (tp.exec, tp.side, tp.reduce_only, tp.trigger_price, tp.qty) == (
            "TAKE_PROFIT_MARKET",
            "sell",
            True,
            tp_price,
            qty,
        )

        # Hop 4 — S4: two reduce-only conditional orders held by the venue.
        legs = {r["purpose"]: r for r in orders.values() if r["intent_id"] != entry_id}
        assert {p: (r["order_type"], r["status"], r["reduce_only"]) for p, r in legs.items()} == {
            "SL": ("STOP_MARKET", "NEW", True),
            "TP": ("TAKE_PROFIT_MARKET", "NEW", True),
        }
        assert legs["SL"]["trigger_price"] == sl_price and legs["TP"]["trigger_price"] == tp_price
        # (S5's RECONCILE_* rows come from the pass that opened the start-up gate.)
        events = await pool.fetch(
            "SELECT event_id, kind, ref_id FROM strategy_events "
            "WHERE kind NOT LIKE 'RECONCILE%' ORDER BY event_id"
        )
        kinds = sorted(e["kind"] for e in events)
        assert kinds == ["ORDER_INTENT"] * 3 + ["TP_SL_PLACED"] * 2
        results = await stream_payloads(
            rclient, names.ORD_RESULTS, msgspec.json.Decoder(OrderResult)
        )
        final = {r.client_order_id: r.status for r in results}
        assert final == {cid: r["status"] for cid, r in orders.items()}

        # The venue agrees: one long position of qty, two reduce-only trigger orders.
        async with ccxt_exchange(rig.venue, "perp") as exchange:
            positions = await exchange.fetch_positions(["BTC/USDT:USDT"])  # type: ignore[attr-defined]
            triggers = await exchange.fetch_open_orders(  # type: ignore[attr-defined]
                "BTC/USDT:USDT", params={"trigger": True}
            )
        (position,) = [p for p in positions if p["contracts"]]
        assert Decimal(str(position["contracts"])) == qty and position["side"] == "long"
        assert sorted(Decimal(str(o["triggerPrice"])) for o in triggers) == [sl_price, tp_price]
        assert all(o["reduceOnly"] for o in triggers)
