"""``POST /orders`` and ``POST /cancel`` over HTTP (uvicorn on a free port, real servers, paper)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest

from chimera import names
from chimera.http.server import serve
from chimera.paper.venue import PaperVenue
from chimera_workers.connections import RedisClient
from handlers.api.app import create_app
from handlers.s4_router.api import CANCEL_PATH, ORDERS_PATH, router_mount
from tests.chimera.paper.venue_fixtures import ccxt_exchange, paper_settings
from tests.handlers.s4_router.support import AUTH, FAST, TOKEN, flat, new_id, venue

__all__ = ["venue"]  # fixture


@pytest.fixture
async def http(
    venue: PaperVenue, redis_url: str, db_url: str, pool: asyncpg.Pool
) -> AsyncIterator[httpx.AsyncClient]:
    settings = msgspec.structs.replace(paper_settings(venue), timeout_ms=500)
    app = create_app(
        service_token=TOKEN, redis_url=redis_url, database_url=db_url,
        mounts=[router_mount(config=FAST, venue_settings=settings)],
    )  # fmt: skip
    async with (
        serve(app) as base,
        httpx.AsyncClient(base_url=base, headers=AUTH, timeout=10) as client,
        ccxt_exchange(venue, "perp") as perp,
    ):
        await perp.load_markets()
        await flat(perp)
        yield client
        await flat(perp)


def body(**fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "intent_id": new_id("api"), "market": "FUT", "symbol": "BTCUSDT", "side": "buy",
        "qty": "0.002",
    }  # fmt: skip
    values.update(fields)
    return values


async def nothing_written(pool: asyncpg.Pool, rclient: RedisClient) -> None:
    assert await pool.fetchval("SELECT count(*) FROM orders") == 0
    assert await pool.fetchval("SELECT count(*) FROM strategy_events") == 0
    assert await rclient.exists(names.ORD_RESULTS, names.TWAP_QUEUE) == 0


async def test_post_orders_routes_and_repeats_without_a_second_order(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    good = body()
    first = await http.post(ORDERS_PATH, json=good)
    assert first.status_code == 200, first.text
    payload = first.json()
    assert payload["state"] == "DONE" and payload["results"][0]["status"] == "FILLED"
    again = await http.post(ORDERS_PATH, json=good)
    assert again.status_code == 200 and again.json()["results"] == payload["results"]
    assert await pool.fetchval("SELECT count(*) FROM orders") == 1
    conflict = await http.post(ORDERS_PATH, json={**good, "qty": "0.003"})
    assert conflict.status_code == 409
    closing = body(side="sell", reduce_only=True, purpose="EXIT")
    cancel = await http.post(CANCEL_PATH, json={"intent_id": good["intent_id"]})
    assert cancel.status_code == 200 and cancel.json()["results"][0]["status"] == "FILLED"
    assert (await http.post(ORDERS_PATH, json=closing)).status_code == 200
    missing = await http.post(CANCEL_PATH, json={"intent_id": "never-seen"})
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        (ORDERS_PATH, body(qty="lots"), "$.qty"),
        (ORDERS_PATH, body(qty="-1"), "$.qty"),
        (ORDERS_PATH, body(market="OPTIONS"), "$.market"),
        (ORDERS_PATH, body(exec="ICEBERG"), "$.exec"),
        (ORDERS_PATH, body(colour="red"), "colour"),
        (ORDERS_PATH, {k: v for k, v in body().items() if k != "side"}, "side"),
        (ORDERS_PATH, body(symbol="btc/usdt"), "$.symbol"),
        (ORDERS_PATH, body(exec="TAKE_PROFIT_MARKET"), "$.trigger_price"),
        (ORDERS_PATH, body(qty="0.0000001"), "$.qty"),
        (ORDERS_PATH, body(intent_id=""), "$.intent_id"),
        (CANCEL_PATH, {"intent_id": "x", "escalate_to_market": "yes"}, "$.escalate_to_market"),
        (CANCEL_PATH, {"intent": "x"}, "intent"),
    ],
)
async def test_bad_bodies_get_400_naming_the_field_and_write_nothing(
    http: httpx.AsyncClient, pool: asyncpg.Pool, rclient: RedisClient, path: str,
    payload: dict[str, Any], field: str,
) -> None:  # fmt: skip
    response = await http.post(path, json=payload)
    assert response.status_code == 400, response.text
    assert field in response.text
    await nothing_written(pool, rclient)


async def test_unsupported_execution_is_422_and_the_token_is_required(
    http: httpx.AsyncClient, pool: asyncpg.Pool, rclient: RedisClient
) -> None:
    response = await http.post(ORDERS_PATH, json=body(exec="ICEBERG"))
    assert response.status_code == 400 and "$.exec" in response.text  # not an ExecStyle at all
    # A bracket without its take-profit cannot be placed: 422 naming the field.
    response = await http.post(ORDERS_PATH, json=body(exec="GUARD", market="SPOT", sl_price="1"))
    assert response.status_code == 422 and "$.tp_price" in response.text
    response = await http.post(
        ORDERS_PATH, json=body(exec="OCO", market="FUT", tp_price="2", sl_price="1")
    )
    assert response.status_code == 422 and "$.market" in response.text
    anonymous = await http.post(ORDERS_PATH, json=body(), headers={"Authorization": ""})
    assert anonymous.status_code == 401
    await nothing_written(pool, rclient)
