"""The ``s5-reconcile`` tick's pacing: a run per ``interval_ms``, sooner while the gate is shut."""

from __future__ import annotations

import asyncio

from chimera import names
from chimera.config.reconcile import ReconcileConfig
from chimera_workers.connections import RedisClient
from handlers.s4_router.runtime import now_ms
from handlers.s5_reconciler.gate import RECON_REQUIRED_SINCE, require_reconcile
from handlers.s5_reconciler.handlers import run_due

PACED = ReconcileConfig(interval_ms=1_000, gate_retry_ms=500)


async def test_a_run_is_due_once_per_interval_while_the_gate_is_open(
    rclient: RedisClient,
) -> None:
    assert await run_due(rclient, PACED)  # never ran: due
    assert not await run_due(rclient, PACED)  # just started one
    await asyncio.sleep(0.6)
    assert not await run_due(rclient, PACED)  # the gate is open: the interval applies
    await asyncio.sleep(0.5)
    assert await run_due(rclient, PACED)


async def test_a_closed_gate_makes_runs_due_every_gate_retry(rclient: RedisClient) -> None:
    await rclient.set(names.RECON_LAST_RUN_TS, str(now_ms() - 1_000))  # a run before the start
    assert await run_due(rclient, PACED)
    await require_reconcile(rclient, now_ms())  # a worker started: the gate is shut
    assert await rclient.exists(RECON_REQUIRED_SINCE)
    assert not await run_due(rclient, PACED)
    await asyncio.sleep(0.6)
    assert await run_due(rclient, PACED)  # gate_retry_ms, not interval_ms


async def test_an_unreadable_stamp_does_not_stop_the_runs(rclient: RedisClient) -> None:
    await rclient.set(names.RECON_LAST_ATTEMPT_TS, "garbage")
    assert await run_due(rclient, PACED)
    assert (await rclient.get(names.RECON_LAST_ATTEMPT_TS)).isdigit()
