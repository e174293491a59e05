"""The book as an order is sent: ``mid_at_send``, the three best levels, and slippage against it.

The latest ``BookEvent`` S1 published on ``mkt:events:{perp|spot}:<SYMBOL>`` is used when it is
fresh (``router.book_max_age_ms``, by its receive time); otherwise the venue's order book is read.

``slippage_bps`` is signed so that positive is worse for us: a buy filled above the mid, or a sell
filled below it, by ``|price - mid| / mid x 10 000``.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from chimera import names
from chimera.domain.market import BookEvent, MarketEvent
from chimera.domain.orders import Market, Side
from chimera.venues.ccxt_factory import Exchange
from chimera_workers.connections import RedisClient
from chimera_workers.keys import PAYLOAD_FIELD

Level = tuple[Decimal, Decimal]
_MARKET_EVENT = msgspec.json.Decoder(MarketEvent)
_SCAN = 64  # newest entries searched for a book event (trades and bars are interleaved)
_BPS = Decimal(10_000)


class BookSnapshot(msgspec.Struct, frozen=True):
    """The top of the book at send time."""

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    ts_ms: int

    @property
    def mid(self) -> Decimal | None:
        """Return the mid price, or None when one side is empty."""
        if not self.bids or not self.asks:
            return None
        return (self.bids[0][0] + self.asks[0][0]) / 2

    def touch(self, side: Side) -> Decimal | None:
        """Return the best price on our own side (the bid for a buy, the ask for a sell)."""
        levels = self.bids if side == "buy" else self.asks
        return levels[0][0] if levels else None

    def far_top3(self, side: Side) -> tuple[Level, ...]:
        """Return the three best levels a market order of ``side`` would take."""
        return (self.asks if side == "buy" else self.bids)[:3]


def slippage_bps(side: Side, price: Decimal, mid: Decimal | None) -> Decimal | None:
    """Return the signed slippage of a fill against ``mid`` (positive = worse), 4 places."""
    if mid is None or mid <= 0:
        return None
    signed = (price - mid) if side == "buy" else (mid - price)
    return (signed / mid * _BPS).quantize(Decimal("0.0001"))


def _stream_kind(market: Market) -> names.MarketKind:
    return "perp" if market == "FUT" else "spot"


async def latest_book_event(redis: RedisClient, market: Market, symbol: str) -> BookEvent | None:
    """Return the newest book event on the symbol's market stream, if any is recent in it."""
    entries = await redis.xrevrange(names.mkt_stream(_stream_kind(market), symbol), count=_SCAN)
    for _, fields in entries or ():
        raw = (fields or {}).get(PAYLOAD_FIELD)
        if raw is None:
            continue
        try:
            event = _MARKET_EVENT.decode(raw).event
        except (msgspec.ValidationError, msgspec.DecodeError):
            continue
        if isinstance(event, BookEvent):
            return event
    return None


async def book_snapshot(
    redis: RedisClient,
    exchange: Exchange,
    market: Market,
    symbol: str,
    *,
    now_ms: int,
    max_age_ms: int,
) -> BookSnapshot:
    """Return the book from S1's stream when fresh, else from the venue."""
    event = await latest_book_event(redis, market, symbol)
    if event is not None and not event.crossed and now_ms - event.recv_ts_ms <= max_age_ms:
        return BookSnapshot(bids=event.bids[:3], asks=event.asks[:3], ts_ms=event.recv_ts_ms)
    # Binance's raw depth endpoint, so prices stay the venue's strings (ccxt's are floats).
    request = {"symbol": symbol, "limit": 5}
    if market == "FUT":
        book = await exchange.fapiPublicGetDepth(request)
    else:
        book = await exchange.publicGetDepth(request)
    return BookSnapshot(
        bids=tuple((Decimal(p), Decimal(q)) for p, q, *_ in book["bids"][:3]),
        asks=tuple((Decimal(p), Decimal(q)) for p, q, *_ in book["asks"][:3]),
        ts_ms=now_ms,
    )


__all__ = ["BookSnapshot", "book_snapshot", "latest_book_event", "slippage_bps"]
