"""Run the spec's flows on the project's own topology: real workers, Redis, PostgreSQL, venue.

``FlowRig`` starts the paper venue (trading enabled), activates a config bundle, and runs a
``Worker`` on the root ``streams.yaml`` restricted to the bindings a flow needs, pointed at the
venue through the same environment variables the Procfile's processes read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from chimera.config import store
from chimera.config.bundle import ConfigBundle
from chimera.paper.trading.plugin import make_plugin
from chimera.paper.venue import PaperVenue
from chimera_workers.connections import RedisClient
from chimera_workers.keys import PAYLOAD_FIELD
from chimera_workers.topology_loader import load_app
from chimera_workers.worker import Worker
from handlers.s4_router.handlers import RedisSink
from handlers.s4_router.router import Router
from handlers.s4_router.runtime import RouterRuntime, VenuePool
from handlers.s5_reconciler.reconciler import Reconciler
from tests.chimera.paper.venue_fixtures import (
    ccxt_exchange,
    paper_settings,
    running_venue,
    venue_config,
)

ROOT = Path(__file__).resolve().parents[2]


async def stream_payloads(
    redis: RedisClient, stream: str, decoder: msgspec.json.Decoder[Any]
) -> list[Any]:
    """Return every payload of ``stream``, decoded, oldest first."""
    return [decoder.decode(fields[PAYLOAD_FIELD]) for _, fields in await redis.xrange(stream)]


@dataclass
class FlowRig:
    """A venue, an active bundle and a worker running some of the root topology's bindings."""

    venue: PaperVenue
    worker: Worker
    rev: int

    async def mid(self, symbol: str = "BTC/USDT:USDT", kind: str = "perp") -> Decimal:
        """Return the venue's current mid of ``symbol``."""
        async with ccxt_exchange(self.venue, kind) as exchange:
            book = await exchange.fetch_order_book(symbol, 5)  # type: ignore[attr-defined]
        return (Decimal(str(book["bids"][0][0])) + Decimal(str(book["asks"][0][0]))) / 2


def redis_url_of(redis: RedisClient) -> str:
    """Return the URL of the server ``redis`` talks to (for workers' resource factories)."""
    kw = redis.connection_pool.connection_kwargs
    return f"redis://{kw.get('host', '127.0.0.1')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


@asynccontextmanager
async def paper_router(
    venue: PaperVenue, redis: RedisClient, pool: asyncpg.Pool, config: ConfigBundle
) -> AsyncIterator[Router]:
    """Yield an S4 ``Router`` on ``venue`` (results XADDed to ``ord:{results}``); close after."""
    runtime = RouterRuntime(VenuePool(paper_settings(venue)))
    try:
        yield Router(
            redis=redis, db=pool, runtime=runtime, config=config.router, sink=RedisSink(redis)
        )
    finally:
        await runtime.close()


async def open_gate(
    venue: PaperVenue, redis: RedisClient, pool: asyncpg.Pool, config: ConfigBundle
) -> None:
    """Run the reconcile pass (scope ALL) S5's schedule runs, which the start-up gate waits for."""
    async with paper_router(venue, redis, pool, config) as router:
        report = await Reconciler(router, config.reconcile, (), config.positions).run("ALL")
    assert report.ok, report


@asynccontextmanager
async def flow_rig(
    tmp_path: Path,
    redis: RedisClient,
    pool: asyncpg.Pool,
    config: ConfigBundle,
    bindings: list[str],
    schedules: list[str] | None = None,
    venue_overrides: dict[str, Any] | None = None,
) -> AsyncIterator[FlowRig]:
    """Yield a running ``FlowRig``; stop the worker and the venue after.

    ``venue_overrides`` change the paper venue's config (e.g. ``speed`` near 0 freezes the
    synthetic market after its warm-up, so only the test's printed trades move the price).
    """
    state = tmp_path / "venue"
    settings = venue_config(state_dir=str(state), **(venue_overrides or {}))
    async with running_venue(settings, make_plugin) as venue:
        rev = await store.insert_bundle(pool, config, name="flow")
        await store.activate(pool, redis, rev, by="flow-test")
        app = load_app(ROOT / "streams.yaml")
        environ = {
            "CHIMERA_VENUE": "paper",
            "CHIMERA_PAPER_URL": venue.base_url,
            "CHIMERA_REDIS_URL": redis_url_of(redis),
        }
        worker = Worker(
            app,
            redis,
            consumer="flow",
            bindings=bindings,
            schedules=schedules or [],
            db=pool,
            shutdown_grace_s=5,
            retention=False,
            environ=environ,
        )
        await worker.start()
        await open_gate(venue, redis, pool, config)  # the worker's start closed it
        try:
            yield FlowRig(venue, worker, rev)
        finally:
            await worker.stop()


__all__ = [
    "ROOT",
    "FlowRig",
    "flow_rig",
    "open_gate",
    "paper_router",
    "redis_url_of",
    "stream_payloads",
]
