"""A tiny in-test market (real L2Books, a settable clock) implementing ``feed.MarketState``."""

from __future__ import annotations

from decimal import Decimal

from chimera.paper.book import L2Book
from chimera.paper.feed import FundingSettlement, MarketListener, TradePrint
from chimera.paper.markets import DEFAULT_MARKETS, VenueKind
from chimera.paper.trading.model import VenueState
from chimera.paper.trading.sink import NullSink
from chimera.paper.trading.venue import TradingVenue

D = Decimal


class ManualClock:
    def __init__(self, now_ms: int = 1_760_000_000_000) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


class TinyMarket:
    """Books you set by hand; trades and funding you print by hand."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.books = {(m.kind, m.symbol): L2Book(m.symbol) for m in DEFAULT_MARKETS}
        self.marks: dict[str, Decimal] = {}
        self.listeners: list[MarketListener] = []
        self._trade_id = 0

    def book(self, kind: VenueKind, symbol: str) -> L2Book:
        return self.books[(kind, symbol)]

    def mark_price(self, symbol: str) -> Decimal:
        if symbol in self.marks:
            return self.marks[symbol]
        mid = self.books[("perp", symbol)].mid()
        return mid if mid is not None else D(0)

    def funding_rate(self, symbol: str) -> Decimal:
        return D("0.0001")

    def next_funding_time_ms(self, symbol: str) -> int:
        return self.clock.now + 3_600_000

    def add_listener(self, listener: MarketListener) -> None:
        self.listeners.append(listener)

    # --- driving --------------------------------------------------------------------------
    def set_book(
        self, kind: VenueKind, symbol: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]
    ) -> None:
        book = self.books[(kind, symbol)]
        book.reset([(D(p), D(q)) for p, q in bids], [(D(p), D(q)) for p, q in asks], 1)
        for listener in self.listeners:
            listener.on_book(kind, symbol, book, self.clock.now)

    def print_trade(
        self, kind: VenueKind, symbol: str, price: str, qty: str, buyer_is_maker: bool
    ) -> None:
        self._trade_id += 1
        trade = TradePrint(
            kind, symbol, self._trade_id, D(price), D(qty), buyer_is_maker, self.clock.now
        )
        for listener in self.listeners:
            listener.on_trade(trade)

    def settle_funding(self, symbol: str, rate: str, mark: str) -> None:
        settlement = FundingSettlement(symbol, D(rate), D(mark), self.clock.now)
        for listener in self.listeners:
            listener.on_funding(settlement)


def make_venue(
    usdt: str = "10000", btc: str = "1", futures: str = "10000"
) -> tuple[TradingVenue, TinyMarket, NullSink]:
    """Return a venue on a tiny market with BTC/ETH books around 60000/3000."""
    market = TinyMarket()
    sink = NullSink()
    state: VenueState = TradingVenue.fresh_state({"USDT": D(usdt), "BTC": D(btc)}, D(futures))
    venue = TradingVenue(state, DEFAULT_MARKETS, market, sink)
    market.add_listener(venue)
    market.set_book(
        "spot",
        "BTCUSDT",
        [("59999.00", "0.5"), ("59998.00", "1")],
        [("60001.00", "0.2"), ("60002.00", "0.3")],
    )
    market.set_book(
        "perp",
        "BTCUSDT",
        [("59999.0", "2"), ("59998.0", "3")],
        [("60001.0", "1"), ("60002.0", "2")],
    )
    return venue, market, sink
