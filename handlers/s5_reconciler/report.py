"""What one reconcile run found and did: the ``POST /reconcile`` answer and the RUN event body."""

from __future__ import annotations

from typing import Literal

import msgspec

Scope = Literal["ALL", "ORDERS", "POSITIONS"]
ActionKind = Literal[
    "CANCELLED",  # an orphan cancelled at the venue (policy cancel)
    "ADOPTED",  # an orphan left open and recorded (policy adopt)
    "ALERTED",  # an orphan left open with a CRITICAL alert (policy alert)
    "GONE",  # an orphan the venue no longer had open when it was to be cancelled
    "RESOLVED",  # a DB row brought to the venue's state (by client order id)
    "UNRESOLVED",  # a DB row the venue does not know (or whose intent is not stored)
    "BUSY",  # a DB row whose intent S4 is routing right now; the next run looks again
]
POSITIONS_NOT_RECONCILED = "not reconciled yet: positions_snapshots does not exist"


class ReconcileRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /reconcile``: what to reconcile (POSITIONS is answered as not reconciled yet)."""

    scope: Scope = "ALL"


class ReconcileAction(msgspec.Struct, frozen=True):
    """One thing a run did (or chose not to do) about one order."""

    kind: ActionKind
    market: str
    symbol: str
    client_order_id: str
    status_before: str = ""
    status_after: str = ""
    detail: str = ""


class ReconcileReport(msgspec.Struct, frozen=True):
    """A run's counts (open orders by client order id), agreement and actions."""

    run_id: str
    scope: Scope
    ts_ms: int
    ok: bool  # every (market, symbol) was read; only then is recon:{last_run_ts} set
    venue_open: int = 0
    db_open: int = 0
    both: int = 0
    venue_only: int = 0
    db_only: int = 0
    jaccard: float = 1.0
    actions: tuple[ReconcileAction, ...] = ()
    errors: tuple[str, ...] = ()
    positions: str = POSITIONS_NOT_RECONCILED


def jaccard(venue: set[str], db: set[str]) -> float:
    """Return |both| / |union| of two id sets (1.0 when both are empty)."""
    union = venue | db
    return 1.0 if not union else len(venue & db) / len(union)


__all__ = [
    "POSITIONS_NOT_RECONCILED",
    "ActionKind",
    "ReconcileAction",
    "ReconcileReport",
    "ReconcileRequest",
    "Scope",
    "jaccard",
]
