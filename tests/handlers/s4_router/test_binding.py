"""S4 in a real worker: the ``ord:{intents}`` binding, the TWAP schedule, the resource hook."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import asyncpg
import yaml

from chimera import names
from chimera.domain.orders import OrderIntent, OrderResult
from chimera.paper.venue import PaperVenue
from chimera_workers.codec import entry_fields
from chimera_workers.config_ref import ConfigRef
from chimera_workers.connections import RedisClient
from chimera_workers.topology_loader import load_app
from chimera_workers.worker import Worker
from handlers.s4_router.ids import client_order_id
from tests.chimera.paper.venue_fixtures import ccxt_exchange
from tests.handlers.s4_router.support import FAST, flat, intent, results, venue, venue_orders
from tests.harness.polling import until

__all__ = ["venue"]  # fixture

PERP = "BTC/USDT:USDT"

# The stanza the root streams.yaml needs (the lead integrates it), with test-speed timings.
TOPOLOGY: dict[str, Any] = {
    "version": 1,
    "streams": [
        {"name": "ord:{intents}", "type": "chimera.domain.orders:OrderIntent"},
        {"name": "ord:{results}", "type": "chimera.domain.orders:OrderResult"},
        {"name": "metrics:events", "type": "chimera.domain.metrics:MetricEvent"},
    ],
    "resources": [{"name": "s4_router", "factory": "handlers.s4_router.runtime:router_runtime"}],
    "bindings": [
        {
            "name": "s4_intents",
            "stream": "ord:{intents}",
            "handler": "handlers.s4_router.handlers:on_intent",
            "ordering_key": "symbol",
            "block_ms": 100,
            "max_deliveries": 20,
            "retry_backoff_ms": 100,
        }
    ],
    "schedules": [
        {"name": "s4_twap", "handler": "handlers.s4_router.handlers:twap_tick", "interval_ms": 100}
    ],
}


async def _worker(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool, venue: PaperVenue
) -> Worker:
    path = tmp_path / "streams.yaml"
    path.write_text(yaml.safe_dump(TOPOLOGY, sort_keys=False))
    environ = {"CHIMERA_PAPER_URL": venue.base_url, "CHIMERA_VENUE_TIMEOUT_MS": "500"}
    worker = Worker(
        load_app(path), rclient, consumer="s4-test", db=pool, config=ConfigRef(FAST, 1),
        environ=environ, shutdown_grace_s=5,
    )  # fmt: skip
    await worker.start()
    return worker


async def _send(redis: RedisClient, event: OrderIntent) -> None:
    await redis.xadd(names.ORD_INTENTS, entry_fields(event))  # type: ignore[arg-type]


async def _results_of(redis: RedisClient, intent_id: str) -> list[OrderResult]:
    return [r for r in await results(redis) if r.intent_id == intent_id]


async def test_intents_on_the_stream_route_once_and_twap_ticks_place_slices(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool, venue: PaperVenue
) -> None:
    worker = await _worker(tmp_path, rclient, pool, venue)
    try:
        async with ccxt_exchange(venue, "perp") as perp:
            await perp.load_markets()
            await flat(perp)
            entry = intent("bind")
            await _send(rclient, entry)
            await _send(rclient, entry)  # delivered twice

            async def filled() -> bool:
                statuses = [r.status for r in await _results_of(rclient, entry.intent_id)]
                return "FILLED" in statuses

            await until(filled, within=10)

            # Let the second delivery finish too, then check the venue saw one order.
            async def acked() -> bool:
                last = (await rclient.xinfo_stream(names.ORD_INTENTS))["last-generated-id"]
                groups = await rclient.xinfo_groups(names.ORD_INTENTS)
                return all(g["pending"] == 0 and g["last-delivered-id"] == last for g in groups)

            await until(acked, within=10)
            coid = client_order_id(entry.intent_id, "mk")
            assert len(await venue_orders(perp, PERP, coid)) == 1
            invalid = intent("bind-bad", symbol="NOPEUSDT")
            await _send(rclient, invalid)

            async def rejected() -> bool:
                return bool(await _results_of(rclient, invalid.intent_id))

            await until(rejected, within=10)
            (answer,) = await _results_of(rclient, invalid.intent_id)
            assert answer.status == "REJECTED" and "$.symbol" in answer.message
            twap = intent("bind-twap", exec="TWAP", qty="0.004", twap_slices=2,
                          twap_interval_ms=200)  # fmt: skip
            started = time.monotonic()
            await _send(rclient, twap)

            async def sliced() -> bool:
                rows = await _results_of(rclient, twap.intent_id)
                return sum(r.status == "FILLED" for r in rows) == 2

            await until(sliced, within=10)
            assert time.monotonic() - started >= 0.2
            await flat(perp)
    finally:
        await worker.stop()
