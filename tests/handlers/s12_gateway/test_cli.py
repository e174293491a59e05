"""``chimera treasury request|approve|reject|show`` on real Redis, PostgreSQL and the paper venue.

Each command runs in a thread (it owns its event loop, as in a terminal) while the test's loop
keeps the module's paper venue serving.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from typer.testing import CliRunner, Result

from chimera.config.bundle import ConfigBundle
from chimera.paper.venue import PaperVenue
from chimera_workers.connections import RedisClient
from handlers.s4_router.runtime import RouterRuntime
from handlers.s12_gateway.cli import app
from tests.handlers.s1_connectors.treasury_support import audits
from tests.handlers.s4_router.support import runtime, venue
from tests.handlers.s12_gateway.support import (
    TOKENS,
    events,
    free,
    policy,
    transfers,
    write_registry,
)

__all__ = ["runtime", "venue"]  # fixtures

Treasury = Callable[..., Awaitable[Result]]


@pytest.fixture
def treasury(
    tmp_path: Path, pool: asyncpg.Pool, db_url: str, redis_url: str, venue: PaperVenue
) -> Treasury:
    bundle = tmp_path / "bundle.yaml"
    bundle.write_bytes(msgspec.yaml.encode(ConfigBundle(treasury=policy("manual"))))
    env = {
        "CHIMERA_DATABASE_URL": db_url,
        "CHIMERA_REDIS_URL": redis_url,
        "CHIMERA_CONFIG_BUNDLE": str(bundle),
        "CHIMERA_OPERATORS_FILE": str(write_registry(tmp_path / "operators.yaml")),
        "CHIMERA_VENUE": "paper",
        "CHIMERA_PAPER_URL": venue.base_url,
    }

    async def invoke(operator: str | None, *args: str) -> Result:
        token = {"CHIMERA_OPERATOR_TOKEN": TOKENS[operator]} if operator else {}
        runner = CliRunner(env={**env, **token})
        return await asyncio.to_thread(runner.invoke, app, list(args))

    return invoke


def view(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


async def test_request_self_approval_refused_then_approved_moves_funds(
    treasury: Treasury, pool: asyncpg.Pool, rclient: RedisClient, runtime: RouterRuntime
) -> None:
    before = await free(runtime)
    filed = view(await treasury("alice", "request", "42.5", "--id", "c-1", "--reason", "margin"))
    assert (filed["state"], filed["requested_by"], filed["amount"]) == (
        "PENDING_APPROVAL", "alice", "42.5",
    )  # fmt: skip
    refused = await treasury("alice", "approve", "c-1")
    assert refused.exit_code == 2
    assert "error: operator alice requested transfer c-1 and cannot approve it" in refused.output
    assert [e[1] for e in await events(pool, "c-1")] == ["PENDING_APPROVAL"]
    assert view(await treasury("carol", "show", "c-1"))["state"] == "PENDING_APPROVAL"
    done = view(await treasury("bob", "approve", "c-1"))
    assert (done["state"], done["approved_by"]) == ("SUCCEEDED", "bob")
    after = await free(runtime)
    assert after.futures == before.futures + Decimal("42.5")
    assert after.spot == before.spot - Decimal("42.5")
    listed = await treasury("carol", "list", "--state", "SUCCEEDED")
    assert [t["transfer_id"] for t in json.loads(listed.stdout)] == ["c-1"]
    assert [a.actor for a in await audits(rclient)] == [
        "alice", "bob", "s1_connectors", "s1_connectors", "s1_connectors",
    ]  # fmt: skip


async def test_over_limit_and_reject(treasury: Treasury, pool: asyncpg.Pool) -> None:
    view(await treasury("alice", "request", "1000.5", "--id", "c-big"))
    rejected = view(await treasury("bob", "approve", "c-big"))
    assert rejected["state"] == "REJECTED" and "per-transfer limit" in rejected["message"]
    view(
        await treasury("alice", "request", "5", "--id", "c-2", "--from", "FUTURES", "--to", "SPOT")
    )
    withdrawn = view(await treasury("bob", "reject", "c-2", "--reason", "no"))
    assert (withdrawn["state"], withdrawn["message"]) == ("REJECTED", "rejected by bob: no")
    again = await treasury("carol", "approve", "c-2")
    assert again.exit_code == 2 and "is REJECTED" in again.output
    assert {r["transfer_id"]: r["state"] for r in await transfers(pool)} == {
        "c-big": "REJECTED", "c-2": "REJECTED",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("operator", "args", "message"),
    [
        (None, ("show", "c-1"), "error: missing operator token"),
        ("alice", ("show", "nope"), "error: no treasury transfer 'nope'"),
        ("alice", ("request", "0"), "amount must be greater than 0"),
        ("alice", ("request", "1", "--from", "MARGIN"), "at `$.from_account`"),
        ("alice", ("approve", "bad id"), "error: invalid transfer_id"),
    ],
)
async def test_refusals_are_one_error_line(
    treasury: Treasury, pool: asyncpg.Pool, operator: str | None, args: tuple[str, ...],
    message: str,
) -> None:  # fmt: skip
    result = await treasury(operator, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert await transfers(pool) == []


async def test_an_unknown_token_is_refused(treasury: Treasury, tmp_path: Path) -> None:
    runner = CliRunner()
    result = await asyncio.to_thread(
        runner.invoke, app, ["show", "c-1", "--token", "not-a-token"],
        env={"CHIMERA_OPERATORS_FILE": str(write_registry(tmp_path / "o.yaml"))},
    )  # fmt: skip
    assert result.exit_code == 2 and "error: unknown operator token" in result.output
