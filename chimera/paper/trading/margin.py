"""USDⓈ-M position arithmetic: entry price, realized and unrealized PnL, margins, liquidation.

One-way mode. Margins are computed the cross way for both margin types (``isolated`` is recorded
and reported as Binance does, but its wallet is not split out): initial margin is
``|notional| / leverage`` at the mark price, maintenance margin ``|notional| * MAINT_RATE``.
The liquidation price is reported (an approximation from the position's own margin), never
enforced.
"""

from __future__ import annotations

from decimal import Decimal

from chimera.paper.trading.model import ZERO, Position

MAINT_RATE = Decimal("0.004")  # Binance's first bracket for the majors


def side_sign(is_buy: bool) -> Decimal:
    return Decimal(1) if is_buy else Decimal(-1)


def apply_fill(pos: Position, is_buy: bool, qty: Decimal, price: Decimal) -> Decimal:
    """Move ``pos`` by one fill; return the PnL it realizes (closing part only)."""
    sign = side_sign(is_buy)
    amount = pos.amount
    if amount == ZERO or (amount > 0) == is_buy:
        new_amount = amount + sign * qty
        pos.entry_price = (abs(amount) * pos.entry_price + qty * price) / abs(new_amount)
        pos.amount = new_amount
        return ZERO
    closing = min(qty, abs(amount))
    direction = Decimal(1) if amount > 0 else Decimal(-1)
    realized = (price - pos.entry_price) * closing * direction
    pos.amount = amount + sign * closing
    rest = qty - closing
    if rest > ZERO:
        pos.amount = sign * rest
        pos.entry_price = price
    elif pos.amount == ZERO:
        pos.entry_price = ZERO
    return realized


def closable(pos: Position, is_buy: bool) -> Decimal:
    """Return how much an order on ``is_buy`` side can reduce ``pos`` (0 if it would grow it)."""
    if pos.amount == ZERO or (pos.amount > 0) == is_buy:
        return ZERO
    return abs(pos.amount)


def unrealized(pos: Position, mark: Decimal) -> Decimal:
    return pos.amount * (mark - pos.entry_price)


def initial_margin(pos: Position, mark: Decimal) -> Decimal:
    return abs(pos.amount) * mark / pos.leverage


def maint_margin(pos: Position, mark: Decimal) -> Decimal:
    return abs(pos.amount) * mark * MAINT_RATE


def liquidation_price(pos: Position) -> Decimal:
    """Approximate the liquidation price from the position's own margin (isolated-style).

    The mark at which the position's initial margin (``1 / leverage``) is lost down to
    maintenance margin; the rest of a cross wallet is not counted.
    """
    if pos.amount == ZERO:
        return ZERO
    cushion = Decimal(1) / pos.leverage - MAINT_RATE
    if pos.amount > 0:
        return max(pos.entry_price * (1 - cushion), ZERO)
    return pos.entry_price * (1 + cushion)
