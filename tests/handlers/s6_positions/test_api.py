"""``POST /positions/manage`` over HTTP (uvicorn on a free port, real servers, the paper venue)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chimera import names
from chimera.http.server import serve
from chimera.paper.venue import PaperVenue
from chimera_workers.connections import RedisClient
from handlers.api.app import create_app
from handlers.s6_positions.api import MANAGE_PATH, positions_mount
from tests.chimera.paper.venue_fixtures import paper_settings
from tests.flows.test_b3_manage import publish_mark
from tests.handlers.s4_router.support import AUTH, TOKEN, venue
from tests.handlers.s6_positions.support import CONFIG, ENTRY, entry_intent, result, store_as_s4

__all__ = ["venue"]  # fixture


@pytest.fixture
async def http(
    venue: PaperVenue, redis_url: str, db_url: str, pool: asyncpg.Pool
) -> AsyncIterator[httpx.AsyncClient]:
    venue_settings = msgspec.structs.replace(paper_settings(venue), timeout_ms=500)
    mount = positions_mount(config=CONFIG, venue_settings=venue_settings)
    app = create_app(service_token=TOKEN, redis_url=redis_url, database_url=db_url, mounts=[mount])
    async with serve(app) as base, httpx.AsyncClient(base_url=base, headers=AUTH, timeout=10) as c:
        yield c


async def nothing_written(pool: asyncpg.Pool, rclient: RedisClient) -> None:
    assert await pool.fetchval("SELECT count(*) FROM positions_snapshots") == 0
    assert await rclient.exists(names.POS_EVENTS) == 0


@pytest.mark.parametrize(
    "payload, field",
    [({"pos_id": 3}, "pos_id"), ({"pos_id": ""}, "pos_id"), ({"extra": 1}, "extra")],
)
async def test_bad_bodies_get_400_naming_the_field_and_write_nothing(
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    rclient: RedisClient,
    payload: dict[str, Any],
    field: str,
) -> None:
    response = await http.post(MANAGE_PATH, json=payload)
    assert response.status_code == 400, response.text
    assert field in response.text
    await nothing_written(pool, rclient)


async def test_a_pass_snapshots_the_open_position_and_needs_the_token(
    http: httpx.AsyncClient, pool: asyncpg.Pool, rclient: RedisClient
) -> None:
    anonymous = await http.post(MANAGE_PATH, json={}, headers={"Authorization": ""})
    assert anonymous.status_code == 401
    await nothing_written(pool, rclient)
    await store_as_s4(pool, entry_intent("MARKET", 1), [result()])
    await publish_mark(rclient, Decimal("50000.0"))
    response = await http.post(MANAGE_PATH, json={"pos_id": ENTRY})
    assert response.status_code == 200, response.text
    report = response.json()
    # No stop covers it (the rows hold none): it gets one at its first-stop price. Opened in
    # 2023 (the fixture's time) and gone nowhere since: STAGNATED, reported once.
    kinds = sorted((e["kind"], e["pos_id"]) for e in report["events"])
    assert kinds == [("STAGNATED", ENTRY), ("STOP_RAISED", ENTRY)]
    assert "STAGNATED" in report["snapshots"][0]["reason"]
    again = (await http.post(MANAGE_PATH, json={"pos_id": ENTRY})).json()
    assert again["events"] == [] and await rclient.xlen(names.POS_EVENTS) == 2
    [snap] = report["snapshots"]
    assert (snap["pos_id"], snap["status"], snap["source"]) == (ENTRY, "OPEN", "API")
    assert Decimal(snap["qty"]) == Decimal("0.003") and Decimal(snap["move_r"]) == 0
    row = await pool.fetchrow(
        "SELECT * FROM positions_snapshots WHERE snapshot_id = $1", snap["snapshot_id"]
    )
    assert row["pos_id"] == ENTRY and row["sl_level"] == 0 and row["source"] == "API"
    assert row["sl_price"] is not None  # the stop S6 placed
    other = await http.post(MANAGE_PATH, json={"pos_id": "no-such:entry"})
    assert other.status_code == 200 and other.json()["snapshots"] == []


bodies = st.one_of(
    st.dictionaries(st.text(max_size=8), st.none() | st.integers() | st.text(max_size=12)),
    st.lists(st.integers(), max_size=3),
    st.text(max_size=20),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
async def test_fuzzed_bodies_never_get_a_5xx(
    http: httpx.AsyncClient, pool: asyncpg.Pool, body: Any
) -> None:
    response = await http.post(MANAGE_PATH, json=body)
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert await pool.fetchval("SELECT count(*) FROM positions_snapshots") == 0
