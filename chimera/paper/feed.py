"""The seam between the paper venue's market side and its trading side.

The market side (a synthetic market or a replayed capture) owns the clock and the order books and
tells listeners about every book change, trade print and funding settlement. The trading side
(accounts, orders, matching) is such a listener and reads books and marks through ``MarketState``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

import msgspec

from chimera.paper.book import L2Book
from chimera.paper.markets import VenueKind


class TradePrint(msgspec.Struct, frozen=True):
    """A trade that printed on the market (not one of our own fills)."""

    kind: VenueKind
    symbol: str
    trade_id: int
    price: Decimal
    qty: Decimal
    buyer_is_maker: bool
    ts_ms: int


class FundingSettlement(msgspec.Struct, frozen=True):
    """A perpetual funding settlement: longs pay rate * notional to shorts (negative: reverse)."""

    symbol: str
    rate: Decimal
    mark_price: Decimal
    funding_time_ms: int


class VenueClock(Protocol):
    """The venue's event clock: replay time for a capture, scaled wall time for synthetic data."""

    def now_ms(self) -> int: ...


class MarketListener(Protocol):
    """Something that reacts to the market (the matcher does)."""

    def on_book(self, kind: VenueKind, symbol: str, book: L2Book, ts_ms: int) -> None: ...

    def on_trade(self, trade: TradePrint) -> None: ...

    def on_funding(self, settlement: FundingSettlement) -> None: ...


class MarketState(Protocol):
    """What the trading side may read from the market side."""

    clock: VenueClock

    def book(self, kind: VenueKind, symbol: str) -> L2Book: ...

    def mark_price(self, symbol: str) -> Decimal: ...

    def funding_rate(self, symbol: str) -> Decimal: ...

    def next_funding_time_ms(self, symbol: str) -> int: ...

    def add_listener(self, listener: MarketListener) -> None: ...
