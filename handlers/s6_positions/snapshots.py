"""``positions_snapshots``: S6 writes one row per position on every tick and lifecycle event."""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from chimera.domain.orders import OrderResult
from chimera.domain.positions import PositionSnapshot, SnapshotSource
from handlers.s6_positions.position import Position, load_position

_COLUMNS = tuple(PositionSnapshot.__struct_fields__)
_TYPES = {
    "sl_level": "int4", "tp_step": "int4", "add_on_count": "int4", "config_rev": "int8",
    "ts_ms": "int8",
    **{c: "numeric" for c in ("qty", "opened_qty", "closed_qty", "entry_price", "mark_price",
                              "move_r", "roe", "liq_price", "liq_distance", "sl_price")},
}  # fmt: skip
# One statement for a whole pass: a row per array element (unnest), not a round trip per row.
_INSERT = (
    f"INSERT INTO positions_snapshots ({', '.join(_COLUMNS)}) "
    "SELECT * FROM unnest("
    + ", ".join(f"${i + 1}::{_TYPES.get(c, 'text')}[]" for i, c in enumerate(_COLUMNS))
    + ") ON CONFLICT (snapshot_id) DO NOTHING"
)
_LATEST = (
    "SELECT DISTINCT ON (pos_id) * FROM positions_snapshots "
    "WHERE ($1::text IS NULL OR pos_id = $1) ORDER BY pos_id, ts_ms DESC, created_at DESC"
)


async def write_snapshots(db: asyncpg.Pool, snapshots: list[PositionSnapshot]) -> None:
    """Insert ``snapshots`` in one round trip (a snapshot id already written is skipped)."""
    if snapshots:
        await db.execute(_INSERT, *([getattr(s, c) for s in snapshots] for c in _COLUMNS))


def position_snapshot(
    position: Position,
    *,
    snapshot_id: str,
    source: SnapshotSource,
    ts_ms: int,
    rev: int,
    reason: str,
    mark_price: Decimal | None = None,
    liq_price: Decimal | None = None,
) -> PositionSnapshot:
    """Return ``position``'s snapshot: its quantities and status as its orders rows sum them."""
    return PositionSnapshot(
        snapshot_id=snapshot_id,
        pos_id=position.pos_id,
        symbol=position.symbol,
        side=position.side,
        status="OPEN" if position.open_qty > 0 else "CLOSED",
        qty=position.open_qty,
        opened_qty=position.opened_qty,
        closed_qty=position.closed_qty,
        entry_price=position.entry_price,
        source=source,
        ts_ms=ts_ms,
        mark_price=mark_price,
        liq_price=liq_price,
        reason=reason[:500],
        config_rev=rev,
    )


async def snapshot_event(db: asyncpg.Pool, event: OrderResult, rev: int) -> bool:
    """Write the position's snapshot after ``event`` (an order of it that ended with a fill).

    One row per order end (id ``<pos_id>:EVENT:<client_order_id>``), so a redelivery writes
    nothing twice. Returns False when the order belongs to no FUT position.
    """
    pos_id = event.pos_id if event.purpose != "ENTRY" else event.intent_id
    position = None if pos_id is None else await load_position(db, pos_id)
    if position is None:
        return False
    snapshot = position_snapshot(
        position,
        snapshot_id=f"{position.pos_id}:EVENT:{event.client_order_id}",
        source="EVENT",
        ts_ms=event.ts_ms,
        rev=rev,
        reason=f"{event.purpose} {event.client_order_id} {event.status} {event.filled_qty}",
        mark_price=event.avg_price,
    )
    await write_snapshots(db, [snapshot])
    return True


async def latest_snapshots(db: asyncpg.Pool, pos_id: str | None = None) -> list[PositionSnapshot]:
    """Return the latest snapshot of every position (or of ``pos_id``)."""
    rows = await db.fetch(_LATEST, pos_id)
    return [PositionSnapshot(**{c: r[c] for c in _COLUMNS}) for r in rows]


__all__ = ["latest_snapshots", "position_snapshot", "snapshot_event", "write_snapshots"]
