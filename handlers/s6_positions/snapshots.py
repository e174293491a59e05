"""``positions_snapshots``: S6 writes one row per position on every tick and lifecycle event."""

from __future__ import annotations

import asyncpg

from chimera.domain.positions import PositionSnapshot

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


async def latest_snapshots(db: asyncpg.Pool, pos_id: str | None = None) -> list[PositionSnapshot]:
    """Return the latest snapshot of every position (or of ``pos_id``)."""
    rows = await db.fetch(_LATEST, pos_id)
    return [PositionSnapshot(**{c: r[c] for c in _COLUMNS}) for r in rows]


__all__ = ["latest_snapshots", "write_snapshots"]
