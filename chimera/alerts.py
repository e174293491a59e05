"""The ``alerts`` table (migration 0005): what a person should know, one row per cause.

Every service that raises an alert (S5's reconciler, S4's rejects, S6, the treasury) writes it
here. The id is deterministic per cause, so a rerun or a redelivery that finds the same problem
does not add a second row.
"""

from __future__ import annotations

from typing import Any, Literal

import asyncpg
import msgspec

Severity = Literal["INFO", "WARN", "CRITICAL"]

_INSERT_ALERT = (
    "INSERT INTO alerts (alert_id, severity, kind, symbol, ref_id, body, ts_ms) "
    "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) ON CONFLICT (alert_id) DO NOTHING"
)


async def add_alert(
    pool: asyncpg.Pool,
    alert_id: str,
    severity: Severity,
    kind: str,
    *,
    symbol: str | None,
    ref_id: str | None,
    body: Any,
    ts_ms: int,
) -> bool:
    """Insert an ``alerts`` row; return False if ``alert_id`` was already there."""
    status = await pool.execute(
        _INSERT_ALERT,
        alert_id,
        severity,
        kind,
        symbol,
        ref_id,
        msgspec.json.encode(body).decode(),
        ts_ms,
    )
    return bool(status.endswith(" 1"))


__all__ = ["Severity", "add_alert"]
