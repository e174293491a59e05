"""Shared pieces of S5's POSITIONS tests: a reconciler at test speed, S6's binding, row readers."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from chimera.config.reconcile import ReconcileConfig
from chimera.domain.orders import OrderResult
from chimera_workers.connections import RedisClient
from handlers.s4_router.runtime import RouterRuntime
from handlers.s5_reconciler.reconciler import Reconciler
from tests.handlers.s4_router.support import make_router, results
from tests.handlers.s6_positions.support import Deliverer, make_app

PERP = "BTC/USDT:USDT"


def reconciler(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, **config: Any
) -> Reconciler:
    """A FUT-only reconciler that acts at once (no quiet period unless ``config`` sets one)."""
    values: dict[str, Any] = {"markets": ("FUT",), "quiet_ms": 0}
    values.update(config)
    return Reconciler(make_router(rclient, pool, runtime), ReconcileConfig(**values), ("BTCUSDT",))


async def deliver_to_s6(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool, intent_prefix: str
) -> list[Any]:
    """Hand S6's ``ord:{results}`` binding every result of intents starting with the prefix."""
    deliverer = Deliverer(make_app(tmp_path), rclient, db=pool)
    emitted: list[Any] = []
    for result in await results(rclient):
        if result.intent_id.startswith(intent_prefix):
            emitted += await deliverer.send(result)
    return emitted


async def ours(rclient: RedisClient, intent_prefix: str) -> list[OrderResult]:
    """Return the ``ord:{results}`` entries of intents starting with the prefix."""
    return [r for r in await results(rclient) if r.intent_id.startswith(intent_prefix)]


async def count(pool: asyncpg.Pool, table: str) -> int:
    """Return how many rows ``table`` has."""
    return int(await pool.fetchval(f"SELECT count(*) FROM {table}"))


async def venue_net(perp: Any) -> Decimal:
    """Return the venue's signed BTCUSDT position."""
    net = Decimal(0)
    for position in await perp.fetch_positions([PERP]):
        amount = Decimal(str(position["info"].get("positionAmt") or "0"))
        net += amount
    return net


__all__ = ["PERP", "count", "deliver_to_s6", "ours", "reconciler", "venue_net"]
