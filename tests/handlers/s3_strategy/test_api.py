"""POST /decide over HTTP (uvicorn on a free port, real Redis + PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest

from chimera import names
from chimera.config import store
from chimera.http.server import serve
from chimera.prod_state import KillSwitch, set_kill_switch
from chimera_workers.connections import RedisClient
from handlers.api.app import create_app
from handlers.s3_strategy.api import DECIDE_PATH, strategy_mount
from tests.handlers.s3_strategy.support import bundle, snapshot

TOKEN = "strategy-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def http(
    pool: asyncpg.Pool, rclient: RedisClient, db_url: str, redis_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    rev = await store.insert_bundle(pool, bundle(), name="t")
    await store.activate(pool, rclient, rev, by="t")
    app = create_app(
        service_token=TOKEN, redis_url=redis_url, database_url=db_url, mounts=[strategy_mount()]
    )
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
        yield client


def body(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = msgspec.to_builtins(snapshot())
    raw.update(changes)
    return raw


async def written(pool: asyncpg.Pool, rclient: RedisClient) -> tuple[int, int, int]:
    return (
        await pool.fetchval("SELECT count(*) FROM signals"),
        await rclient.xlen(names.SIG_EVENTS),
        await rclient.xlen(names.ORD_INTENTS),
    )


async def test_decide_opens_once_and_then_returns_the_stored_decision(
    http: httpx.AsyncClient, pool: asyncpg.Pool, rclient: RedisClient
) -> None:
    first = await http.post(DECIDE_PATH, json=body(), headers=AUTH)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["fresh"] is True
    assert answer["decision"]["action"] == "open" and answer["decision"]["config_rev"] == 1
    assert answer["intent"]["intent_id"] == f"{snapshot().signal_id}:entry"
    assert answer["intent"]["qty"] == "0.003"
    again = await http.post(DECIDE_PATH, json=body(), headers=AUTH)
    assert again.status_code == 200
    assert again.json() == {**answer, "fresh": False}
    assert await written(pool, rclient) == (1, 1, 1)


async def test_decide_under_the_kill_switch_skips(
    http: httpx.AsyncClient, pool: asyncpg.Pool, rclient: RedisClient
) -> None:
    await set_kill_switch(rclient, KillSwitch(on=True, by="ops"))
    answer = (await http.post(DECIDE_PATH, json=body(), headers=AUTH)).json()
    assert (answer["decision"]["action"], answer["decision"]["reason"]) == ("skip", "KILL_SWITCH")
    assert answer["intent"] is None
    assert await written(pool, rclient) == (1, 1, 0)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (body(price="abc"), "$.price"),
        (body(price="-1"), "$.price"),
        (body(signal_id="ETHUSDT:1"), "$.signal_id"),
        (body(t0="soon"), "$.t0"),
        (body(surprise=1), "surprise"),
        ({k: v for k, v in body().items() if k != "symbol"}, "symbol"),
        (body(features={"close": 1.0, "natr": "high"}), "$.features.natr"),
        (body(features={"close": 1.0, "dqc": {"stale": "yes"}}), "$.features.dqc.stale"),
        ([1, 2], "$"),
    ],
)
async def test_bad_bodies_are_400_naming_the_field_and_write_nothing(
    http: httpx.AsyncClient, pool: asyncpg.Pool, rclient: RedisClient, payload: Any, field: str
) -> None:
    response = await http.post(DECIDE_PATH, json=payload, headers=AUTH)
    assert response.status_code == 400, response.text
    assert field in response.text
    assert await written(pool, rclient) == (0, 0, 0)


async def test_no_token_is_401(
    http: httpx.AsyncClient, pool: asyncpg.Pool, rclient: RedisClient
) -> None:
    response = await http.post(DECIDE_PATH, json=body())
    assert response.status_code == 401
    assert await written(pool, rclient) == (0, 0, 0)


async def test_malformed_json_is_400(http: httpx.AsyncClient) -> None:
    response = await http.post(
        DECIDE_PATH, content=b"{not json", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
