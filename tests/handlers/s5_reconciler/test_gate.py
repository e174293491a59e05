"""The start-up gate and the health-degrade signal, on real Redis (and the paper venue)."""

from __future__ import annotations

import asyncpg
import pytest

from chimera import names
from chimera.paper.venue import PaperVenue
from chimera_workers.connections import RedisClient
from handlers.s4_router.runtime import RouterRuntime
from handlers.s5_reconciler.gate import (
    RECON_REQUIRED_SINCE,
    entries_allowed,
    gate_open,
    require_reconcile,
    startup_gate,
)
from handlers.s5_reconciler.health import degrade
from handlers.s5_reconciler.report import Scope
from tests.handlers.s4_router.support import runtime, venue
from tests.handlers.s5_reconciler.support import reconciler

__all__ = ["runtime", "venue"]  # fixtures


@pytest.mark.parametrize(
    ("last", "required", "expected"),
    [
        (None, None, True),  # no worker declares the gate
        (b"5", None, True),
        (None, b"5", False),  # started, never reconciled since
        (b"4", b"5", False),  # a pass that began before the start does not count
        (b"5", b"5", True),
        (b"9", b"5", True),
        (b"9", b"garbage", False),  # unreadable: closed
        (b"x", b"5", False),
    ],
)
def test_gate_open_reads_the_two_keys(
    last: bytes | None, required: bytes | None, expected: bool
) -> None:
    assert gate_open(last, required) is expected


async def test_the_stamp_is_only_ever_raised(redis: RedisClient) -> None:
    assert await require_reconcile(redis, 100) == 100
    assert await require_reconcile(redis, 50) == 100  # a slower start does not lower it
    assert await require_reconcile(redis, 200) == 200
    await redis.set(names.RECON_LAST_RUN_TS, "199")
    assert not await entries_allowed(redis)  # one MGET, also on a Cluster (one hash tag)
    await redis.set(names.RECON_LAST_RUN_TS, "200")
    assert await entries_allowed(redis)


async def test_a_worker_start_closes_the_gate_until_an_all_run_succeeds(
    redis_url: str,
    rclient: RedisClient,
    pool: asyncpg.Pool,
    runtime: RouterRuntime,
    venue: PaperVenue,
) -> None:
    assert await entries_allowed(rclient)
    async with startup_gate({"CHIMERA_REDIS_URL": redis_url}) as gate:
        assert await rclient.get(RECON_REQUIRED_SINCE) == str(gate.since).encode()
        assert not await entries_allowed(rclient)
        scopes: tuple[Scope, ...] = ("ORDERS", "POSITIONS")
        for scope in scopes:  # a partial pass does not open it
            assert (await reconciler(rclient, pool, runtime).run(scope)).ok
            assert not await entries_allowed(rclient)
        report = await reconciler(rclient, pool, runtime).run("ALL")
        assert report.ok and report.ts_ms >= gate.since
        assert await entries_allowed(rclient)
    # Another start closes it again.
    async with startup_gate({"CHIMERA_REDIS_URL": redis_url}):
        assert not await entries_allowed(rclient)


async def test_degrade_raises_the_grade_with_a_ttl_and_never_lowers_it(
    rclient: RedisClient,
) -> None:
    assert not await degrade(rclient, "GREEN", 60_000)
    assert await rclient.exists(names.HEALTH_STATE) == 0
    assert await degrade(rclient, "ORANGE", 60_000)
    assert await rclient.get(names.HEALTH_STATE) == b"ORANGE"
    assert 0 < await rclient.pttl(names.HEALTH_STATE) <= 60_000
    assert await degrade(rclient, "ORANGE", 120_000)  # S5's own grade: renewed
    assert await rclient.pttl(names.HEALTH_STATE) > 60_000
    assert await degrade(rclient, "RED", 60_000)  # worse wins
    assert not await degrade(rclient, "ORANGE", 60_000)
    assert await rclient.get(names.HEALTH_STATE) == b"RED"
    # An operator's (or S11's) standing grade without a TTL is not taken over.
    await rclient.set(names.HEALTH_STATE, "ORANGE")
    assert not await degrade(rclient, "ORANGE", 60_000)
    assert await rclient.pttl(names.HEALTH_STATE) == -1
    await rclient.set(names.HEALTH_STATE, '{"grade": "YELLOW"}')
    assert await degrade(rclient, "ORANGE", 60_000)
    assert await rclient.get(names.HEALTH_STATE) == b"ORANGE"
