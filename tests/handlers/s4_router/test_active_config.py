"""``POST /orders`` follows the active config bundle's ``router:`` section without a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import msgspec
import pytest

from chimera.config.bundle import load_bundle
from chimera.config.store import load_and_activate
from chimera.http.server import serve
from chimera.paper.venue import PaperVenue
from chimera_workers.connections import RedisClient
from handlers.api.app import create_app
from handlers.s4_router.api import ORDERS_PATH, ActiveRouterConfig, router_mount
from tests.chimera.paper.venue_fixtures import paper_settings
from tests.handlers.s4_router.support import AUTH, TOKEN, new_id, venue

__all__ = ["venue"]  # fixture

REFRESH_MS = 100


@pytest.fixture
async def http(
    venue: PaperVenue, redis_url: str, db_url: str, pool: asyncpg.Pool
) -> AsyncIterator[httpx.AsyncClient]:
    settings = msgspec.structs.replace(paper_settings(venue), timeout_ms=500)
    mount = router_mount(venue_settings=settings, config_refresh_ms=REFRESH_MS)
    app = create_app(service_token=TOKEN, redis_url=redis_url, database_url=db_url, mounts=[mount])
    async with (
        serve(app) as base,
        httpx.AsyncClient(base_url=base, headers=AUTH, timeout=10) as client,
    ):
        yield client


async def _activate(pool: asyncpg.Pool, redis: RedisClient, max_slices: int) -> None:
    bundle = load_bundle()
    router = msgspec.structs.replace(bundle.router, twap_max_slices=max_slices)
    await load_and_activate(
        pool,
        redis,
        msgspec.structs.replace(bundle, router=router),
        name=f"slices-{max_slices}",
        source="test",
        by="test",
    )


def _twap(slices: int) -> dict[str, object]:
    # Queued only (no TWAP tick runs here): nothing reaches the venue.
    return {
        "intent_id": new_id("cfg"), "market": "FUT", "symbol": "BTCUSDT", "side": "buy",
        "qty": "0.010", "exec": "TWAP", "twap_slices": slices, "twap_interval_ms": 60_000,
    }  # fmt: skip


async def test_a_newly_activated_router_section_applies_without_a_restart(
    http: httpx.AsyncClient, pool: asyncpg.Pool, rclient: RedisClient
) -> None:
    # No active bundle: the file's router section (twap_max_slices 100).
    assert (await http.post(ORDERS_PATH, json=_twap(3))).status_code == 202
    await _activate(pool, rclient, 2)
    await asyncio.sleep(REFRESH_MS * 1.5 / 1000)
    refused = await http.post(ORDERS_PATH, json=_twap(3))
    assert refused.status_code == 400 and "$.twap_slices" in refused.text
    assert "between 1 and 2" in refused.text
    await _activate(pool, rclient, 5)
    await asyncio.sleep(REFRESH_MS * 1.5 / 1000)
    assert (await http.post(ORDERS_PATH, json=_twap(3))).status_code == 202


async def test_the_active_config_is_read_again_only_when_its_revision_changes(
    pool: asyncpg.Pool, rclient: RedisClient
) -> None:
    active = ActiveRouterConfig(refresh_ms=0)
    assert (await active.get(pool)).twap_max_slices == load_bundle().router.twap_max_slices
    assert active.rev is None
    await _activate(pool, rclient, 7)
    config = await active.get(pool)
    assert config.twap_max_slices == 7 and active.rev is not None
    assert await active.get(pool) is config  # same revision: the cached section
    cached = ActiveRouterConfig(refresh_ms=60_000)
    first = await cached.get(pool)
    await _activate(pool, rclient, 9)
    assert await cached.get(pool) is first  # within refresh_ms: no read at all
