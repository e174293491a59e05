"""S5's scheduled binding ``s5-reconcile``: ALL reconcile runs, paced (one worker).

A successful ALL run opens the start-up gate (``handlers.s5_reconciler.gate``). The schedule
ticks every second; a tick starts a run when ``reconcile.interval_ms`` has passed since the last
run started (``recon:{last_run_ts}:attempt``), or ``reconcile.gate_retry_ms`` while the gate is
closed: after a worker (re)start entries wait about one run, not up to a whole interval.

The worker needs the ``s4_router`` resource (S4's venues) and PostgreSQL; the symbols compared
besides those of open ``orders`` rows are the topology's ``symbols:``.
"""

from __future__ import annotations

from typing import Any

from chimera import names
from chimera.config.bundle import ConfigBundle
from chimera.config.reconcile import ReconcileConfig
from chimera_workers.connections import RedisClient
from chimera_workers.context import Context
from handlers.s4_router.handlers import RedisSink, router_for
from handlers.s4_router.runtime import now_ms
from handlers.s5_reconciler.gate import gate_open, stamp_ms
from handlers.s5_reconciler.reconciler import Reconciler

_DEFAULT = ReconcileConfig()


def reconcile_config(config: Any) -> ReconcileConfig:
    """Return the ``reconcile:`` section of the worker's config (defaults without a bundle)."""
    if isinstance(config, ConfigBundle):
        return config.reconcile
    if isinstance(config, ReconcileConfig):
        return config
    return _DEFAULT


async def run_due(redis: RedisClient, config: ReconcileConfig) -> bool:
    """Tell whether a run is due now; if so, record its start as the last attempt."""
    last, required, attempt = await redis.mget(
        names.RECON_LAST_RUN_TS, names.RECON_REQUIRED_SINCE, names.RECON_LAST_ATTEMPT_TS
    )
    gap = config.interval_ms if gate_open(last, required) else config.gate_retry_ms
    now = now_ms()
    previous = stamp_ms(attempt)  # an unreadable stamp is overwritten by this run's
    if previous is not None and now - previous < gap:
        return False
    await redis.set(names.RECON_LAST_ATTEMPT_TS, str(now))
    return True


async def reconcile_tick(ctx: Context) -> None:
    """Reconcile the open orders of every configured market and the FUT positions, if due."""
    config = reconcile_config(ctx.config)
    if not await run_due(ctx.redis, config):
        return
    router = router_for(ctx, RedisSink(ctx.redis))
    bundle = ctx.config if isinstance(ctx.config, ConfigBundle) else ConfigBundle()
    reconciler = Reconciler(
        router, config, ctx.resources.app.symbols, bundle.positions, bundle.risk
    )
    await reconciler.run("ALL")


__all__ = ["reconcile_config", "reconcile_tick", "run_due"]
