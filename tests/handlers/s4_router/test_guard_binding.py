"""The ``s4-guard`` binding in a real worker: a GUARD intent from the stream, stopped out by a trade
event on ``mkt:events:{spot}:BTCUSDT``."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import yaml

from chimera import names
from chimera.domain.market import MarketEvent, TradeEvent
from chimera.paper.venue import PaperVenue
from chimera_workers.codec import entry_fields
from chimera_workers.config_ref import ConfigRef
from chimera_workers.connections import RedisClient
from chimera_workers.topology_loader import load_app
from chimera_workers.worker import Worker
from handlers.s4_router.ids import client_order_id
from tests.handlers.s4_router.support import (
    FAST,
    SPOT,
    bracket,
    order_rows,
    spot,
    spot_intent,
    stream_statuses,
    venue,
    venue_orders,
)
from tests.harness.polling import until

__all__ = ["spot", "venue"]  # fixtures

MKT = names.mkt_stream("spot", "BTCUSDT")
TOPOLOGY: dict[str, Any] = {
    "version": 1,
    "streams": [
        {"name": "ord:{intents}", "type": "chimera.domain.orders:OrderIntent"},
        {"name": "ord:{results}", "type": "chimera.domain.orders:OrderResult"},
        {"name": "metrics:events", "type": "chimera.domain.metrics:MetricEvent"},
        {"name": MKT, "type": "chimera.domain.market:MarketEvent"},
    ],
    "resources": [{"name": "s4_router", "factory": "handlers.s4_router.runtime:router_runtime"}],
    "bindings": [
        {
            "name": "s4_intents",
            "stream": "ord:{intents}",
            "handler": "handlers.s4_router.handlers:on_intent",
            "ordering_key": "symbol",
            "block_ms": 100,
        },
        {
            "name": "s4_guard",
            "stream": MKT,
            "handler": "handlers.s4_router.guard:on_market",
            "block_ms": 100,
            "concurrency": 4,
        },
    ],
}


async def test_a_trade_through_the_trigger_on_the_market_stream_stops_the_guard_out(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool, venue: PaperVenue, spot: Any
) -> None:
    path = tmp_path / "streams.yaml"
    path.write_text(yaml.safe_dump(TOPOLOGY, sort_keys=False))
    environ = {"CHIMERA_PAPER_URL": venue.base_url, "CHIMERA_VENUE_TIMEOUT_MS": "500"}
    worker = Worker(
        load_app(path), rclient, consumer="s4-guard-test", db=pool, config=ConfigRef(FAST, 1),
        environ=environ, shutdown_grace_s=5,
    )  # fmt: skip
    await worker.start()
    try:
        tp, sl = await bracket(spot)
        entry = spot_intent("gbind", "GUARD", tp, sl)
        key = names.guard_stop_key("BTCUSDT", entry.intent_id)
        await rclient.xadd(names.ORD_INTENTS, entry_fields(entry))  # type: ignore[arg-type]

        async def armed() -> bool:
            return await rclient.hget(key, "state") == b"ARMED"

        await until(armed, within=10)
        now = int(time.time() * 1000)
        above, below = (
            TradeEvent(
                kind="spot",
                symbol="BTCUSDT",
                trade_id=trade_id,
                price=price,
                qty=Decimal(1),
                side="sell",
                ts_ms=now,
                recv_ts_ms=now,
            )
            for trade_id, price in ((1, sl + 1), (2, sl - Decimal("0.01")))
        )
        for event in (above, below, below):  # the trigger seen twice: one sale
            await rclient.xadd(MKT, entry_fields(MarketEvent(event)))  # type: ignore[arg-type]

        async def fired() -> bool:
            return await rclient.hget(key, "state") == b"FIRED"

        await until(fired, within=10)
        statuses = await stream_statuses(rclient, entry.intent_id)
        assert statuses[4:] == [("gt", "CANCELED"), ("gs", "PENDING"), ("gs", "FILLED")]
        rows = {r["client_order_id"]: r["status"] for r in await order_rows(pool, entry.intent_id)}
        gs_id = client_order_id(entry.intent_id, "gs")
        assert (
            rows[gs_id] == "FILLED" and rows[client_order_id(entry.intent_id, "gt")] == "CANCELED"
        )
        assert len(await venue_orders(spot, SPOT, gs_id)) == 1
    finally:
        await worker.stop()
