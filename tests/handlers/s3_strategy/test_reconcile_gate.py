"""S3's L0 respects S5's start-up gate: no entry until a reconcile pass followed the start."""

from __future__ import annotations

import asyncpg

from chimera import names
from chimera_workers.connections import RedisClient
from handlers.s3_strategy.engine import DecisionEngine
from handlers.s5_reconciler.gate import RECONCILE_GATE, require_reconcile
from tests.handlers.s3_strategy.support import T0, bundle, snapshot


async def test_entries_wait_for_a_reconcile_after_the_latest_start(
    rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    engine = DecisionEngine(rclient, pool)
    await require_reconcile(rclient, 1_000)
    closed = await engine.decide(snapshot(), bundle(), 1)
    assert (closed.decision.action, closed.decision.reason) == ("skip", RECONCILE_GATE)
    assert closed.intent is None
    await rclient.set(names.RECON_LAST_RUN_TS, "1000")  # S5's ALL run, started at the start
    opened = await engine.decide(snapshot(t0=T0 + 60_000), bundle(), 1)
    assert opened.decision.action == "open"
