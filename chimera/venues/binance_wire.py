"""Binance's raw market-data messages (websocket and REST), exactly as the venue sends them.

Venue wire shapes stay in this module: the services decode with the one reusable decoder per
message type below and convert to the internal Structs of ``chimera.domain.market`` here, at the
edge. Prices and quantities arrive as JSON strings and are decoded straight into ``Decimal``.
Unknown fields are ignored (Binance adds fields over time); missing or mistyped ones are errors.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
from msgspec import field

from chimera.domain.market import TradeEvent
from chimera.names import MarketKind

WireLevel = tuple[Decimal, Decimal]


class CombinedEnvelope(msgspec.Struct, frozen=True):
    """A combined-stream frame: ``{"stream": "btcusdt@trade", "data": {...}}``."""

    stream: str
    data: msgspec.Raw


class DepthUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """``depthUpdate``: absolute quantities for changed levels over update ids ``U``..``u``.

    Futures also carry ``pu`` (the previous event's ``u``) and ``T`` (transaction time).
    """

    event_time: int = field(name="E")
    symbol: str = field(name="s")
    first_update_id: int = field(name="U")
    final_update_id: int = field(name="u")
    bids: list[WireLevel] = field(name="b")
    asks: list[WireLevel] = field(name="a")
    transaction_time: int | None = field(default=None, name="T")
    prev_final_update_id: int | None = field(default=None, name="pu")


class Trade(msgspec.Struct, frozen=True, kw_only=True):
    """``trade``: one trade; ``buyer_is_maker`` means the taker sold. Futures add ``X``."""

    event_time: int = field(name="E")
    trade_time: int = field(name="T")
    symbol: str = field(name="s")
    trade_id: int = field(name="t")
    price: Decimal = field(name="p")
    qty: Decimal = field(name="q")
    buyer_is_maker: bool = field(name="m")
    trade_type: str = field(default="MARKET", name="X")


class AggTrade(msgspec.Struct, frozen=True, kw_only=True):
    """``aggTrade``: trades of one taker order at one price, trade ids ``f``..``l``."""

    event_time: int = field(name="E")
    trade_time: int = field(name="T")
    symbol: str = field(name="s")
    agg_id: int = field(name="a")
    price: Decimal = field(name="p")
    qty: Decimal = field(name="q")
    first_trade_id: int = field(name="f")
    last_trade_id: int = field(name="l")
    buyer_is_maker: bool = field(name="m")


class BookTicker(msgspec.Struct, frozen=True, kw_only=True):
    """``bookTicker``: best bid/ask at update id ``u`` (spot sends no ``e``/``E``/``T``)."""

    update_id: int = field(name="u")
    symbol: str = field(name="s")
    bid: Decimal = field(name="b")
    bid_qty: Decimal = field(name="B")
    ask: Decimal = field(name="a")
    ask_qty: Decimal = field(name="A")
    event_time: int | None = field(default=None, name="E")
    transaction_time: int | None = field(default=None, name="T")


class MarkPriceUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """``markPriceUpdate`` (futures): mark price, current funding rate ``r``, next funding ``T``."""

    event_time: int = field(name="E")
    symbol: str = field(name="s")
    mark_price: Decimal = field(name="p")
    funding_rate: Decimal = field(name="r")
    next_funding_time: int = field(name="T")
    index_price: Decimal | None = field(default=None, name="i")


class KlineBody(msgspec.Struct, frozen=True, kw_only=True):
    """The ``k`` object of a kline event."""

    open_time: int = field(name="t")
    close_time: int = field(name="T")
    interval: str = field(name="i")
    first_trade_id: int = field(name="f")
    last_trade_id: int = field(name="L")
    open: Decimal = field(name="o")
    close: Decimal = field(name="c")
    high: Decimal = field(name="h")
    low: Decimal = field(name="l")
    volume: Decimal = field(name="v")
    trade_count: int = field(name="n")
    closed: bool = field(name="x")
    quote_volume: Decimal = field(name="q")


class Kline(msgspec.Struct, frozen=True, kw_only=True):
    """``kline``: the current candle of one interval."""

    event_time: int = field(name="E")
    symbol: str = field(name="s")
    kline: KlineBody = field(name="k")


# --- REST -------------------------------------------------------------------------------------
class DepthSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /api/v3/depth`` or ``/fapi/v1/depth``: the book as of ``lastUpdateId``."""

    last_update_id: int = field(name="lastUpdateId")
    bids: list[WireLevel]
    asks: list[WireLevel]
    event_time: int | None = field(default=None, name="E")
    transaction_time: int | None = field(default=None, name="T")


class RestTrade(msgspec.Struct, frozen=True, kw_only=True):
    """One element of ``GET .../trades`` or ``.../historicalTrades``."""

    id: int
    price: Decimal
    qty: Decimal
    time: int
    is_buyer_maker: bool = field(name="isBuyerMaker")


class PremiumIndex(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /fapi/v1/premiumIndex?symbol=``: mark price and the next funding."""

    symbol: str
    mark_price: Decimal = field(name="markPrice")
    last_funding_rate: Decimal = field(name="lastFundingRate")
    next_funding_time: int = field(name="nextFundingTime")
    time: int


class FundingRateRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One element of ``GET /fapi/v1/fundingRate``: a settled funding."""

    symbol: str
    funding_rate: Decimal = field(name="fundingRate")
    funding_time: int = field(name="fundingTime")
    mark_price: Decimal | None = field(default=None, name="markPrice")


class IncomeRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One element of ``GET /fapi/v1/income`` (signed): e.g. a ``FUNDING_FEE`` payment."""

    symbol: str
    income_type: str = field(name="incomeType")
    income: Decimal
    asset: str
    time: int


class VenueErrorBody(msgspec.Struct, frozen=True):
    """Binance's error body: ``{"code": -1121, "msg": "Invalid symbol."}``."""

    code: int
    msg: str


ENVELOPE = msgspec.json.Decoder(CombinedEnvelope)
DEPTH_UPDATE = msgspec.json.Decoder(DepthUpdate)
TRADE = msgspec.json.Decoder(Trade)
AGG_TRADE = msgspec.json.Decoder(AggTrade)
BOOK_TICKER = msgspec.json.Decoder(BookTicker)
MARK_PRICE = msgspec.json.Decoder(MarkPriceUpdate)
KLINE = msgspec.json.Decoder(Kline)
DEPTH_SNAPSHOT = msgspec.json.Decoder(DepthSnapshot)
REST_TRADES = msgspec.json.Decoder(list[RestTrade])
PREMIUM_INDEX = msgspec.json.Decoder(PremiumIndex)
FUNDING_RATES = msgspec.json.Decoder(list[FundingRateRecord])
INCOME = msgspec.json.Decoder(list[IncomeRecord])
VENUE_ERROR = msgspec.json.Decoder(VenueErrorBody)


def stream_channel(stream: str) -> tuple[str, str]:
    """Split a combined-stream name into (SYMBOL, channel): ``btcusdt@depth@100ms`` ->
    ``("BTCUSDT", "depth")``; ``btcusdt@markPrice@1s`` -> ``("BTCUSDT", "markPrice")``."""
    symbol, _, rest = stream.partition("@")
    channel = rest.split("@", 1)[0]
    return symbol.upper(), channel


def trade_event(kind: MarketKind, trade: Trade, recv_ts_ms: int) -> TradeEvent:
    """Convert a websocket trade into the internal ``TradeEvent``."""
    return TradeEvent(
        kind=kind,
        symbol=trade.symbol,
        trade_id=trade.trade_id,
        price=trade.price,
        qty=trade.qty,
        side="sell" if trade.buyer_is_maker else "buy",
        ts_ms=trade.trade_time,
        recv_ts_ms=recv_ts_ms,
    )


def rest_trade_event(
    kind: MarketKind, symbol: str, trade: RestTrade, recv_ts_ms: int
) -> TradeEvent:
    """Convert a REST trade (fetched to fill a gap) into a backfilled ``TradeEvent``."""
    return TradeEvent(
        kind=kind,
        symbol=symbol,
        trade_id=trade.id,
        price=trade.price,
        qty=trade.qty,
        side="sell" if trade.is_buyer_maker else "buy",
        ts_ms=trade.time,
        recv_ts_ms=recv_ts_ms,
        backfilled=True,
    )
