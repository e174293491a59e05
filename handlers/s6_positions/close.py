"""B7 step 2 for an entry closed by its own stops: give the reservation back once flat.

A FUT entry's protective legs (``SL`` / ``TP`` intents whose ``pos_id`` is the entry's intent
id) reduce the position that entry opened. When a protective leg reports ``FILLED``, the entry
is closed if it is over (no order of it still open, every TWAP slice placed) and its stops and
take-profits have executed as much as it filled; S3's reservation (id = ``signal_id``) is then
released — at most once, however often the result is delivered (the ledger keeps a tombstone).

Closing positions any other way (S6's exits, S5's repairs) and ``pos:events`` belong to the
position lifecycle (issue D); they will call the same release.
"""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from chimera.domain.orders import OrderResult
from chimera.risk import RiskLedger
from chimera_workers.connections import RedisClient
from chimera_workers.errors import ConfigError
from handlers.s6_positions.ends import twap_slices
from handlers.s6_positions.legs import is_slice

PROTECTIVE = frozenset({"SL", "TP"})
_OPEN = frozenset({"PENDING", "UNKNOWN", "NEW", "PARTIALLY_FILLED"})
_ROWS = (
    "SELECT purpose, status, filled_qty, client_order_id, signal_id FROM orders "
    "WHERE intent_id = $1 OR (pos_id = $1 AND purpose IN ('SL', 'TP'))"
)


async def entry_closed(db: asyncpg.Pool, entry_intent_id: str) -> tuple[bool, str | None]:
    """Tell whether the entry is over and flat again; also return its signal id."""
    rows = await db.fetch(_ROWS, entry_intent_id)
    entry = [r for r in rows if r["purpose"] not in PROTECTIVE]
    if not entry or any(r["status"] in _OPEN for r in entry):
        return False, None
    slices = [r for r in entry if is_slice(r["client_order_id"].rpartition(".")[2])]
    if slices:
        expected = await twap_slices(db, entry_intent_id)
        if expected is None or len(slices) < expected:
            return False, None
    opened = sum((r["filled_qty"] for r in entry), Decimal(0))
    closed = sum((r["filled_qty"] for r in rows if r["purpose"] in PROTECTIVE), Decimal(0))
    signal_id = next((r["signal_id"] for r in entry if r["signal_id"]), None)
    return opened > 0 and closed >= opened, signal_id


async def release_if_closed(
    event: OrderResult, redis: RedisClient, db: asyncpg.Pool | None, tombstone_ttl_ms: int
) -> bool:
    """Release the B7 reservation of the entry ``event`` (a filled SL/TP leg) if it is flat."""
    if event.pos_id is None:
        return False
    if db is None:
        raise ConfigError(
            "S6 needs PostgreSQL to tell when a position is closed",
            hint="run the s6-entry binding in a worker with a database URL",
        )
    closed, signal_id = await entry_closed(db, event.pos_id)
    if not closed or signal_id is None:
        return False
    ledger = RiskLedger(redis, tombstone_ttl_ms=tombstone_ttl_ms)
    return await ledger.release(signal_id, event.symbol)


__all__ = ["PROTECTIVE", "entry_closed", "release_if_closed"]
