"""Realized PnL and fees from the ``fills`` table, by the average-cost method, in Decimal.

Average cost, not FIFO, because it is how Binance (and the paper venue) price a position: the
entry price is the quantity-weighted average of the fills that built it, a reducing fill
realizes ``(price - entry) x closed qty`` (sign by side) and leaves the entry unchanged, and a
fill that flips the position opens the rest at its own price. So the realized PnL here and the
venue's unrealized PnL (against the same entry price) add up to the account's total.

Realized PnL is net of fees: every fill's fee (the quote asset on the paper venue) is
subtracted when it happens, so a round trip realizes ``(sell - buy) x qty - fees``. Arithmetic is
exact except the weighted average when adding to an open position, a division rounded to the
Decimal context (28 significant digits).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import asyncpg
import msgspec

from chimera.domain.orders import Market, Side
from chimera.venues.positions import VenuePosition

ZERO = Decimal(0)


class FillRow(msgspec.Struct, frozen=True):
    """One execution of ours, as S4 recorded it in ``fills`` (market from its order)."""

    market: Market
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    ts_ms: int = 0
    trade_id: str = ""


@dataclass
class Book:
    """The running average-cost position of one (market, symbol)."""

    qty: Decimal = ZERO  # signed: > 0 long, < 0 short
    entry_price: Decimal = ZERO  # average cost of the open quantity; 0 when flat
    realized: Decimal = ZERO  # net of fees
    fees: Decimal = ZERO
    fills: int = 0

    def apply(self, fill: FillRow) -> None:
        """Book one fill: its fee, then what it opens, adds to or closes."""
        self.fills += 1
        self.fees += fill.fee
        self.realized -= fill.fee
        signed = fill.qty if fill.side == "buy" else -fill.qty
        if self.qty == ZERO or (self.qty > ZERO) == (signed > ZERO):
            new_qty = self.qty + signed
            if self.qty == ZERO:
                self.entry_price = fill.price
            else:
                cost = abs(self.qty) * self.entry_price + fill.qty * fill.price
                self.entry_price = cost / abs(new_qty)
            self.qty = new_qty
            return
        closing = min(fill.qty, abs(self.qty))
        direction = 1 if self.qty > ZERO else -1
        self.realized += (fill.price - self.entry_price) * closing * direction
        new_qty = self.qty + signed
        if new_qty == ZERO:
            self.entry_price = ZERO
        elif (new_qty > ZERO) != (self.qty > ZERO):
            self.entry_price = fill.price  # flipped: the remainder opened at this fill's price
        self.qty = new_qty


def ledger(fills: Iterable[FillRow]) -> dict[tuple[Market, str], Book]:
    """Replay ``fills`` in order; return each (market, symbol)'s book."""
    books: dict[tuple[Market, str], Book] = {}
    for fill in fills:
        books.setdefault((fill.market, fill.symbol), Book()).apply(fill)
    return books


class PnlTotals(msgspec.Struct, frozen=True):
    """Account totals in the quote asset; ``None`` where a read failed ("n/a")."""

    realized: Decimal | None  # net of fees
    fees: Decimal | None
    unrealized: Decimal | None
    fills: int | None

    @property
    def total(self) -> Decimal | None:
        if self.realized is None or self.unrealized is None:
            return None
        return self.realized + self.unrealized


def totals(
    books: dict[tuple[Market, str], Book] | None, positions: list[VenuePosition] | None
) -> PnlTotals:
    """Sum realized PnL and fees over ``books`` and unrealized PnL over ``positions``."""
    unrealized: Decimal | None = None
    if positions is not None:
        parts = [p.unrealized_pnl for p in positions]
        unrealized = None if None in parts else sum((p or ZERO for p in parts), ZERO)
    if books is None:
        return PnlTotals(None, None, unrealized, None)
    return PnlTotals(
        realized=sum((b.realized for b in books.values()), ZERO),
        fees=sum((b.fees for b in books.values()), ZERO),
        unrealized=unrealized,
        fills=sum(b.fills for b in books.values()),
    )


_FILLS_SQL = """
SELECT o.market, f.symbol, f.side, f.price, f.qty, f.fee, f.ts_ms, f.trade_id
FROM fills f JOIN orders o ON o.client_order_id = f.client_order_id
ORDER BY f.ts_ms, f.trade_id
"""


async def load_fills(db: asyncpg.Pool, timeout_s: float) -> list[FillRow]:
    """Read every fill of the account, oldest first (raises on a failure or after
    ``timeout_s``)."""
    rows = await db.fetch(_FILLS_SQL, timeout=timeout_s)
    return [
        FillRow(
            market=r["market"],
            symbol=r["symbol"],
            side=r["side"],
            price=r["price"],
            qty=r["qty"],
            fee=r["fee"],
            ts_ms=r["ts_ms"],
            trade_id=r["trade_id"],
        )
        for r in rows
    ]
