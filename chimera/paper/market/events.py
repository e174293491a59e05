"""Market events as the venue moves them: the raw Binance JSON plus its decoded payload.

A replayed capture keeps each message's JSON bytes untouched (``data``) so websocket clients get
Binance's own text; the decoded payload (``parsed``) is what the hub applies to its books.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import msgspec

from chimera.paper.markets import VenueKind

Channel = Literal["depth", "trade", "bookTicker", "markPrice"]
PriceLevel = tuple[Decimal, Decimal]


class DepthUpdate(msgspec.Struct, frozen=True):
    """Binance ``depthUpdate``: absolute quantities per level; ``pu`` on futures only."""

    s: str
    U: int
    u: int
    b: list[PriceLevel]
    a: list[PriceLevel]
    E: int = 0
    T: int | None = None
    pu: int | None = None


class TradeMsg(msgspec.Struct, frozen=True):
    """Binance ``trade``: ``m`` is true when the buyer was the maker (a sell hit the bid)."""

    s: str
    t: int
    p: Decimal
    q: Decimal
    m: bool
    E: int = 0
    T: int = 0


class BookTickerMsg(msgspec.Struct, frozen=True):
    """Binance ``bookTicker`` (spot's has no event type or times)."""

    s: str
    u: int
    b: Decimal
    B: Decimal
    a: Decimal
    A: Decimal
    E: int | None = None
    T: int | None = None


class MarkPriceMsg(msgspec.Struct, frozen=True):
    """Binance futures ``markPriceUpdate``: mark ``p``, index ``i``, funding ``r`` due ``T``."""

    s: str
    p: Decimal
    r: Decimal
    T: int
    E: int = 0
    i: Decimal | None = None
    P: Decimal | None = None


Payload = DepthUpdate | TradeMsg | BookTickerMsg | MarkPriceMsg

DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    "depth": msgspec.json.Decoder(DepthUpdate),
    "trade": msgspec.json.Decoder(TradeMsg),
    "bookTicker": msgspec.json.Decoder(BookTickerMsg),
    "markPrice": msgspec.json.Decoder(MarkPriceMsg),
}


class MarketEvent(msgspec.Struct, frozen=True):
    """One market message at venue time ``ts_ms``; ``stream`` is its Binance stream name."""

    ts_ms: int
    kind: VenueKind
    symbol: str
    channel: Channel
    stream: str
    data: bytes
    parsed: Payload


class BookSnapshot(msgspec.Struct, frozen=True):
    """A REST depth snapshot a replay starts its book from."""

    ts_ms: int
    kind: VenueKind
    symbol: str
    last_update_id: int
    bids: list[PriceLevel]
    asks: list[PriceLevel]


class SnapshotMsg(msgspec.Struct, frozen=True):
    """Binance's REST ``/depth`` answer as it sits in a capture."""

    lastUpdateId: int
    bids: list[PriceLevel]
    asks: list[PriceLevel]
    E: int | None = None
    T: int | None = None


SourceItem = MarketEvent | BookSnapshot


def fmt(value: Decimal) -> str:
    """Write a Decimal as Binance does: plain digits, never exponent notation."""
    return format(value, "f")
