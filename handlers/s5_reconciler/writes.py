"""S5's rows: ``alerts`` (deterministic ids, so a rerun adds nothing) and ``strategy_events``."""

from __future__ import annotations

from typing import Any, Literal

import asyncpg
import msgspec

Severity = Literal["INFO", "WARN", "CRITICAL"]
RUN_KIND = "RECONCILE_RUN"
ORPHAN_KIND = "RECONCILE_ORPHAN"
RESOLVED_KIND = "RECONCILE_RESOLVED"
DISAGREEMENT_KIND = "RECONCILE_DISAGREEMENT"

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


__all__ = [
    "DISAGREEMENT_KIND",
    "ORPHAN_KIND",
    "RESOLVED_KIND",
    "RUN_KIND",
    "Severity",
    "add_alert",
]
