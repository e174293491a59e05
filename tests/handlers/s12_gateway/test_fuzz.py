"""HTTP fuzz of S12's treasury endpoints (hypothesis): never a 5xx, never a partial write.

Sequences of requests with random operators (known, unknown, none), ids (a few shared ones so
requests, approvals and rejections meet, plus arbitrary text), and bodies (near-valid fields
with wrong values and types, arbitrary JSON, bytes that are not JSON) go to the real app on real
Redis and PostgreSQL (Litestar's TestClient runs it on its own loop; the venue is S1's in-memory
double, so money movements are exact). After every request:

- the status is below 500;
- a refused request (4xx) changed no row, no event and no ``ops:events`` entry;
- every transfer's last event is its state, every event reached ``ops:events``, and the venue
  moved exactly the SUCCEEDED transfers (the ledger is conserved).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import asyncpg
import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from chimera.names import OPS_EVENTS
from handlers.api.app import create_app
from handlers.s1_connectors.treasury_api import treasury_mount
from handlers.s12_gateway.api import BASE_PATH, gateway_mount
from tests.handlers.s1_connectors.treasury_support import TOKEN, LedgerVenue
from tests.handlers.s12_gateway.support import REGISTRY, TOKENS, policy

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
IDS = ["f-1", "f-2", "f-3"]
_examples = itertools.count()
# Money moves until the venue's spot runs dry (then FAILED); 1200 stays over the per-transfer max.
FUZZ_POLICY = msgspec.structs.replace(policy("manual"), daily_max={"USDT": Decimal(10**9)})

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
field_values = {
    "transfer_id": st.sampled_from(IDS) | st.text(max_size=70) | json_values,
    "asset": st.sampled_from(["USDT", "BTC", "usdt", ""]) | json_values,
    "amount": st.sampled_from(["1", "250.5", "0", "-1", "1.123456789", "1e3", "2000"])
    | st.decimals(min_value=0, max_value=5000, places=8).map(str)
    | json_values,
    "from_account": st.sampled_from(["SPOT", "FUTURES", "MARGIN"]) | json_values,
    "to_account": st.sampled_from(["SPOT", "FUTURES", "MARGIN"]) | json_values,
    "reason": st.none() | st.text(max_size=600) | json_values,
    "requested_by": st.sampled_from(["alice", "s6-treasury"]),
}
valid_body = st.fixed_dictionaries(
    {
        "transfer_id": st.sampled_from(IDS),
        "asset": st.just("USDT"),
        "amount": st.sampled_from(["1", "25.5", "600", "1200"]),
        "from_account": st.just("SPOT"),
        "to_account": st.just("FUTURES"),
    }
)
fuzzed_body = st.fixed_dictionaries({}, optional={k: v for k, v in field_values.items()})
bodies = valid_body | fuzzed_body | json_values | st.binary(max_size=40)
operators = st.sampled_from([*TOKENS, *TOKENS, None, "stranger"])
ids = st.sampled_from(IDS) | st.sampled_from(IDS) | st.text(max_size=70)
queries = st.dictionaries(
    st.sampled_from(["state", "limit", "other"]),
    st.sampled_from(["PENDING_APPROVAL", "REJECTED", "0", "10", "501", "-1", "x"]) | st.text(),
    max_size=3,
)
reject_bodies = st.none() | st.fixed_dictionaries({"reason": st.none() | st.text(max_size=600)})
call = st.one_of(
    st.tuples(st.just("file"), operators, ids, valid_body | valid_body | bodies),
    st.tuples(st.just("approve"), operators, ids, st.none() | bodies),
    st.tuples(st.just("reject"), operators, ids, reject_bodies | reject_bodies | bodies),
    st.tuples(st.just("show"), operators, ids, st.none()),
    st.tuples(st.just("list"), operators, st.just(""), queries),
)

# Each example starts with a well-formed request, so later calls find something to act on.
opening = st.tuples(
    st.just("file"),
    st.sampled_from(list(TOKENS)),
    st.just("f-1"),
    valid_body.map(lambda b: {**b, "transfer_id": "f-1"}),
)


class Fuzz(msgspec.Struct):
    client: TestClient[Any]
    venue: LedgerVenue


@pytest.fixture
def fuzz(db_url: str, redis_url: str) -> Iterator[Fuzz]:
    venue = LedgerVenue()
    app = create_app(
        service_token=TOKEN, redis_url=redis_url, database_url=db_url,
        mounts=[treasury_mount(policy=FUZZ_POLICY, venue=venue),
                gateway_mount(registry=REGISTRY)],
    )  # fmt: skip
    with TestClient(app, raise_server_exceptions=False) as client:
        client.blocking_portal.call(_migrate, app.state.db)
        yield Fuzz(client, venue)


async def _migrate(db: asyncpg.Pool) -> None:
    from chimera_workers.migrations import upgrade
    from tests.conftest import ROOT

    await upgrade(db, ROOT / "migrations")


def _headers(operator: str | None) -> dict[str, str]:
    if operator is None:
        return {}
    token = TOKENS.get(operator, "stranger-token-0123456789")
    return {"Authorization": f"Bearer {token}"}


async def _state(db: asyncpg.Pool, redis: Any) -> tuple[Any, ...]:
    rows = [dict(r) for r in await db.fetch("SELECT * FROM treasury_transfers ORDER BY 1")]
    trail = [dict(r) for r in await db.fetch("SELECT * FROM treasury_transfer_events ORDER BY id")]
    return rows, trail, int(await redis.xlen(OPS_EVENTS))


def _consistent(fuzz: Fuzz, state: tuple[Any, ...]) -> None:
    rows, trail, emitted = state
    assert emitted == len(trail) and all(e["emitted_ms"] is not None for e in trail)
    for row in rows:
        mine = [e for e in trail if e["transfer_id"] == row["transfer_id"]]
        assert mine and mine[-1]["to_state"] == row["state"], (row, mine)
        assert [e["seq"] for e in mine] == list(range(1, len(mine) + 1))
        assert row["approved_by"] != row["requested_by"]
    moved = sum((r["amount"] for r in rows if r["state"] == "SUCCEEDED"), Decimal(0))
    assert fuzz.venue.balances[("USDT", "FUTURES")] == moved
    assert fuzz.venue.balances[("USDT", "SPOT")] == Decimal(10000) - moved


def _send(fuzz: Fuzz, action: str, operator: str | None, transfer_id: str, body: Any) -> Any:
    headers = _headers(operator)
    path = f"{BASE_PATH}/{quote(transfer_id, safe='')}"
    kwargs: dict[str, Any] = {"headers": headers}
    if isinstance(body, bytes):
        kwargs["content"] = body
        headers["Content-Type"] = "application/json"
    else:
        kwargs["json"] = body
    if action == "file":
        return fuzz.client.post(BASE_PATH, **kwargs)
    if action == "list":
        return fuzz.client.get(BASE_PATH, params=body, headers=headers)
    if action == "show":
        return fuzz.client.get(path, headers=headers)
    return fuzz.client.post(f"{path}/{action}", **kwargs)


@FUZZ
@given(opening=opening, calls=st.lists(call, min_size=1, max_size=8))
def test_no_5xx_and_no_partial_writes(
    fuzz: Fuzz, opening: tuple[Any, ...], calls: list[tuple[Any, ...]]
) -> None:
    app = fuzz.client.app
    # The database outlives examples: each example gets fresh ids so requests meet approvals.
    prefix = f"e{next(_examples)}-"
    for action, operator, raw_id, raw_body in [opening, *calls]:
        transfer_id = prefix + raw_id if raw_id in IDS else raw_id
        body = raw_body
        if isinstance(raw_body, dict) and raw_body.get("transfer_id") in IDS:
            body = {**raw_body, "transfer_id": prefix + raw_body["transfer_id"]}
        before = fuzz.client.blocking_portal.call(_state, app.state.db, app.state.redis)
        reply = _send(fuzz, action, operator, transfer_id, body)
        assert reply.status_code < 500, (action, transfer_id, body, reply.text)
        event(f"{action} -> {reply.status_code}")
        after = fuzz.client.blocking_portal.call(_state, app.state.db, app.state.redis)
        if reply.status_code >= 400:
            assert after == before, (action, transfer_id, body, reply.text)
        _consistent(fuzz, after)
