"""Rolling 24-hour statistics, in the shapes of Binance's ``/ticker/24hr`` and ``@ticker``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from chimera.paper.book import L2Book
from chimera.paper.market.events import fmt
from chimera.paper.market.tape import BarSeries, TradeTape
from chimera.paper.markets import VenueKind

_ZERO = Decimal(0)


class DayStats(msgspec.Struct, frozen=True):
    """24 h figures of one instrument."""

    open: Decimal
    high: Decimal
    low: Decimal
    last: Decimal
    last_qty: Decimal
    volume: Decimal
    quote_volume: Decimal
    count: int
    open_ms: int
    close_ms: int
    first_id: int
    last_id: int


def day_stats(tape: TradeTape, bars: BarSeries, now_ms: int) -> DayStats:
    """Return the 24 h stats from the 1m bars and the latest trade (zeros before any trade)."""
    day = bars.last_day(now_ms)
    last = tape.last()
    if not day or last is None:
        return DayStats(_ZERO, _ZERO, _ZERO, _ZERO, _ZERO, _ZERO, _ZERO, 0, now_ms, now_ms, -1, -1)
    count = sum(b.trades for b in day)
    return DayStats(
        open=day[0].open,
        high=max(b.high for b in day),
        low=min(b.low for b in day),
        last=last.price,
        last_qty=last.qty,
        volume=sum((b.volume for b in day), _ZERO),
        quote_volume=sum((b.quote_volume for b in day), _ZERO),
        count=count,
        open_ms=max(day[0].open_ms, now_ms - 86_400_000),
        close_ms=now_ms,
        first_id=last.trade_id - count + 1,
        last_id=last.trade_id,
    )


def _change(stats: DayStats) -> tuple[str, str, str]:
    change = stats.last - stats.open
    pct = (change / stats.open * 100).quantize(Decimal("0.001")) if stats.open else _ZERO
    wavg = (
        (stats.quote_volume / stats.volume).quantize(Decimal("0.00000001"))
        if stats.volume
        else _ZERO
    )
    return fmt(change), fmt(pct), fmt(wavg)


# The websocket ``24hrTicker`` name of each ``/ticker/24hr`` figure (same figures, same order).
_WS_NAMES = {
    "priceChange": "p", "priceChangePercent": "P", "weightedAvgPrice": "w",
    "prevClosePrice": "x", "bidPrice": "b", "bidQty": "B", "askPrice": "a", "askQty": "A",
    "lastPrice": "c", "lastQty": "Q", "openPrice": "o", "highPrice": "h", "lowPrice": "l",
    "volume": "v", "quoteVolume": "q", "openTime": "O", "closeTime": "C", "firstId": "F",
    "lastId": "L", "count": "n",
}  # fmt: skip


def _figures(kind: VenueKind, stats: DayStats, book: L2Book) -> dict[str, Any]:
    """Return a ticker's figures under their REST names, in Binance's order (spot adds a few)."""
    change, pct, wavg = _change(stats)
    out: dict[str, Any] = {
        "priceChange": change,
        "priceChangePercent": pct,
        "weightedAvgPrice": wavg,
    }
    if kind == "spot":
        bid = book.best_bid() or (_ZERO, _ZERO)
        ask = book.best_ask() or (_ZERO, _ZERO)
        out.update(
            prevClosePrice=fmt(stats.open),
            bidPrice=fmt(bid[0]),
            bidQty=fmt(bid[1]),
            askPrice=fmt(ask[0]),
            askQty=fmt(ask[1]),
        )
    out.update(
        lastPrice=fmt(stats.last),
        lastQty=fmt(stats.last_qty),
        openPrice=fmt(stats.open),
        highPrice=fmt(stats.high),
        lowPrice=fmt(stats.low),
        volume=fmt(stats.volume),
        quoteVolume=fmt(stats.quote_volume),
        openTime=stats.open_ms,
        closeTime=stats.close_ms,
        firstId=stats.first_id,
        lastId=stats.last_id,
        count=stats.count,
    )
    return out


def rest_ticker(kind: VenueKind, symbol: str, stats: DayStats, book: L2Book) -> dict[str, Any]:
    """Return one ``/ticker/24hr`` entry."""
    return {"symbol": symbol, **_figures(kind, stats, book)}


def ws_ticker(
    kind: VenueKind, symbol: str, stats: DayStats, book: L2Book, now_ms: int
) -> dict[str, Any]:
    """Return one ``24hrTicker`` websocket event."""
    out: dict[str, Any] = {"e": "24hrTicker", "E": now_ms, "s": symbol}
    out.update((_WS_NAMES[name], value) for name, value in _figures(kind, stats, book).items())
    return out


def ws_mini_ticker(symbol: str, stats: DayStats, now_ms: int) -> dict[str, Any]:
    """Return one ``24hrMiniTicker`` websocket event."""
    return {
        "e": "24hrMiniTicker",
        "E": now_ms,
        "s": symbol,
        "c": fmt(stats.last),
        "o": fmt(stats.open),
        "h": fmt(stats.high),
        "l": fmt(stats.low),
        "v": fmt(stats.volume),
        "q": fmt(stats.quote_volume),
    }
