"""Recent trades and one-minute bars per instrument, for Binance's trade and kline REST calls.

Trade ids are the ids of the websocket ``trade`` messages, so a client that missed messages can
backfill them with ``/historicalTrades?fromId=``. Aggregate trades are one per trade (same id).
"""

from __future__ import annotations

import bisect
from collections import deque
from decimal import Decimal

import msgspec

MINUTE_MS = 60_000


class TradeRecord(msgspec.Struct, frozen=True):
    """One printed trade, prices kept exactly as the market wrote them."""

    trade_id: int
    price: Decimal
    qty: Decimal
    time_ms: int
    buyer_is_maker: bool


class Bar(msgspec.Struct):
    """One OHLCV bar (mutable while its minute is open)."""

    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = Decimal(0)
    quote_volume: Decimal = Decimal(0)
    trades: int = 0
    taker_buy_volume: Decimal = Decimal(0)
    taker_buy_quote: Decimal = Decimal(0)


class TradeTape:
    """A ring buffer of the latest trades, searchable by id and time."""

    def __init__(self, capacity: int = 20_000) -> None:
        self._trades: deque[TradeRecord] = deque(maxlen=capacity)

    def append(self, trade: TradeRecord) -> None:
        self._trades.append(trade)

    def last(self) -> TradeRecord | None:
        return self._trades[-1] if self._trades else None

    def recent(self, limit: int) -> list[TradeRecord]:
        """Return the latest ``limit`` trades, oldest first."""
        n = len(self._trades)
        return [self._trades[i] for i in range(max(0, n - limit), n)]

    def from_id(self, from_id: int, limit: int) -> list[TradeRecord]:
        """Return up to ``limit`` trades with id >= ``from_id``, oldest first."""
        trades = self._trades
        lo = bisect.bisect_left(_IdView(trades), from_id)
        return [trades[i] for i in range(lo, min(len(trades), lo + limit))]

    def between(self, start_ms: int | None, end_ms: int | None, limit: int) -> list[TradeRecord]:
        """Return up to ``limit`` trades with start_ms <= time <= end_ms, oldest first."""
        out: list[TradeRecord] = []
        for trade in self._trades:
            if start_ms is not None and trade.time_ms < start_ms:
                continue
            if end_ms is not None and trade.time_ms > end_ms:
                break
            out.append(trade)
            if len(out) >= limit:
                break
        return out


class _IdView:
    """A read-only sequence of trade ids over the tape, for bisect."""

    def __init__(self, trades: deque[TradeRecord]) -> None:
        self._trades = trades

    def __len__(self) -> int:
        return len(self._trades)

    def __getitem__(self, index: int) -> int:
        return self._trades[index].trade_id


class BarSeries:
    """One-minute bars; minutes without trades get a flat bar at the previous close."""

    def __init__(self, capacity: int = 2 * 1440) -> None:
        self._bars: deque[Bar] = deque(maxlen=capacity)

    def add_trade(self, trade: TradeRecord) -> Bar:
        """Fold one trade into its minute's bar and return that bar."""
        minute = trade.time_ms - trade.time_ms % MINUTE_MS
        bars = self._bars
        if bars and minute < bars[-1].open_ms:
            minute = bars[-1].open_ms  # a late print (replay jitter) joins the open bar
        if bars:
            last = bars[-1]
            while last.open_ms < minute:
                close = last.close
                last = Bar(last.open_ms + MINUTE_MS, close, close, close, close)
                bars.append(last)
        else:
            p = trade.price
            bars.append(Bar(minute, p, p, p, p))
        bar = bars[-1]
        price, qty = trade.price, trade.qty
        bar.high = max(bar.high, price)
        bar.low = min(bar.low, price)
        bar.close = price
        bar.volume += qty
        bar.quote_volume += price * qty
        bar.trades += 1
        if not trade.buyer_is_maker:
            bar.taker_buy_volume += qty
            bar.taker_buy_quote += price * qty
        return bar

    def bars(
        self, start_ms: int | None, end_ms: int | None, limit: int, width_ms: int
    ) -> list[Bar]:
        """Return bars of ``width_ms`` (a multiple of a minute) aggregated from the 1m bars."""
        out: list[Bar] = []
        for bar in self._bars:
            open_ms = bar.open_ms - bar.open_ms % width_ms
            if start_ms is not None and open_ms < start_ms - start_ms % width_ms:
                continue
            if end_ms is not None and open_ms > end_ms:
                break
            if out and out[-1].open_ms == open_ms:
                agg = out[-1]
                agg.high = max(agg.high, bar.high)
                agg.low = min(agg.low, bar.low)
                agg.close = bar.close
                agg.volume += bar.volume
                agg.quote_volume += bar.quote_volume
                agg.trades += bar.trades
                agg.taker_buy_volume += bar.taker_buy_volume
                agg.taker_buy_quote += bar.taker_buy_quote
            else:
                if len(out) >= limit and start_ms is not None:
                    break
                out.append(msgspec.structs.replace(bar, open_ms=open_ms))
        return out[-limit:] if start_ms is None else out[:limit]

    def last_day(self, now_ms: int) -> list[Bar]:
        """Return the 1m bars of the 24 hours before ``now_ms``."""
        since = now_ms - 1440 * MINUTE_MS
        return [bar for bar in self._bars if bar.open_ms >= since]
