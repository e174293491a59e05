"""Turn a synced book into ``BookEvent``s: venue event time, mid, spread in bp, top-N depth.

Time alignment: a book event is stamped with the venue's time — the futures transaction time
``T`` (the matching engine's clock, the same clock trades carry), else the event time ``E`` —
never the wall clock, which only fills ``recv_ts_ms``. Stamps are made monotonic per symbol and
event kind: a stamp older than the previous one is raised to it (and counted), so a consumer's
windows never run backwards. Trades keep their own trade time ``T``, which never decreases along
trade ids; book and trade clocks are not merged, because a spot ``depth@100ms`` batch is stamped
at the end of its 100 ms while the trades inside it carry their own earlier times.

Debounce (optional): with ``debounce_ms`` > 0 at most one book event per symbol is published per
``debounce_ms`` of venue time; a skipped update's state is carried by the next published one.
"""

from __future__ import annotations

from decimal import Decimal

from chimera.domain.market import BookEvent
from chimera.names import MarketKind
from chimera.venues.binance_wire import DepthUpdate
from handlers.s1_connectors.order_book import OrderBookSync

_BP = Decimal(10_000)
_TWO = Decimal(2)
_SPREAD_QUANTUM = Decimal("0.0001")


def spread_bp(bid: Decimal, ask: Decimal) -> tuple[Decimal, Decimal]:
    """Return (mid, spread in basis points of mid, to 4 decimal places)."""
    mid = (bid + ask) / _TWO
    return mid, ((ask - bid) * _BP / mid).quantize(_SPREAD_QUANTUM)


class BookNormalizer:
    """Derive book events for one (kind, symbol) from its synced book."""

    def __init__(
        self, kind: MarketKind, symbol: str, *, depth_levels: int = 10, debounce_ms: int = 0
    ) -> None:
        self.kind = kind
        self.symbol = symbol
        self.depth_levels = depth_levels
        self.debounce_ms = debounce_ms
        self.last_ts_ms = 0
        self.last_published_ts_ms: int | None = None
        self.clamped = 0
        self.crossed = 0
        self.one_sided = 0

    def book_event(
        self, book: OrderBookSync, diff: DepthUpdate, recv_ts_ms: int
    ) -> BookEvent | None:
        """Return the event for ``book`` right after ``diff`` was applied, or None when debounced
        or when a side of the book is empty (no mid to derive)."""
        ts = diff.transaction_time or diff.event_time
        if ts < self.last_ts_ms:
            self.clamped += 1
            ts = self.last_ts_ms
        self.last_ts_ms = ts
        last = self.last_published_ts_ms
        if self.debounce_ms and last is not None and ts - last < self.debounce_ms:
            return None
        if not (book.bids and book.asks):
            self.one_sided += 1
            return None
        bids = book.top_bids(self.depth_levels)
        asks = book.top_asks(self.depth_levels)
        bid, bid_qty = bids[0]
        ask, ask_qty = asks[0]
        mid, spread = spread_bp(bid, ask)
        crossed = bid >= ask
        self.crossed += crossed
        self.last_published_ts_ms = ts
        return BookEvent(
            kind=self.kind,
            symbol=self.symbol,
            ts_ms=ts,
            recv_ts_ms=recv_ts_ms,
            update_id=book.last_update_id,
            bid=bid,
            bid_qty=bid_qty,
            ask=ask,
            ask_qty=ask_qty,
            mid=mid,
            spread_bp=spread,
            bids=bids,
            asks=asks,
            crossed=crossed,
        )
