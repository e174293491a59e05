"""The ``s5-reconcile`` schedule in a real worker: orphans cancelled, the run marked, and the
start-up gate it opens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import yaml

from chimera import names
from chimera.config.bundle import ConfigBundle
from chimera.config.reconcile import ReconcileConfig
from chimera.paper.venue import PaperVenue
from chimera_workers.config_ref import ConfigRef
from chimera_workers.connections import RedisClient
from chimera_workers.topology_loader import load_app
from chimera_workers.worker import Worker
from handlers.s5_reconciler.gate import RECON_REQUIRED_SINCE, entries_allowed
from tests.chimera.paper.venue_fixtures import ccxt_exchange
from tests.handlers.s4_router.support import flat, venue
from tests.handlers.s5_reconciler.test_reconcile import open_ids, place_orphans
from tests.harness.polling import until

__all__ = ["venue"]  # fixture

# The root streams.yaml's stanza, at test speed.
TOPOLOGY: dict[str, Any] = {
    "version": 1,
    "symbols": ["BTCUSDT"],
    "streams": [{"name": "ord:{results}", "type": "chimera.domain.orders:OrderResult"}],
    "resources": [
        {"name": "s4_router", "factory": "handlers.s4_router.runtime:router_runtime"},
        {"name": "s5_startup_gate", "factory": "handlers.s5_reconciler.gate:startup_gate"},
    ],
    "schedules": [
        {
            "name": "s5-reconcile",
            "handler": "handlers.s5_reconciler.handlers:reconcile_tick",
            "interval_ms": 200,
            "lock_ttl_ms": 5000,
        }
    ],
}


async def test_the_schedule_cancels_orphans_and_marks_the_run(
    tmp_path: Path, redis_url: str, rclient: RedisClient, pool: asyncpg.Pool, venue: PaperVenue
) -> None:
    path = tmp_path / "streams.yaml"
    path.write_text(yaml.safe_dump(TOPOLOGY, sort_keys=False))
    environ = {
        "CHIMERA_PAPER_URL": venue.base_url,
        "CHIMERA_VENUE_TIMEOUT_MS": "500",
        "CHIMERA_REDIS_URL": redis_url,
    }
    bundle = ConfigBundle(reconcile=ReconcileConfig(markets=("FUT",)))
    async with ccxt_exchange(venue, "perp") as perp:
        await perp.load_markets()
        await flat(perp)
        orphans = set(await place_orphans(perp))
        worker = Worker(
            load_app(path), rclient, consumer="s5-test", db=pool, config=ConfigRef(bundle, 1),
            environ=environ, shutdown_grace_s=5,
        )  # fmt: skip
        await worker.start()
        try:
            # Entering the resource closed the entry gate; the schedule's ALL run opens it.
            assert await rclient.exists(RECON_REQUIRED_SINCE)

            async def reconciled() -> bool:
                marked = await rclient.exists(names.RECON_LAST_RUN_TS)
                return bool(marked) and not orphans & await open_ids(perp)

            await until(reconciled, within=10)
            assert await entries_allowed(rclient)
        finally:
            await worker.stop()
        kinds = await pool.fetch("SELECT DISTINCT kind FROM strategy_events")
        assert {k["kind"] for k in kinds} == {"RECONCILE_RUN", "RECONCILE_ORPHAN"}
        assert await pool.fetchval("SELECT count(*) FROM strategy_events WHERE kind = $1",
                                   "RECONCILE_ORPHAN") == 2  # fmt: skip
        await flat(perp)
