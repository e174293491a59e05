"""A position as S4's ``orders`` rows record it: what its entry and add-ons filled, what closed.

``pos_id`` is the FUT entry's intent id. The entry's rows are ``intent_id = pos_id``; every
other order of the position carries ``pos_id``: add-ons (``ADD``) grow it, stops, take-profits
and exits (``SL`` / ``TP`` / ``EXIT`` / ``REDUCE``) shrink it. The rows are the ledger, so the
position is recomputed from them rather than kept in a second place that could disagree.
"""

from __future__ import annotations

from decimal import Decimal

import asyncpg
import msgspec

from chimera.domain.orders import Side

OPENING = ("ENTRY", "ADD")
CLOSING = ("SL", "TP", "EXIT", "REDUCE")
OPEN_STATUSES = ("PENDING", "UNKNOWN", "NEW", "PARTIALLY_FILLED")
_ZERO = Decimal(0)

_AGGREGATE = """
SELECT CASE WHEN purpose = 'ENTRY' THEN intent_id ELSE pos_id END AS pos_id,
       min(symbol) AS symbol,
       min(side) FILTER (WHERE purpose = 'ENTRY') AS side,
       max(signal_id) FILTER (WHERE purpose = 'ENTRY') AS signal_id,
       coalesce(sum(filled_qty) FILTER (WHERE purpose = 'ENTRY'), 0) AS entry_qty,
       sum(filled_qty * avg_price) FILTER (WHERE purpose = 'ENTRY' AND filled_qty > 0)
           AS entry_cost,
       coalesce(sum(filled_qty) FILTER (WHERE purpose = 'ADD'), 0) AS added_qty,
       sum(filled_qty * avg_price) FILTER (WHERE purpose = 'ADD' AND filled_qty > 0)
           AS added_cost,
       coalesce(sum(filled_qty) FILTER (WHERE purpose IN ('SL', 'TP', 'EXIT', 'REDUCE')), 0)
           AS closed_qty,
       min(created_ts_ms) FILTER (WHERE purpose = 'ENTRY') AS opened_ts_ms,
       bool_or(purpose IN ('ENTRY', 'ADD')
               AND status IN ('PENDING', 'UNKNOWN', 'NEW', 'PARTIALLY_FILLED')) AS working,
       array_agg(intent_id) FILTER (WHERE purpose = 'ADD') AS add_intents,
       coalesce(sum(qty - filled_qty) FILTER (WHERE purpose = 'SL'
               AND status IN ('PENDING', 'UNKNOWN', 'NEW', 'PARTIALLY_FILLED')), 0) AS stop_qty,
       max(updated_ts_ms) AS updated_ts_ms,
       array_agg(intent_id) FILTER (WHERE purpose IN ('ADD', 'REDUCE', 'EXIT')
               AND status IN ('PENDING', 'UNKNOWN')) AS unresolved
FROM orders
WHERE market = 'FUT' AND {where}
GROUP BY 1
HAVING count(*) FILTER (WHERE purpose = 'ENTRY') > 0 {having}
"""
_ONE = _AGGREGATE.format(where="((purpose = 'ENTRY' AND intent_id = $1) OR pos_id = $1)", having="")
_OPEN_HAVING = (
    "AND coalesce(sum(filled_qty) FILTER (WHERE purpose IN ('ENTRY', 'ADD')), 0) > "
    "coalesce(sum(filled_qty) FILTER (WHERE purpose IN ('SL', 'TP', 'EXIT', 'REDUCE')), 0)"
)
_OPEN = _AGGREGATE.format(
    where="(purpose = 'ENTRY' OR (pos_id IS NOT NULL AND purpose IN "
    "('ADD', 'SL', 'TP', 'EXIT', 'REDUCE')))",
    having=_OPEN_HAVING,
)
_OPEN_AMONG = _AGGREGATE.format(
    where="((purpose = 'ENTRY' AND intent_id = ANY($1::text[])) OR pos_id = ANY($1::text[]))",
    having=_OPEN_HAVING,
)
_OPEN_ORDERS = (
    "SELECT intent_id, client_order_id, purpose, order_type, qty, trigger_price, status "
    "FROM orders WHERE pos_id = $1 AND reduce_only "
    "AND status IN ('PENDING', 'UNKNOWN', 'NEW', 'PARTIALLY_FILLED')"
)


class Position(msgspec.Struct, frozen=True):
    """One FUT position, summed from its orders rows."""

    pos_id: str
    symbol: str
    side: Side
    signal_id: str | None
    entry_qty: Decimal
    entry_price: Decimal | None  # average fill price of the entry (add-ons excluded)
    added_qty: Decimal
    avg_price: Decimal | None  # average fill price of entry and add-ons together
    closed_qty: Decimal
    opened_ts_ms: int
    working: bool  # an entry or add-on order is still open at the venue
    add_intents: tuple[str, ...] = ()
    stop_qty: Decimal = _ZERO  # what its open (or in-flight) stop-loss orders still cover
    updated_ts_ms: int = 0  # the latest change of any of its orders
    # S6's own market orders whose outcome S4 never recorded (the process died mid-call)
    unresolved: tuple[str, ...] = ()

    @property
    def uncovered(self) -> Decimal:
        """Return the open quantity no stop-loss covers."""
        return max(self.open_qty - self.stop_qty, _ZERO)

    @property
    def opened_qty(self) -> Decimal:
        """Return what the entry and its add-ons filled."""
        return self.entry_qty + self.added_qty

    @property
    def open_qty(self) -> Decimal:
        """Return what is still open (never below zero)."""
        return max(self.opened_qty - self.closed_qty, _ZERO)

    @property
    def sign(self) -> int:
        """Return +1 for a long, -1 for a short."""
        return 1 if self.side == "buy" else -1


class ProtectiveOrder(msgspec.Struct, frozen=True):
    """A reduce-only order of a position that is still open at the venue."""

    intent_id: str
    client_order_id: str
    purpose: str
    order_type: str
    qty: Decimal
    trigger_price: Decimal | None
    status: str


def _position(row: asyncpg.Record) -> Position:
    entry_qty: Decimal = row["entry_qty"]
    added_qty: Decimal = row["added_qty"]
    entry_cost: Decimal | None = row["entry_cost"]
    added_cost: Decimal | None = row["added_cost"]
    entry_price = entry_cost / entry_qty if entry_cost is not None and entry_qty > 0 else None
    total_qty = entry_qty + added_qty
    total_cost = (entry_cost or _ZERO) + (added_cost or _ZERO)
    avg_price = total_cost / total_qty if total_qty > 0 and total_cost > 0 else None
    return Position(
        pos_id=row["pos_id"],
        symbol=row["symbol"],
        side=row["side"],
        signal_id=row["signal_id"],
        entry_qty=entry_qty,
        entry_price=entry_price,
        added_qty=added_qty,
        avg_price=avg_price,
        closed_qty=row["closed_qty"],
        opened_ts_ms=int(row["opened_ts_ms"]),
        working=bool(row["working"]),
        add_intents=tuple(sorted(set(row["add_intents"] or ()))),
        stop_qty=row["stop_qty"],
        updated_ts_ms=int(row["updated_ts_ms"] or 0),
        unresolved=tuple(sorted(set(row["unresolved"] or ()))),
    )


async def load_position(db: asyncpg.Pool | asyncpg.Connection, pos_id: str) -> Position | None:
    """Return the position ``pos_id`` (None: no FUT entry has that intent id)."""
    row = await db.fetchrow(_ONE, pos_id)
    return None if row is None else _position(row)


async def open_positions(
    db: asyncpg.Pool | asyncpg.Connection, among: list[str] | None = None
) -> list[Position]:
    """Return every FUT position whose entry and add-ons filled more than closed.

    Without ``among`` the whole ``orders`` history is summed (a sweep); with it, only those
    positions (index lookups: the manage tick's path, see ``tick``).
    """
    rows = await db.fetch(_OPEN) if among is None else await db.fetch(_OPEN_AMONG, among)
    return sorted((_position(r) for r in rows), key=lambda p: p.pos_id)


async def open_protective_orders(
    db: asyncpg.Pool | asyncpg.Connection, pos_id: str
) -> list[ProtectiveOrder]:
    """Return the position's reduce-only orders that are still open."""
    rows = await db.fetch(_OPEN_ORDERS, pos_id)
    return [ProtectiveOrder(**dict(r)) for r in rows]


__all__ = [
    "CLOSING",
    "OPENING",
    "OPEN_STATUSES",
    "Position",
    "ProtectiveOrder",
    "load_position",
    "open_positions",
    "open_protective_orders",
]
