"""POST /xchg/treasury/transfer over HTTP (uvicorn on a free port, real Redis + PostgreSQL).

Bodies, tokens, status codes and the OpenAPI document; the venue here is the flow double, since
none of these cases depends on it (the paper-venue acceptance is test_treasury_paper.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis

from chimera.http.server import serve
from chimera.names import OPS_EVENTS
from handlers.api.app import create_app
from handlers.s1_connectors.treasury_api import TRANSFER_PATH, treasury_mount
from tests.handlers.s1_connectors.treasury_support import (
    AUTH,
    POLICY,
    TOKEN,
    LedgerVenue,
    create_schema,
    row_counts,
    table_states,
)

GOOD = {
    "transfer_id": "tr-1",
    "asset": "USDT",
    "amount": "250.5",
    "from_account": "SPOT",
    "to_account": "FUTURES",
    "requested_by": "s6",
    "reason": "futures margin top-up",
}


class Api(msgspec.Struct):
    http: httpx.AsyncClient
    venue: LedgerVenue
    redis_url: str
    db_url: str


@pytest.fixture
async def api(redis_url: str, db_url: str) -> AsyncIterator[Api]:
    await create_schema(db_url)
    venue = LedgerVenue()
    app = create_app(
        service_token=TOKEN, redis_url=redis_url, database_url=db_url,
        mounts=[treasury_mount(policy=POLICY, venue=venue)],
    )  # fmt: skip
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as http:
        yield Api(http, venue, redis_url, db_url)


async def _stream_length(redis_url: str) -> int:
    redis = aioredis.Redis.from_url(redis_url)
    try:
        return int(await redis.xlen(OPS_EVENTS))
    finally:
        await redis.aclose()


async def test_a_transfer_answers_the_spec_response(api: Api) -> None:
    reply = await api.http.post(TRANSFER_PATH, json=GOOD, headers=AUTH)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "TransferID": "tr-1",
        "Result": "SUCCEEDED",
        "Message": "transferred (venue tranId 1000)",
    }
    assert (await table_states(api.db_url, "tr-1"))[0] == "SUCCEEDED"
    assert await _stream_length(api.redis_url) == 3


async def test_the_idempotency_header_may_repeat_the_transfer_id(api: Api) -> None:
    headers = {**AUTH, "Idempotency-Key": "tr-1"}
    first = await api.http.post(TRANSFER_PATH, json=GOOD, headers=headers)
    second = await api.http.post(TRANSFER_PATH, json=GOOD, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert api.venue.submit_calls == 1


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"amount": 250.5}, "Expected `str`, got `float` - at `$.amount`"),
        ({"amount": "1.123456789"}, "at `$.amount`"),
        ({"amount": "0"}, "amount must be greater than 0 - at `$.amount`"),
        ({"amount": "-5"}, "at `$.amount`"),
        ({"from_account": "MARGIN"}, "at `$.from_account`"),
        ({"to_account": "SPOT"}, "to_account must differ from from_account"),
        ({"asset": "usdt"}, "at `$.asset`"),
        ({"transfer_id": ""}, "at `$.transfer_id`"),
        ({"requested_by": None}, "at `$.requested_by`"),
        ({"surprise": True}, "unknown field `surprise`"),
        ({"reason": "x" * 501}, "at `$.reason`"),
    ],
)
async def test_a_bad_body_is_400_naming_the_field_and_writes_nothing(
    api: Api, change: dict[str, Any], expected: str
) -> None:
    reply = await api.http.post(TRANSFER_PATH, json={**GOOD, **change}, headers=AUTH)
    assert reply.status_code == 400, reply.text
    assert any(expected in line for line in reply.json()["detail"]), reply.json()
    assert await row_counts(api.db_url) == (0, 0)
    assert await _stream_length(api.redis_url) == 0
    assert api.venue.submit_calls == 0


async def test_a_missing_field_is_named(api: Api) -> None:
    body = {k: v for k, v in GOOD.items() if k != "asset"}
    reply = await api.http.post(TRANSFER_PATH, json=body, headers=AUTH)
    assert reply.status_code == 400
    assert any("`asset`" in line for line in reply.json()["detail"])
    assert await row_counts(api.db_url) == (0, 0)


async def test_an_idempotency_key_other_than_the_transfer_id_is_400(api: Api) -> None:
    reply = await api.http.post(
        TRANSFER_PATH, json=GOOD, headers={**AUTH, "Idempotency-Key": "other"}
    )
    assert reply.status_code == 400
    assert "does not match transfer_id" in reply.json()["error"]
    assert await row_counts(api.db_url) == (0, 0)
    assert api.venue.submit_calls == 0


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer not-the-service-token"}, {"X-Service-Token": "x"}]
)
async def test_missing_or_wrong_token_is_401(api: Api, headers: dict[str, str]) -> None:
    reply = await api.http.post(TRANSFER_PATH, json=GOOD, headers=headers)
    assert reply.status_code == 401
    assert await row_counts(api.db_url) == (0, 0)


async def test_policy_refusals_are_422_with_a_clear_message(api: Api) -> None:
    over = {**GOOD, "transfer_id": "big", "amount": "5000"}
    reply = await api.http.post(TRANSFER_PATH, json=over, headers=AUTH)
    assert reply.status_code == 422
    assert reply.json()["Result"] == "REJECTED"
    assert "exceeds the per-transfer limit of 1000 USDT" in reply.json()["Message"]
    off = {**GOOD, "transfer_id": "eth", "asset": "ETH"}
    reply = await api.http.post(TRANSFER_PATH, json=off, headers=AUTH)
    assert reply.status_code == 422
    assert "route ETH SPOT->FUTURES is not whitelisted" in reply.json()["Message"]
    assert api.venue.submit_calls == 0


async def test_reusing_an_id_for_another_transfer_is_409(api: Api) -> None:
    await api.http.post(TRANSFER_PATH, json=GOOD, headers=AUTH)
    reply = await api.http.post(TRANSFER_PATH, json={**GOOD, "amount": "1"}, headers=AUTH)
    assert reply.status_code == 409
    assert "already used for a different transfer" in reply.json()["error"]


async def test_unknown_is_202_and_resolves_on_retry(api: Api) -> None:
    api.venue.faults.append("timeout_after_accept")
    first = await api.http.post(TRANSFER_PATH, json=GOOD, headers=AUTH)
    assert first.status_code == 202 and first.json()["Result"] == "UNKNOWN"
    second = await api.http.post(TRANSFER_PATH, json=GOOD, headers=AUTH)
    assert second.status_code == 200 and second.json()["Result"] == "SUCCEEDED"
    assert api.venue.submit_calls == 1


async def test_openapi_lists_the_endpoint_and_its_structs(api: Api) -> None:
    reply = await api.http.get("/schema/openapi.json")
    assert reply.status_code == 200
    doc = reply.json()
    operation = doc["paths"][TRANSFER_PATH]["post"]
    assert {"200", "202", "400", "401", "409", "422", "503"} <= set(operation["responses"])
    schemas = doc["components"]["schemas"]
    assert set(schemas["TransferResponse"]["properties"]) == {"TransferID", "Result", "Message"}
    assert "amount" in schemas["TransferRequest"]["properties"]
    assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"])
