"""Positions: S6's snapshots (``positions_snapshots``) and lifecycle events (``pos:events``).

A position is one FUT entry (``pos_id`` = the entry's intent id) and every order that grew it
(``ADD``) or shrank it (``SL`` / ``TP`` / ``EXIT`` / ``REDUCE``); S4's ``orders`` rows are its
ledger. Quantities and prices are ``Decimal``; times are venue epoch milliseconds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from chimera.domain.orders import Side

PositionStatus = Literal["OPEN", "CLOSED"]
# What wrote a snapshot: the manage tick, an order result, POST /positions/manage, S5.
SnapshotSource = Literal["TICK", "EVENT", "API", "RECONCILE"]
PositionEventKind = Literal["EXIT", "STAGNATED", "STOP_RAISED", "PARTIAL_TP", "ADD_ON"]


class PositionSnapshot(msgspec.Struct, frozen=True):
    """One row of ``positions_snapshots``: where a position stood at ``ts_ms``."""

    snapshot_id: str  # deterministic per cause, so a rerun writes nothing twice
    pos_id: str
    symbol: str
    side: Side
    status: PositionStatus
    qty: Decimal  # open quantity
    opened_qty: Decimal  # entry + add-ons filled
    closed_qty: Decimal
    entry_price: Decimal | None
    source: SnapshotSource
    ts_ms: int
    mark_price: Decimal | None = None
    move_r: Decimal | None = None  # the move in units of initial risk (docs/s6-positions.md)
    roe: Decimal | None = None  # unrealized return on initial margin
    liq_price: Decimal | None = None
    liq_distance: Decimal | None = None  # |mark - liquidation| / mark
    sl_level: int = 0
    sl_price: Decimal | None = None
    tp_step: int = 0
    add_on_count: int = 0
    reason: str = ""
    config_rev: int = 0


class PositionEvent(msgspec.Struct, frozen=True):
    """The payload of ``pos:events``; at-least-once, idempotency key ``(pos_id, kind, ref)``."""

    pos_id: str
    kind: PositionEventKind
    symbol: str
    side: Side
    qty: Decimal  # the quantity concerned (closed, added, protected ...)
    ts_ms: int
    ref: str = ""  # the intent id of the action, or "" for EXIT / STAGNATED
    price: Decimal | None = None
    entry_price: Decimal | None = None
    signal_id: str | None = None
    reason: str = ""


__all__ = [
    "PositionEvent",
    "PositionEventKind",
    "PositionSnapshot",
    "PositionStatus",
    "SnapshotSource",
]
