"""Shared pieces of the B8 tests: operators, policies, row/key/stream readers, a tick context."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import yaml

from chimera.config.bundle import ConfigBundle
from chimera.config.treasury import TreasuryAuto, TreasuryMode, TreasuryPolicy
from chimera.names import treasury_lock
from chimera_workers.connections import RedisClient
from chimera_workers.context import Context, Resources
from chimera_workers.topology_loader import load_app
from handlers.s4_router.runtime import RESOURCE_NAME, RouterRuntime
from handlers.s6_positions.treasury_balances import FreeBalances, read_free
from handlers.s12_gateway.operators import OperatorEntry, OperatorRegistry, token_digest
from tests.handlers.s1_connectors.treasury_support import POLICY

TOKENS = {
    "alice": "alice-operator-token-0123456789",
    "bob": "bob-operator-token-0123456789ab",
    "carol": "carol-operator-token-012345678",
}
REGISTRY = OperatorRegistry(
    tuple(OperatorEntry(name, token_digest(token)) for name, token in TOKENS.items())
)
ROUTE_LOCK = treasury_lock("SPOT", "FUTURES")


def auth(operator: str) -> dict[str, str]:
    """Return the Authorization header of ``operator``."""
    return {"Authorization": f"Bearer {TOKENS[operator]}"}


def write_registry(path: Path) -> Path:
    """Write the operators file for ``TOKENS`` at ``path``."""
    entries = [{"name": n, "token_sha256": token_digest(t)} for n, t in TOKENS.items()]
    path.write_text(yaml.safe_dump({"operators": entries}))
    return path


def policy(mode: TreasuryMode = "manual", min_free_fut: Decimal = Decimal(0)) -> TreasuryPolicy:
    """Return S1's test policy (1000 per transfer, 1500 a day) with the check configured."""
    return msgspec.structs.replace(POLICY, auto=TreasuryAuto(mode=mode, min_free_fut=min_free_fut))


async def free(runtime: RouterRuntime) -> FreeBalances:
    """Return the venue's free USDT in both wallets, read through ccxt."""
    spot = await runtime.venues.exchange("SPOT")
    futures = await runtime.venues.exchange("FUT")
    return await read_free(spot, futures, "USDT")


def tick_context(
    tmp_path: Path, redis: RedisClient, db: asyncpg.Pool, runtime: RouterRuntime, bundle: Any
) -> Context:
    """Return the ``ctx`` a worker's ``s6-treasury`` schedule hands ``treasury_tick``."""
    path = tmp_path / "streams.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "streams": []}))
    resources = Resources(load_app(path), redis, db, None, extra={RESOURCE_NAME: runtime})
    return Context(resources, bundle if bundle is not None else ConfigBundle(), 1)


async def transfers(db: asyncpg.Pool) -> list[dict[str, Any]]:
    """Return every treasury_transfers row."""
    rows = await db.fetch("SELECT * FROM treasury_transfers ORDER BY created_ms, transfer_id")
    return [dict(r) for r in rows]


async def events(db: asyncpg.Pool, transfer_id: str) -> list[tuple[str, str, str]]:
    """Return the transfer's (from_state, to_state, actor) history."""
    rows = await db.fetch(
        "SELECT from_state, to_state, actor FROM treasury_transfer_events "
        "WHERE transfer_id = $1 ORDER BY seq",
        transfer_id,
    )
    return [(r["from_state"] or "-", r["to_state"], r["actor"]) for r in rows]


async def unemitted(db: asyncpg.Pool) -> int:
    """Return how many events have not reached ops:events."""
    return int(
        await db.fetchval("SELECT count(*) FROM treasury_transfer_events WHERE emitted_ms IS NULL")
    )


async def alerts(db: asyncpg.Pool) -> list[dict[str, Any]]:
    """Return every alerts row (body decoded)."""
    rows = await db.fetch("SELECT alert_id, severity, kind, ref_id, body FROM alerts ORDER BY 1")
    return [{**dict(r), "body": msgspec.json.decode(r["body"])} for r in rows]


async def lock_gone(redis: RedisClient) -> bool:
    """Tell whether the route lock is free (and its fence counter shows it was taken)."""
    return not await redis.exists(ROUTE_LOCK) and await redis.exists(ROUTE_LOCK + ":fence") == 1
