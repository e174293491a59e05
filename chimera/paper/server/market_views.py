"""Market-data REST answers shared by the spot and USDⓈ-M paths (their shapes differ slightly)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import web

from chimera.paper.market.events import fmt
from chimera.paper.market.hub import MarketHub
from chimera.paper.market.tape import MINUTE_MS, TradeRecord
from chimera.paper.market.ticker import day_stats, rest_ticker
from chimera.paper.markets import VenueKind
from chimera.paper.server.errors import INVALID_INTERVAL, BinanceRequestError
from chimera.paper.server.keys import HUB
from chimera.paper.server.query import int_param, limit_param, optional_symbol, symbol_param

_encode = msgspec.json.Encoder().encode
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MarketView = Callable[[web.Request, MarketHub, VenueKind], web.Response]
_INTERVALS_MIN = {
    "1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240,
    "6h": 360, "8h": 480, "12h": 720, "1d": 1440,
}  # fmt: skip


def json_response(body: Any) -> web.Response:
    """Return ``body`` as Binance-style JSON."""
    return web.Response(body=_encode(body), content_type="application/json")


def handler(view: MarketView, kind: VenueKind) -> Handler:
    """Return an aiohttp handler answering ``view`` for the ``kind`` market of the app's hub."""

    async def handle(request: web.Request) -> web.StreamResponse:
        return view(request, request.app[HUB], kind)

    return handle


async def ping(request: web.Request) -> web.Response:
    """Answer ``/ping``."""
    return json_response({})


async def server_time(request: web.Request) -> web.Response:
    """Answer ``/time``: the venue clock."""
    return json_response({"serverTime": request.app[HUB].clock.now_ms()})


def depth(request: web.Request, hub: MarketHub, kind: VenueKind) -> web.Response:
    """Answer ``/depth``: the hub's book, ``lastUpdateId`` = the last diff's ``u`` sent."""
    symbol = symbol_param(request, hub, kind)
    limit = limit_param(request, 100, 5000 if kind == "spot" else 1000)
    book = hub.book(kind, symbol)
    body: dict[str, Any] = {"lastUpdateId": book.last_update_id}
    if kind == "perp":
        now = hub.clock.now_ms()
        body.update(E=now, T=now)
    body["bids"] = [[fmt(p), fmt(q)] for p, q in book.bids(limit)]
    body["asks"] = [[fmt(p), fmt(q)] for p, q in book.asks(limit)]
    return json_response(body)


def _trade_row(kind: VenueKind, t: TradeRecord) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": t.trade_id,
        "price": fmt(t.price),
        "qty": fmt(t.qty),
        "quoteQty": fmt(t.price * t.qty),
        "time": t.time_ms,
        "isBuyerMaker": t.buyer_is_maker,
    }
    if kind == "spot":
        row["isBestMatch"] = True
    return row


def trades(request: web.Request, hub: MarketHub, kind: VenueKind) -> web.Response:
    """Answer ``/trades`` (latest) and ``/historicalTrades`` (from ``fromId``)."""
    symbol = symbol_param(request, hub, kind)
    limit = limit_param(request, 500, 1000)
    tape = hub.tape(kind, symbol)
    from_id = int_param(request, "fromId")
    rows = tape.recent(limit) if from_id is None else tape.from_id(from_id, limit)
    return json_response([_trade_row(kind, t) for t in rows])


def agg_trades(request: web.Request, hub: MarketHub, kind: VenueKind) -> web.Response:
    """Answer ``/aggTrades``: one aggregate per trade, aggregate id = trade id."""
    symbol = symbol_param(request, hub, kind)
    limit = limit_param(request, 500, 1000)
    tape = hub.tape(kind, symbol)
    from_id = int_param(request, "fromId")
    start, end = int_param(request, "startTime"), int_param(request, "endTime")
    if from_id is not None:
        rows = tape.from_id(from_id, limit)
    elif start is not None or end is not None:
        rows = tape.between(start, end, limit)
    else:
        rows = tape.recent(limit)
    out = []
    for t in rows:
        row: dict[str, Any] = {
            "a": t.trade_id,
            "p": fmt(t.price),
            "q": fmt(t.qty),
            "f": t.trade_id,
            "l": t.trade_id,
            "T": t.time_ms,
            "m": t.buyer_is_maker,
        }
        if kind == "spot":
            row["M"] = True
        out.append(row)
    return json_response(out)


def klines(request: web.Request, hub: MarketHub, kind: VenueKind) -> web.Response:
    """Answer ``/klines`` from the hub's one-minute bars."""
    symbol = symbol_param(request, hub, kind)
    interval = request.query.get("interval", "")
    minutes = _INTERVALS_MIN.get(interval)
    if minutes is None:
        raise BinanceRequestError(400, INVALID_INTERVAL, "Invalid interval.")
    limit = limit_param(request, 500, 1000 if kind == "spot" else 1500)
    width = minutes * MINUTE_MS
    start, end = int_param(request, "startTime"), int_param(request, "endTime")
    bars = hub.bars(kind, symbol).bars(start, end, limit, width)
    return json_response(
        [
            [
                b.open_ms,
                fmt(b.open),
                fmt(b.high),
                fmt(b.low),
                fmt(b.close),
                fmt(b.volume),
                b.open_ms + width - 1,
                fmt(b.quote_volume),
                b.trades,
                fmt(b.taker_buy_volume),
                fmt(b.taker_buy_quote),
                "0",
            ]
            for b in bars
        ]
    )


def _one_or_all(request: web.Request, hub: MarketHub, kind: VenueKind) -> list[str] | str:
    symbol = optional_symbol(request, hub, kind)
    if symbol is not None:
        return symbol
    return [s.symbol for s in hub.specs(kind)]


def ticker_24hr(request: web.Request, hub: MarketHub, kind: VenueKind) -> web.Response:
    """Answer ``/ticker/24hr`` for one symbol or all."""
    now = hub.clock.now_ms()

    def entry(symbol: str) -> dict[str, Any]:
        stats = day_stats(hub.tape(kind, symbol), hub.bars(kind, symbol), now)
        return rest_ticker(kind, symbol, stats, hub.book(kind, symbol))

    which = _one_or_all(request, hub, kind)
    return json_response(entry(which) if isinstance(which, str) else [entry(s) for s in which])


def ticker_price(request: web.Request, hub: MarketHub, kind: VenueKind) -> web.Response:
    """Answer ``/ticker/price``: the last trade price (the mid before any trade)."""
    now = hub.clock.now_ms()

    def entry(symbol: str) -> dict[str, Any]:
        last = hub.tape(kind, symbol).last()
        price = last.price if last else (hub.book(kind, symbol).mid() or Decimal(0))
        row: dict[str, Any] = {"symbol": symbol, "price": fmt(price)}
        if kind == "perp":
            row["time"] = now
        return row

    which = _one_or_all(request, hub, kind)
    return json_response(entry(which) if isinstance(which, str) else [entry(s) for s in which])


def ticker_book(request: web.Request, hub: MarketHub, kind: VenueKind) -> web.Response:
    """Answer ``/ticker/bookTicker``: best bid and ask."""
    now = hub.clock.now_ms()
    zero = (Decimal(0), Decimal(0))

    def entry(symbol: str) -> dict[str, Any]:
        book = hub.book(kind, symbol)
        bid, ask = book.best_bid() or zero, book.best_ask() or zero
        row: dict[str, Any] = {"symbol": symbol}
        row.update(bidPrice=fmt(bid[0]), bidQty=fmt(bid[1]), askPrice=fmt(ask[0]))
        row["askQty"] = fmt(ask[1])
        if kind == "perp":
            row.update(time=now, lastUpdateId=book.last_update_id)
        return row

    which = _one_or_all(request, hub, kind)
    return json_response(entry(which) if isinstance(which, str) else [entry(s) for s in which])
