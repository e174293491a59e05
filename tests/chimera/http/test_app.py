"""chimera.http: token guard, error mapping, OpenAPI, and the Redis/PostgreSQL lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import asyncpg
import httpx
import msgspec
import pytest
import redis.asyncio as aioredis
from litestar import get, post
from litestar.params import JSONBody

from chimera.http import (
    Conflict,
    DbDep,
    RedisDep,
    ServiceBusy,
    build_app,
    resolve_service_token,
    service_token_guard,
)
from chimera.http.auth import DEV_SERVICE_TOKEN
from chimera.http.server import serve
from chimera_workers.errors import ConfigError

TOKEN = "test-service-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Order(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1)]
    amount: str
    tags: tuple[str, ...] = ()


class Echo(msgspec.Struct, frozen=True):
    name: str
    amount: str
    stored: int


@post("/internal/echo", guards=[service_token_guard], status_code=200)
async def echo(data: JSONBody[Order], redis: RedisDep, db: DbDep) -> Echo:
    # Writes only after the body decoded: a bad body must leave Redis and PostgreSQL untouched.
    await redis.rpush("echo:calls", data.name)
    await db.execute("INSERT INTO echo_calls (name) VALUES ($1)", data.name)
    return Echo(name=data.name, amount=data.amount, stored=await redis.llen("echo:calls"))


@get("/internal/conflict", guards=[service_token_guard])
async def conflict() -> None:
    raise Conflict("already used", hint="use another id")


@get("/internal/busy", guards=[service_token_guard])
async def busy() -> None:
    raise ServiceBusy("route busy", retry_after_s=3)


@get("/internal/crash", guards=[service_token_guard])
async def crash() -> None:
    raise RuntimeError("secret-internal-detail")


@get("/public/ping")
async def ping() -> dict[str, str]:
    return {"pong": "ok"}


class Client(httpx.AsyncClient):
    """An HTTP client of the served app that can also count what the app wrote."""

    redis_url: str
    db_url: str


@pytest.fixture
async def client(redis_url: str, db_url: str) -> AsyncIterator[Client]:
    conn = await asyncpg.connect(db_url)
    await conn.execute("CREATE TABLE echo_calls (name text NOT NULL)")
    await conn.close()
    app = build_app(
        [echo, conflict, busy, crash, ping],
        service_token=TOKEN,
        redis_url=redis_url,
        database_url=db_url,
    )
    async with serve(app) as base_url, Client(base_url=base_url) as http:
        http.redis_url, http.db_url = redis_url, db_url
        yield http


async def _writes(client: Client) -> tuple[int, int]:
    redis = aioredis.Redis.from_url(client.redis_url)
    conn = await asyncpg.connect(client.db_url)
    try:
        return (
            await redis.llen("echo:calls"),
            await conn.fetchval("SELECT count(*) FROM echo_calls"),
        )
    finally:
        await redis.aclose()
        await conn.close()


async def test_a_good_request_reaches_redis_and_postgres(client: Client) -> None:
    reply = await client.post("/internal/echo", json={"name": "a", "amount": "1.5"}, headers=AUTH)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"name": "a", "amount": "1.5", "stored": 1}
    assert await _writes(client) == (1, 1)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"name": "a", "amount": 5}, "Expected `str`, got `int` - at `$.amount`"),
        ({"name": "", "amount": "1"}, "at `$.name`"),
        ({"amount": "1"}, "name"),
        ({"name": "a", "amount": "1", "extra": 1}, "unknown field `extra`"),
        ({"name": "a", "amount": "1", "tags": [1]}, "at `$.tags[0]`"),
    ],
)
async def test_a_bad_body_is_400_naming_the_field_and_writes_nothing(
    client: Client, body: dict[str, Any], expected: str
) -> None:
    reply = await client.post("/internal/echo", json=body, headers=AUTH)
    assert reply.status_code == 400, reply.text
    payload = reply.json()
    assert payload["status"] == 400
    assert any(expected in line for line in payload["detail"]), payload
    assert await _writes(client) == (0, 0)


async def test_malformed_json_is_400(client: Client) -> None:
    reply = await client.post(
        "/internal/echo",
        content=b"{not json",
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert reply.status_code == 400
    assert await _writes(client) == (0, 0)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"X-Service-Token": TOKEN + "x"},
    ],
)
async def test_missing_or_wrong_token_is_401_before_the_body_is_read(
    client: Client, headers: dict[str, str]
) -> None:
    reply = await client.post("/internal/echo", json={"name": 1}, headers=headers)
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == "Bearer"
    assert "token" in reply.json()["error"]
    assert await _writes(client) == (0, 0)


async def test_x_service_token_header_is_accepted(client: Client) -> None:
    reply = await client.post(
        "/internal/echo", json={"name": "b", "amount": "2"}, headers={"X-Service-Token": TOKEN}
    )
    assert reply.status_code == 200


async def test_public_routes_need_no_token(client: Client) -> None:
    assert (await client.get("/public/ping")).json() == {"pong": "ok"}


async def test_chimera_errors_keep_their_status_message_and_hint(
    client: Client,
) -> None:
    reply = await client.get("/internal/conflict", headers=AUTH)
    assert reply.status_code == 409
    assert reply.json() == {"status": 409, "error": "already used", "hint": "use another id"}
    reply = await client.get("/internal/busy", headers=AUTH)
    assert reply.status_code == 503
    assert reply.headers["retry-after"] == "3"


async def test_an_unexpected_error_is_500_without_internals(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    reply = await client.get("/internal/crash", headers=AUTH)
    assert reply.status_code == 500
    assert reply.json() == {"status": 500, "error": "internal error"}
    assert "secret-internal-detail" not in reply.text
    assert "secret-internal-detail" in caplog.text  # the operator still sees it in the log


async def test_unknown_route_is_404_json(client: Client) -> None:
    reply = await client.get("/nope")
    assert reply.status_code == 404
    assert reply.json()["status"] == 404


async def test_openapi_document_lists_routes_and_body_schema(
    client: Client,
) -> None:
    reply = await client.get("/schema/openapi.json")
    assert reply.status_code == 200
    doc = reply.json()
    assert "/internal/echo" in doc["paths"]
    assert "Order" in doc["components"]["schemas"]


def test_build_app_refuses_a_missing_or_short_token() -> None:
    with pytest.raises(ConfigError, match="at least 16"):
        build_app([ping], service_token="")
    with pytest.raises(ConfigError, match="at least 16"):
        build_app([ping], service_token="short")


def test_resolve_service_token() -> None:
    assert resolve_service_token({"CHIMERA_SERVICE_TOKEN": TOKEN}) == TOKEN
    with pytest.raises(ConfigError, match="CHIMERA_SERVICE_TOKEN is not set"):
        resolve_service_token({})
    assert resolve_service_token({}, dev=True) == DEV_SERVICE_TOKEN
    with pytest.raises(ConfigError):
        resolve_service_token({"CHIMERA_SERVICE_TOKEN": "tiny"}, dev=True)
