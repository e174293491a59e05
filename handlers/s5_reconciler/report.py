"""What one reconcile run found and did: the ``POST /reconcile`` answer and the RUN event body."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

Scope = Literal["ALL", "ORDERS", "POSITIONS"]
Grade = Literal["GREEN", "YELLOW", "ORANGE", "RED"]
ActionKind = Literal[
    # ORDERS
    "CANCELLED",  # an orphan cancelled at the venue (policy cancel)
    "ADOPTED",  # an orphan left open and recorded (policy adopt)
    "ALERTED",  # an orphan left open with a CRITICAL alert (policy alert)
    "GONE",  # an orphan the venue no longer had open when it was to be cancelled
    "RESOLVED",  # a DB row brought to the venue's state (by client order id)
    "UNRESOLVED",  # a DB row the venue does not know (or whose intent is not stored)
    "BUSY",  # a DB row whose intent S4 is routing right now; the next run looks again
    # POSITIONS
    "POSITION_REPAIRED",  # a REDUCE row closing what only the DB held (venue = truth)
    "POSITION_ADOPTED",  # an ENTRY row for what only the venue held (S6 protects it)
    "POSITION_DERISKED",  # a reduce-only market order for what only the venue held
    "POSITION_ALERTED",  # a mismatch left as it is (policy alert)
    "POSITION_DEFERRED",  # a mismatch with orders in flight; the next run looks again
    "STOP_PLACED",  # a stop for an open position without (enough of) one
    "STOP_BREACHED_EXIT",  # the stop would trigger at once: the uncovered part closed at market
    "UNPROTECTED",  # no stop could be placed and the position could not be closed
]


class ReconcileRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /reconcile``: what to reconcile."""

    scope: Scope = "ALL"


class ReconcileAction(msgspec.Struct, frozen=True):
    """One thing a run did (or chose not to do) about one order or position."""

    kind: ActionKind
    market: str
    symbol: str
    client_order_id: str  # the order concerned ("" for a position without one)
    status_before: str = ""
    status_after: str = ""
    detail: str = ""
    pos_id: str = ""
    qty: Decimal | None = None


class PositionCheck(msgspec.Struct, frozen=True):
    """One symbol's net FUT position (signed: + long, - short) at the venue and in the DB."""

    symbol: str
    venue_qty: Decimal
    db_qty: Decimal

    @property
    def agrees(self) -> bool:
        """Tell whether both sides hold the same signed quantity."""
        return self.venue_qty == self.db_qty


class PositionsSummary(msgspec.Struct, frozen=True):
    """The POSITIONS scope of a run: per-symbol agreement, before any action."""

    symbols: int = 0  # with a position on either side
    agreeing: int = 0
    jaccard: float = 1.0
    checks: tuple[PositionCheck, ...] = ()
    open_positions: int = 0  # DB positions after the repairs
    deferred: int = 0  # mismatches left for the next run (orders in flight)
    unprotected: int = 0  # positions left without a stop

    @property
    def settled_jaccard(self) -> float:
        """Return the agreement with the deferred mismatches (orders in flight) set aside."""
        return 1.0 if not self.symbols else (self.agreeing + self.deferred) / self.symbols


class ReconcileReport(msgspec.Struct, frozen=True):
    """A run's counts (open orders by client order id), agreement, actions and grade."""

    run_id: str
    scope: Scope
    ts_ms: int
    ok: bool  # everything was read and acted on; an ALL run then sets recon:{last_run_ts}
    venue_open: int = 0
    db_open: int = 0
    both: int = 0
    venue_only: int = 0
    db_only: int = 0
    jaccard: float = 1.0  # of the open orders (ORDERS), as read
    # ...with the orders S4 was routing while the run looked set aside (what the grade uses)
    settled_jaccard: float = 1.0
    actions: tuple[ReconcileAction, ...] = ()
    errors: tuple[str, ...] = ()
    positions: PositionsSummary | None = None  # None: the scope was ORDERS
    severity: Grade = "GREEN"  # the health grade this run asks for (docs/s5-reconciler.md)


class RunLog:
    """What one run collected so far (mutable while the run goes)."""

    def __init__(self, run_id: str, ts_ms: int) -> None:
        self.run_id = run_id
        self.ts_ms = ts_ms
        self.venue_ids: set[str] = set()
        self.db_ids: set[str] = set()
        self.transient: set[str] = set()  # ids S4 was routing while the run looked
        self.actions: list[ReconcileAction] = []
        self.errors: list[str] = []


def jaccard(venue: set[str], db: set[str]) -> float:
    """Return |both| / |union| of two id sets (1.0 when both are empty)."""
    union = venue | db
    return 1.0 if not union else len(venue & db) / len(union)


__all__ = [
    "ActionKind",
    "Grade",
    "PositionCheck",
    "PositionsSummary",
    "ReconcileAction",
    "ReconcileReport",
    "ReconcileRequest",
    "RunLog",
    "Scope",
    "jaccard",
]
