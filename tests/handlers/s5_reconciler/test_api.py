"""``POST /reconcile`` over HTTP (uvicorn on a free port, real servers, the paper venue)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chimera import names
from chimera.config.bundle import ConfigBundle
from chimera.config.reconcile import ReconcileConfig
from chimera.http.server import serve
from chimera.paper.venue import PaperVenue
from chimera_workers.connections import RedisClient
from handlers.api.app import create_app
from handlers.s5_reconciler.api import RECONCILE_PATH, reconcile_mount, topology_symbols
from tests.chimera.paper.venue_fixtures import paper_settings
from tests.handlers.s4_router.support import AUTH, TOKEN, venue

__all__ = ["venue"]  # fixture


@pytest.fixture
async def http(
    venue: PaperVenue, redis_url: str, db_url: str, pool: asyncpg.Pool
) -> AsyncIterator[httpx.AsyncClient]:
    settings = msgspec.structs.replace(paper_settings(venue), timeout_ms=500)
    bundle = ConfigBundle(reconcile=ReconcileConfig(markets=("FUT",)))
    mount = reconcile_mount(config=bundle, venue_settings=settings, symbols=("BTCUSDT",))
    app = create_app(service_token=TOKEN, redis_url=redis_url, database_url=db_url, mounts=[mount])
    async with serve(app) as base, httpx.AsyncClient(base_url=base, headers=AUTH, timeout=10) as c:
        yield c


async def nothing_written(pool: asyncpg.Pool, rclient: RedisClient) -> None:
    assert await pool.fetchval("SELECT count(*) FROM strategy_events") == 0
    assert await pool.fetchval("SELECT count(*) FROM alerts") == 0
    assert await rclient.exists(names.RECON_LAST_RUN_TS) == 0


@pytest.mark.parametrize(
    "payload", [{"scope": "SIDEWAYS"}, {"scope": 3}, {"scope": "ALL", "extra": 1}]
)
async def test_bad_bodies_get_400_naming_the_field_and_write_nothing(
    http: httpx.AsyncClient, pool: asyncpg.Pool, rclient: RedisClient, payload: dict[str, Any]
) -> None:
    response = await http.post(RECONCILE_PATH, json=payload)
    assert response.status_code == 400, response.text
    assert ("scope" if "extra" not in payload else "extra") in response.text
    await nothing_written(pool, rclient)


async def test_reconcile_answers_the_report_and_needs_the_token(
    http: httpx.AsyncClient, pool: asyncpg.Pool, rclient: RedisClient
) -> None:
    anonymous = await http.post(RECONCILE_PATH, json={}, headers={"Authorization": ""})
    assert anonymous.status_code == 401
    await nothing_written(pool, rclient)
    positions = await http.post(RECONCILE_PATH, json={"scope": "POSITIONS"})
    assert positions.status_code == 200 and positions.json()["ok"] is True
    assert positions.json()["positions"]["jaccard"] == 1.0
    assert await rclient.exists(names.RECON_LAST_RUN_TS) == 0  # only ALL marks the run
    response = await http.post(RECONCILE_PATH, json={})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["scope"] == "ALL" and report["ok"] is True and report["jaccard"] == 1.0
    assert report["positions"]["symbols"] == 0 and report["severity"] == "GREEN"
    assert await rclient.get(names.RECON_LAST_RUN_TS) == str(report["ts_ms"]).encode()


def test_topology_symbols_come_from_streams_yaml() -> None:
    assert "BTCUSDT" in topology_symbols("streams.yaml")


bodies = st.one_of(
    st.dictionaries(
        st.sampled_from(["scope", "extra", ""]) | st.text(max_size=6),
        st.none() | st.integers() | st.text(max_size=10) | st.sampled_from(["ALL", "ORDERS"]),
    ),
    st.lists(st.integers(), max_size=3),
    st.text(max_size=20),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
async def test_fuzzed_bodies_never_get_a_5xx_nor_a_partial_write(
    http: httpx.AsyncClient, pool: asyncpg.Pool, body: Any
) -> None:
    before = await pool.fetchval("SELECT count(*) FROM strategy_events")
    response = await http.post(RECONCILE_PATH, json=body)
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert await pool.fetchval("SELECT count(*) FROM strategy_events") == before
