"""``positions_snapshots``: S6 writes one row per position on every tick and lifecycle event."""

from __future__ import annotations

import asyncpg

from chimera.domain.positions import PositionSnapshot

_COLUMNS = tuple(PositionSnapshot.__struct_fields__)
_INSERT = (
    f"INSERT INTO positions_snapshots ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i + 1}' for i in range(len(_COLUMNS)))}) "
    "ON CONFLICT (snapshot_id) DO NOTHING"
)
_LATEST = (
    "SELECT DISTINCT ON (pos_id) * FROM positions_snapshots "
    "WHERE ($1::text IS NULL OR pos_id = $1) ORDER BY pos_id, ts_ms DESC, created_at DESC"
)


async def write_snapshots(db: asyncpg.Pool, snapshots: list[PositionSnapshot]) -> None:
    """Insert ``snapshots`` in one round trip (a snapshot id already written is skipped)."""
    if snapshots:
        await db.executemany(
            _INSERT, [tuple(getattr(s, c) for c in _COLUMNS) for s in snapshots]
        )


async def latest_snapshots(db: asyncpg.Pool, pos_id: str | None = None) -> list[PositionSnapshot]:
    """Return the latest snapshot of every position (or of ``pos_id``)."""
    rows = await db.fetch(_LATEST, pos_id)
    return [PositionSnapshot(**{c: r[c] for c in _COLUMNS}) for r in rows]


__all__ = ["latest_snapshots", "write_snapshots"]
