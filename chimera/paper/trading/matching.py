"""Matching against the market: walking the book for a taker, a queue model for a resting order.

Our orders do not change the market's book (the feed owns it and its next update would undo any
change); a taker walks the levels as they are. A resting limit order fills only when the market
prints trades through it:

- when it is placed, ``queue_ahead`` is the book's quantity at its price on its side;
- a trade AT its price whose aggressor hits its side consumes the queue ahead first, and only the
  excess fills the order;
- a trade THROUGH its price (a buy's limit above the trade price, a sell's below) fills the rest;
- when the book's quantity at the level drops below ``queue_ahead``, the queue shrinks with it
  (cancellations ahead of us).
"""

from __future__ import annotations

from decimal import Decimal

from chimera.paper.book import L2Book, Level
from chimera.paper.trading.filters import floor_to_step
from chimera.paper.trading.model import ZERO

Execution = tuple[Decimal, Decimal]  # (price, qty)


def opposite_levels(book: L2Book, is_buy: bool) -> list[Level]:
    """Return the levels a taker on ``is_buy`` side consumes, best first."""
    return book.asks() if is_buy else book.bids()


def walk_book(
    levels: list[Level],
    *,
    is_buy: bool,
    qty: Decimal | None = None,
    quote: Decimal | None = None,
    limit: Decimal | None = None,
    step: Decimal,
) -> list[Execution]:
    """Take liquidity level by level: by base ``qty`` or by ``quote`` amount, up to ``limit``."""
    executions: list[Execution] = []
    left_qty = qty
    left_quote = quote
    for price, available in levels:
        if limit is not None and (price > limit if is_buy else price < limit):
            break
        if left_qty is not None:
            take = min(available, left_qty)
        else:
            assert left_quote is not None
            take = min(available, floor_to_step(left_quote / price, step))
        if take <= ZERO:
            break
        executions.append((price, take))
        if left_qty is not None:
            left_qty -= take
            if left_qty <= ZERO:
                break
        else:
            assert left_quote is not None
            left_quote -= take * price
    return executions


def crosses(book: L2Book, is_buy: bool, price: Decimal) -> bool:
    """Tell whether a limit at ``price`` would take liquidity now."""
    best = book.best_ask() if is_buy else book.best_bid()
    if best is None:
        return False
    return price >= best[0] if is_buy else price <= best[0]


def queue_at(book: L2Book, is_buy: bool, price: Decimal) -> Decimal:
    """Return the book's quantity at ``price`` on the side a resting order joins."""
    levels = book.bids() if is_buy else book.asks()
    for level_price, qty in levels:
        if level_price == price:
            return qty
        if (level_price < price) if is_buy else (level_price > price):
            break
    return ZERO


def fill_from_trade(
    *,
    is_buy: bool,
    limit: Decimal,
    queue_ahead: Decimal,
    remaining: Decimal,
    trade_price: Decimal,
    trade_qty: Decimal,
    buyer_is_maker: bool,
) -> tuple[Decimal, Decimal]:
    """Return (quantity filled, new queue ahead) for a resting order seeing one trade print."""
    through = trade_price < limit if is_buy else trade_price > limit
    if through:
        return remaining, ZERO
    if trade_price != limit:
        return ZERO, queue_ahead
    # At our level only an aggressor hitting our side trades against the queue we sit in.
    hits_our_side = buyer_is_maker if is_buy else not buyer_is_maker
    if not hits_our_side:
        return ZERO, queue_ahead
    excess = trade_qty - queue_ahead
    if excess <= ZERO:
        return ZERO, queue_ahead - trade_qty
    return min(excess, remaining), ZERO
