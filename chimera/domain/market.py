"""The market events S1 publishes: books, trades, 1-minute bars and funding.

Prices and quantities are ``Decimal`` (JSON strings on the wire, so no float ever touches them).
Times are epoch milliseconds of the venue's event clock; ``recv_ts_ms`` is the local receive time.

A market stream (``mkt:events:{spot|perp}:<SYMBOL>``) carries several kinds of event. The runtime
gives every stream one payload Struct, so the stream's payload is the ``MarketEvent`` envelope whose
``event`` is a tagged union (JSON ``{"event": {"type": "book", ...}}``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from chimera.names import MarketKind

Level = tuple[Decimal, Decimal]
"""One price level: (price, quantity)."""

TakerSide = Literal["buy", "sell"]
FundingKind = Literal["next", "realized"]


class BookEvent(msgspec.Struct, frozen=True, tag="book"):
    """The local order book's top after an update: best quotes, mid, spread and top-N depth.

    ``crossed`` is a data-quality flag: the best bid is at or above the best ask (a corrupt or
    out-of-sync book). It is published, not dropped, so a consumer's DQC can see it.
    """

    kind: MarketKind
    symbol: str
    ts_ms: int
    recv_ts_ms: int
    update_id: int
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    mid: Decimal
    spread_bp: Decimal
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    crossed: bool = False


class TradeEvent(msgspec.Struct, frozen=True, tag="trade"):
    """One trade print; ``side`` is the taker's side. ``backfilled``: fetched over REST after a
    websocket gap rather than received live."""

    kind: MarketKind
    symbol: str
    trade_id: int
    price: Decimal
    qty: Decimal
    side: TakerSide
    ts_ms: int
    recv_ts_ms: int
    backfilled: bool = False


class Bar1m(msgspec.Struct, frozen=True, tag="bar1m"):
    """A 1-minute OHLCV bar built from trades; ``open_time`` is the minute's first millisecond.

    ``complete`` is false for a bar that may miss trades (the first minute after S1 started, or a
    minute still open at shutdown).
    """

    kind: MarketKind
    symbol: str
    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trade_count: int
    first_trade_id: int
    last_trade_id: int
    complete: bool


class MarketEvent(msgspec.Struct, frozen=True):
    """The payload of ``mkt:events:{spot|perp}:<SYMBOL>``: one book, trade or bar event."""

    event: BookEvent | TradeEvent | Bar1m


class FundingEvent(msgspec.Struct, frozen=True):
    """The payload of ``mkt:events:{funding}:<SYMBOL>`` and of ``funding:{next}:<symbol>``.

    ``next``: the current estimate of the rate to be settled at ``funding_time_ms``.
    ``realized``: the rate settled at ``funding_time_ms``; ``amount_usdt`` is this account's
    funding payment (positive received, negative paid) when the venue reported one.
    """

    kind: FundingKind
    symbol: str
    rate: Decimal
    funding_time_ms: int
    ts_ms: int
    mark_price: Decimal | None = None
    amount_usdt: Decimal | None = None
