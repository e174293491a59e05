"""S5's scheduled binding ``s5-reconcile``: one ALL reconcile run per tick (one worker).

A successful ALL run opens the start-up gate (``handlers.s5_reconciler.gate``).

The worker needs the ``s4_router`` resource (S4's venues) and PostgreSQL; the symbols compared
besides those of open ``orders`` rows are the topology's ``symbols:``.
"""

from __future__ import annotations

from typing import Any

from chimera.config.bundle import ConfigBundle
from chimera.config.reconcile import ReconcileConfig
from chimera_workers.context import Context
from handlers.s4_router.handlers import RedisSink, router_for
from handlers.s5_reconciler.reconciler import Reconciler

_DEFAULT = ReconcileConfig()


def reconcile_config(config: Any) -> ReconcileConfig:
    """Return the ``reconcile:`` section of the worker's config (defaults without a bundle)."""
    if isinstance(config, ConfigBundle):
        return config.reconcile
    if isinstance(config, ReconcileConfig):
        return config
    return _DEFAULT


async def reconcile_tick(ctx: Context) -> None:
    """Reconcile the open orders of every configured market and the FUT positions once."""
    router = router_for(ctx, RedisSink(ctx.redis))
    bundle = ctx.config if isinstance(ctx.config, ConfigBundle) else ConfigBundle()
    reconciler = Reconciler(
        router,
        reconcile_config(ctx.config),
        ctx.resources.app.symbols,
        bundle.positions,
        bundle.risk,
    )
    await reconciler.run("ALL")


__all__ = ["reconcile_config", "reconcile_tick"]
