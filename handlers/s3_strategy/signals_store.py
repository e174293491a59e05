"""``signals.decision``: written once per signal, read back on every redelivery."""

from __future__ import annotations

import asyncpg
import msgspec

from chimera.domain.features import FeatureEvent
from chimera.domain.signals import Decision

_DECODE = msgspec.json.Decoder(Decision)


async def stored_decision(db: asyncpg.Pool, signal_id: str) -> Decision | None:
    """Return the decision already made on ``signal_id``, if any."""
    raw = await db.fetchval("SELECT decision::text FROM signals WHERE signal_id = $1", signal_id)
    return None if raw is None else _DECODE.decode(raw)


async def save_decision(db: asyncpg.Pool, event: FeatureEvent, decision: Decision) -> Decision:
    """Store ``decision`` unless one is stored already; return the one that is stored.

    The signal row is created if S2's is missing (``/decide`` with a snapshot S2 never wrote).
    """
    async with db.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO signals (signal_id, symbol, t0, features, config_rev)"
            " VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT (signal_id) DO NOTHING",
            event.signal_id,
            event.symbol,
            event.t0,
            msgspec.json.encode(event.features).decode(),
            event.config_rev,
        )
        won = await conn.fetchval(
            "UPDATE signals SET decision = $2::jsonb, decided_at = now()"
            " WHERE signal_id = $1 AND decision IS NULL RETURNING true",
            event.signal_id,
            msgspec.json.encode(decision).decode(),
        )
        if won:
            return decision
        raw = await conn.fetchval(
            "SELECT decision::text FROM signals WHERE signal_id = $1", event.signal_id
        )
    return _DECODE.decode(raw)


__all__ = ["save_decision", "stored_decision"]
