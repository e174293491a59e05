"""B8 end to end on the paper venue: S6 files, a second operator approves over HTTP, S1 moves it.

The app is the production wiring (S1's ``treasury_mount`` on ccxt's spot ``binance`` pointed at
the paper venue, plus S12's ``gateway_mount``) on uvicorn; balances are read back from the venue
through ccxt. Every row, event, ``ops:events`` entry and the route lock are checked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest

from chimera.config.bundle import ConfigBundle
from chimera.config.treasury import TreasuryPolicy
from chimera.http.server import serve
from chimera.paper.control import PaperControl
from chimera.paper.faults import FaultRule
from chimera.paper.venue import PaperVenue
from chimera_workers.connections import RedisClient
from chimera_workers.locks import FencedLock
from handlers.api.app import create_app
from handlers.s1_connectors.treasury_api import treasury_mount
from handlers.s4_router.runtime import RouterRuntime
from handlers.s6_positions.treasury import treasury_tick
from handlers.s12_gateway.api import BASE_PATH, gateway_mount
from tests.chimera.paper.venue_fixtures import paper_settings
from tests.handlers.s1_connectors.treasury_support import AUTH as SERVICE_AUTH
from tests.handlers.s1_connectors.treasury_support import TOKEN, audits
from tests.handlers.s4_router.support import runtime, venue
from tests.handlers.s12_gateway.support import (
    REGISTRY,
    ROUTE_LOCK,
    alerts,
    auth,
    events,
    free,
    lock_gone,
    policy,
    tick_context,
    transfers,
    unemitted,
)

__all__ = ["runtime", "venue"]  # fixtures


class Api(msgspec.Struct):
    http: httpx.AsyncClient
    pool: asyncpg.Pool
    redis: RedisClient
    runtime: RouterRuntime


def serve_app(db_url: str, redis_url: str, venue: PaperVenue, active: TreasuryPolicy) -> Any:
    settings = msgspec.structs.replace(paper_settings(venue), timeout_ms=2_000)
    return create_app(
        service_token=TOKEN, redis_url=redis_url, database_url=db_url,
        mounts=[treasury_mount(policy=active, venue_settings=settings),
                gateway_mount(registry=REGISTRY)],
    )  # fmt: skip


@pytest.fixture
async def api(
    db_url: str, redis_url: str, pool: asyncpg.Pool, rclient: RedisClient, venue: PaperVenue,
    runtime: RouterRuntime,
) -> AsyncIterator[Api]:  # fmt: skip
    app = serve_app(db_url, redis_url, venue, policy("manual"))
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        yield Api(http, pool, rclient, runtime)


def body(transfer_id: str, amount: str = "100", **kw: Any) -> dict[str, Any]:
    return {
        "transfer_id": transfer_id, "asset": "USDT", "amount": amount, "from_account": "SPOT",
        "to_account": "FUTURES", **kw,
    }  # fmt: skip


async def snapshot(api: Api) -> tuple[Any, ...]:
    rows = await transfers(api.pool)
    trail = await api.pool.fetch("SELECT * FROM treasury_transfer_events ORDER BY id")
    return rows, [dict(r) for r in trail], await api.redis.xlen("ops:events")


async def test_b8_manual_approval_by_a_second_operator(api: Api, tmp_path: Path) -> None:
    before = await free(api.runtime)
    bundle = ConfigBundle(treasury=policy("manual", before.futures + Decimal("120.5")))
    await treasury_tick(tick_context(tmp_path, api.redis, api.pool, api.runtime, bundle))
    [filed] = await transfers(api.pool)
    transfer_id = filed["transfer_id"]
    shown = await api.http.get(f"{BASE_PATH}/{transfer_id}", headers=auth("carol"))
    assert shown.status_code == 200 and shown.json()["state"] == "PENDING_APPROVAL"
    assert shown.json()["requested_by"] == "s6-treasury" and shown.json()["amount"] == "120.5"

    reply = await api.http.post(f"{BASE_PATH}/{transfer_id}/approve", headers=auth("alice"))
    assert reply.status_code == 200, reply.text
    view = reply.json()
    assert (view["state"], view["approved_by"]) == ("SUCCEEDED", "alice")
    assert view["approved_ms"] >= filed["created_ms"] and view["venue_tran_id"]

    [row] = await transfers(api.pool)
    assert (row["state"], row["requested_by"], row["approved_by"]) == (
        "SUCCEEDED", "s6-treasury", "alice",
    )  # fmt: skip
    assert row["amount"] == Decimal("120.5") and row["submit_count"] == 1
    assert await events(api.pool, transfer_id) == [
        ("-", "PENDING_APPROVAL", "s6-treasury"),
        ("PENDING_APPROVAL", "PENDING_APPROVAL", "alice"),
        ("PENDING_APPROVAL", "PENDING", "s1_connectors"),
        ("PENDING", "SUBMITTED", "s1_connectors"),
        ("SUBMITTED", "SUCCEEDED", "s1_connectors"),
    ]
    trail = await audits(api.redis)
    assert [(a.seq, a.from_state, a.to_state, a.actor) for a in trail] == [
        (1, None, "PENDING_APPROVAL", "s6-treasury"),
        (2, "PENDING_APPROVAL", "PENDING_APPROVAL", "alice"),
        (3, "PENDING_APPROVAL", "PENDING", "s1_connectors"),
        (4, "PENDING", "SUBMITTED", "s1_connectors"),
        (5, "SUBMITTED", "SUCCEEDED", "s1_connectors"),
    ]
    assert trail[2].message == "approved by alice"
    assert {a.transfer_id for a in trail} == {transfer_id}
    assert await unemitted(api.pool) == 0
    assert await lock_gone(api.redis)
    after = await free(api.runtime)
    assert after.spot == before.spot - Decimal("120.5")
    assert after.futures == before.futures + Decimal("120.5")
    # Approving again (same approver) replays; another operator is refused.
    again = await api.http.post(f"{BASE_PATH}/{transfer_id}/approve", headers=auth("alice"))
    assert again.status_code == 200 and again.json() == view
    other = await api.http.post(f"{BASE_PATH}/{transfer_id}/approve", headers=auth("bob"))
    assert other.status_code == 409 and "already approved by alice" in other.json()["error"]
    assert await free(api.runtime) == after


async def test_self_approval_is_refused_and_changes_nothing(api: Api) -> None:
    before = await free(api.runtime)
    filed = await api.http.post(BASE_PATH, json=body("op-1", "75"), headers=auth("alice"))
    assert filed.status_code == 201, filed.text
    assert (filed.json()["state"], filed.json()["requested_by"]) == ("PENDING_APPROVAL", "alice")
    state = await snapshot(api)
    refused = await api.http.post(f"{BASE_PATH}/op-1/approve", headers=auth("alice"))
    assert refused.status_code == 403
    assert refused.json()["error"] == (
        "operator alice requested transfer op-1 and cannot approve it"
    )
    assert await snapshot(api) == state
    assert await free(api.runtime) == before
    done = await api.http.post(f"{BASE_PATH}/op-1/approve", headers=auth("bob"))
    assert done.status_code == 200 and done.json()["state"] == "SUCCEEDED"
    assert (await free(api.runtime)).futures == before.futures + Decimal("75")
    assert [e[2] for e in await events(api.pool, "op-1")] == [
        "alice", "bob", "s1_connectors", "s1_connectors", "s1_connectors",
    ]  # fmt: skip


async def test_the_table_refuses_self_approval_too(api: Api) -> None:
    await api.http.post(BASE_PATH, json=body("op-2"), headers=auth("alice"))
    with pytest.raises(asyncpg.CheckViolationError):
        await api.pool.execute(
            "UPDATE treasury_transfers SET approved_by = requested_by WHERE transfer_id = 'op-2'"
        )


async def test_an_approved_request_over_the_limit_is_rejected(api: Api) -> None:
    before = await free(api.runtime)
    await api.http.post(BASE_PATH, json=body("big", "1000.5"), headers=auth("alice"))
    reply = await api.http.post(f"{BASE_PATH}/big/approve", headers=auth("bob"))
    assert reply.status_code == 200, reply.text
    assert reply.json()["state"] == "REJECTED"
    assert reply.json()["message"] == (
        "refused: amount 1000.5 USDT exceeds the per-transfer limit of 1000 USDT"
    )
    assert [(e[0], e[1]) for e in await events(api.pool, "big")] == [
        ("-", "PENDING_APPROVAL"),
        ("PENDING_APPROVAL", "PENDING_APPROVAL"),
        ("PENDING_APPROVAL", "REJECTED"),
    ]
    [alert] = await alerts(api.pool)
    assert (alert["kind"], alert["ref_id"]) == ("TREASURY_REJECTED", "big")
    assert await free(api.runtime) == before
    assert await api.redis.xlen("ops:events") == 3


async def test_the_daily_limit_counts_at_approval(api: Api) -> None:
    for tid in ("d-1", "d-2"):
        await api.http.post(BASE_PATH, json=body(tid, "800"), headers=auth("carol"))
    first = await api.http.post(f"{BASE_PATH}/d-1/approve", headers=auth("bob"))
    second = await api.http.post(f"{BASE_PATH}/d-2/approve", headers=auth("bob"))
    assert first.json()["state"] == "SUCCEEDED"
    assert second.json()["state"] == "REJECTED"
    assert "over the daily limit of 1500 USDT (800 already used)" in second.json()["message"]


async def test_reject_then_nothing_more(api: Api) -> None:
    before = await free(api.runtime)
    await api.http.post(BASE_PATH, json=body("r-1"), headers=auth("alice"))
    rejected = await api.http.post(
        f"{BASE_PATH}/r-1/reject", json={"reason": "not needed"}, headers=auth("bob")
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["state"] == "REJECTED"
    assert rejected.json()["message"] == "rejected by bob: not needed"
    late = await api.http.post(f"{BASE_PATH}/r-1/approve", headers=auth("carol"))
    assert late.status_code == 409 and "is REJECTED" in late.json()["error"]
    twice = await api.http.post(f"{BASE_PATH}/r-1/reject", headers=auth("carol"))
    assert twice.status_code == 409
    assert await events(api.pool, "r-1") == [
        ("-", "PENDING_APPROVAL", "alice"), ("PENDING_APPROVAL", "REJECTED", "bob"),
    ]  # fmt: skip
    # The requester may withdraw their own request (a reject without a body).
    await api.http.post(BASE_PATH, json=body("r-2"), headers=auth("alice"))
    withdrawn = await api.http.post(f"{BASE_PATH}/r-2/reject", headers=auth("alice"))
    assert withdrawn.status_code == 200 and withdrawn.json()["message"] == "rejected by alice"
    assert await free(api.runtime) == before
    assert await api.redis.xlen("ops:events") == 4


async def test_unknown_ids_and_repeats(api: Api) -> None:
    for method, path in (("GET", "nope"), ("POST", "nope/approve"), ("POST", "nope/reject")):
        reply = await api.http.request(method, f"{BASE_PATH}/{path}", headers=auth("bob"))
        assert reply.status_code == 404, reply.text
        assert reply.json()["error"] == "no treasury transfer 'nope'"
    bad = await api.http.get(f"{BASE_PATH}/-bad", headers=auth("bob"))
    assert bad.status_code == 400
    first = await api.http.post(BASE_PATH, json=body("x-1", reason="margin"), headers=auth("bob"))
    again = await api.http.post(
        BASE_PATH,
        json=body("x-1", reason="margin"),
        headers={**auth("bob"), "Idempotency-Key": "x-1"},
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    changed = await api.http.post(BASE_PATH, json=body("x-1", "101"), headers=auth("bob"))
    assert changed.status_code == 409 and "amount '100' vs '101'" in changed.json()["error"]
    other = await api.http.post(BASE_PATH, json=body("x-1", reason="margin"), headers=auth("alice"))
    assert other.status_code == 409 and "requested_by 'bob' vs 'alice'" in other.json()["error"]
    mismatch = await api.http.post(
        BASE_PATH, json=body("x-2"), headers={**auth("bob"), "Idempotency-Key": "x-3"}
    )
    assert mismatch.status_code == 400
    assert len(await transfers(api.pool)) == 1 and await api.redis.xlen("ops:events") == 1


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing operator token (Authorization: Bearer <token>)"),
        ({"Authorization": "Bearer not-an-operator-token"}, "unknown operator token"),
        (SERVICE_AUTH, "unknown operator token"),  # the service token is not an identity
        ({"X-Operator": "alice"}, "missing operator token (Authorization: Bearer <token>)"),
    ],
)
async def test_bad_tokens_are_401_and_write_nothing(
    api: Api, headers: dict[str, str], message: str
) -> None:
    await api.http.post(BASE_PATH, json=body("t-1"), headers=auth("alice"))
    state = await snapshot(api)
    calls = [
        ("POST", BASE_PATH, body("t-2")), ("POST", f"{BASE_PATH}/t-1/approve", None),
        ("POST", f"{BASE_PATH}/t-1/reject", None), ("GET", f"{BASE_PATH}/t-1", None),
    ]  # fmt: skip
    for method, path, payload in calls:
        reply = await api.http.request(method, path, json=payload, headers=headers)
        assert reply.status_code == 401, reply.text
        assert reply.json()["error"] == message
        assert reply.headers["www-authenticate"] == "Bearer"
    assert await snapshot(api) == state


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"amount": 12.5}, "Expected `str`, got `float` - at `$.amount`"),
        ({"amount": "0"}, "amount must be greater than 0 - at `$.amount`"),
        ({"amount": "1.123456789"}, "at `$.amount`"),
        ({"from_account": "MARGIN"}, "at `$.from_account`"),
        ({"to_account": "SPOT"}, "to_account must differ from from_account"),
        ({"asset": "usdt"}, "at `$.asset`"),
        ({"transfer_id": ""}, "at `$.transfer_id`"),
        ({"requested_by": "bob"}, "unknown field `requested_by`"),
        ({"reason": "x" * 501}, "at `$.reason`"),
    ],
)
async def test_a_bad_body_is_400_naming_the_field(
    api: Api, change: dict[str, Any], expected: str
) -> None:
    reply = await api.http.post(BASE_PATH, json={**body("b-1"), **change}, headers=auth("bob"))
    assert reply.status_code == 400, reply.text
    assert any(expected in line for line in reply.json()["detail"]), reply.json()
    assert await transfers(api.pool) == [] and await api.redis.xlen("ops:events") == 0


async def test_the_endpoints_are_in_the_openapi_document(api: Api) -> None:
    paths = (await api.http.get("/schema/openapi.json")).json()["paths"]
    assert {BASE_PATH, BASE_PATH + "/{transfer_id}", BASE_PATH + "/{transfer_id}/approve",
            BASE_PATH + "/{transfer_id}/reject"} <= set(paths)  # fmt: skip


async def test_a_busy_route_is_503_and_writes_nothing(api: Api) -> None:
    await api.http.post(BASE_PATH, json=body("busy-1"), headers=auth("alice"))
    state = await snapshot(api)
    lock = FencedLock(api.redis, ROUTE_LOCK, ttl_ms=5_000)
    token = await lock.acquire()
    assert token is not None
    try:
        filed = await api.http.post(BASE_PATH, json=body("busy-2"), headers=auth("alice"))
        approved = await api.http.post(f"{BASE_PATH}/busy-1/approve", headers=auth("bob"))
        rejected = await api.http.post(f"{BASE_PATH}/busy-1/reject", headers=auth("bob"))
    finally:
        await lock.release(token)
    for reply in (filed, approved, rejected):
        assert reply.status_code == 503, reply.text
        assert reply.headers["retry-after"] == "1"
    assert await snapshot(api) == state


async def test_an_approval_s1_cannot_run_now_is_resumed_by_the_tick(
    api: Api, venue: PaperVenue, tmp_path: Path
) -> None:
    before = await free(api.runtime)
    await api.http.post(BASE_PATH, json=body("late", "12"), headers=auth("carol"))
    async with PaperControl(venue.base_url) as control:
        await control.arm_fault(FaultRule(kind="http_5xx", path_prefix="/api/v3/time"))
    reply = await api.http.post(f"{BASE_PATH}/late/approve", headers=auth("bob"))
    assert reply.status_code == 202, reply.text
    assert (reply.json()["state"], reply.json()["approved_by"]) == ("PENDING", "bob")
    assert await free(api.runtime) == before
    bundle = ConfigBundle(treasury=policy("manual", Decimal(0)))
    await treasury_tick(tick_context(tmp_path, api.redis, api.pool, api.runtime, bundle))
    [row] = await transfers(api.pool)
    assert row["state"] == "SUCCEEDED" and row["approved_by"] == "bob"
    assert (await free(api.runtime)).futures == before.futures + Decimal("12")


async def test_operators_list_what_awaits_approval(api: Api, tmp_path: Path) -> None:
    before = await free(api.runtime)
    bundle = ConfigBundle(treasury=policy("manual", before.futures + Decimal("1")))
    await treasury_tick(tick_context(tmp_path, api.redis, api.pool, api.runtime, bundle))
    await api.http.post(BASE_PATH, json=body("l-1", from_account="FUTURES", to_account="SPOT"),
                        headers=auth("alice"))  # fmt: skip
    await api.http.post(f"{BASE_PATH}/l-1/reject", headers=auth("alice"))
    waiting = await api.http.get(BASE_PATH, params={"state": "PENDING_APPROVAL"},
                                 headers=auth("bob"))  # fmt: skip
    assert waiting.status_code == 200, waiting.text
    [item] = waiting.json()
    assert (item["requested_by"], item["amount"]) == ("s6-treasury", "1")
    everything = await api.http.get(BASE_PATH, headers=auth("bob"))
    assert [t["transfer_id"] for t in everything.json()] == ["l-1", item["transfer_id"]]
    one = await api.http.get(BASE_PATH, params={"limit": "1"}, headers=auth("bob"))
    assert len(one.json()) == 1
    for params in ({"state": "DONE"}, {"limit": "0"}, {"limit": "501"}, {"limit": "x"}):
        assert (
            await api.http.get(BASE_PATH, params=params, headers=auth("bob"))
        ).status_code == 400
    assert (await api.http.get(BASE_PATH)).status_code == 401
