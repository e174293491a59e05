"""1-minute bars from trades, persisted to ``bars_1m`` (for S2's recompute and the daily regime).

A bar closes when a trade (or a book event: ``advance``) of a later minute arrives, by venue time.
Minutes without a trade have no bar. The first bar after S1 starts is ``complete = false``: trades
before the start may be missing. Writes are upserts keyed by (venue_kind, symbol, open_time); a
complete bar is never overwritten by an incomplete one, so a restart cannot degrade a stored bar.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from chimera.domain.market import Bar1m, TradeEvent
from chimera.names import MarketKind
from chimera_workers.errors import raise_if_cancelling

log = logging.getLogger("chimera.s1.bars")

MINUTE_MS = 60_000

UPSERT_BAR = """
INSERT INTO bars_1m (venue_kind, symbol, open_time, open, high, low, close, volume,
                     quote_volume, trade_count, first_trade_id, last_trade_id, complete)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (venue_kind, symbol, open_time) DO UPDATE SET
    open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
    volume = EXCLUDED.volume, quote_volume = EXCLUDED.quote_volume,
    trade_count = EXCLUDED.trade_count, first_trade_id = EXCLUDED.first_trade_id,
    last_trade_id = EXCLUDED.last_trade_id, complete = EXCLUDED.complete, updated_at = now()
WHERE EXCLUDED.complete OR NOT bars_1m.complete
"""


class _OpenBar:
    __slots__ = (
        "close",
        "count",
        "first_id",
        "high",
        "last_id",
        "low",
        "open",
        "open_time",
        "quote_volume",
        "volume",
    )

    def __init__(self, open_time: int, trade: TradeEvent) -> None:
        self.open_time = open_time
        self.open = self.high = self.low = self.close = trade.price
        self.volume = trade.qty
        self.quote_volume = trade.price * trade.qty
        self.count = 1
        self.first_id = self.last_id = trade.trade_id

    def add(self, trade: TradeEvent) -> None:
        price = trade.price
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.volume += trade.qty
        self.quote_volume += price * trade.qty
        self.count += 1
        self.last_id = trade.trade_id


class BarBuilder:
    """Aggregate one (kind, symbol)'s trades, in trade-id order, into 1-minute bars."""

    def __init__(
        self, kind: MarketKind, symbol: str, *, first_complete: bool = False, grace_ms: int = 2_000
    ) -> None:
        self.kind = kind
        self.symbol = symbol
        self.grace_ms = grace_ms
        self.late_trades = 0
        self._bar: _OpenBar | None = None
        self._closed_through = -1  # open_time of the newest closed bar
        self._complete = first_complete

    def add(self, trade: TradeEvent) -> Bar1m | None:
        """Add ``trade``; return the previous bar if this trade closed it.

        A trade of a minute already closed (later than ``grace_ms`` past it) is counted in
        ``late_trades`` and left out, so a stored bar is never replaced by a one-trade stub.
        """
        open_time = trade.ts_ms - trade.ts_ms % MINUTE_MS
        bar = self._bar
        if bar is not None and open_time <= bar.open_time:
            bar.add(trade)
            return None
        if open_time <= self._closed_through:
            self.late_trades += 1
            return None
        closed = self._close(bar) if bar is not None else None
        self._bar = _OpenBar(open_time, trade)
        return closed

    def advance(self, now_ms: int) -> Bar1m | None:
        """Close the open bar once venue time ``now_ms`` is ``grace_ms`` past its minute (book
        events advance time too, so a quiet market still closes its bars)."""
        bar = self._bar
        if bar is None or now_ms < bar.open_time + MINUTE_MS + self.grace_ms:
            return None
        self._bar = None
        return self._close(bar)

    def open_bar(self) -> Bar1m | None:
        """Return the bar still open (as incomplete), e.g. to persist it at shutdown."""
        bar = self._bar
        return None if bar is None else self._freeze(bar, complete=False)

    def _close(self, bar: _OpenBar) -> Bar1m:
        self._closed_through = bar.open_time
        frozen = self._freeze(bar, complete=self._complete)
        self._complete = True
        return frozen

    def _freeze(self, bar: _OpenBar, *, complete: bool) -> Bar1m:
        return Bar1m(
            kind=self.kind,
            symbol=self.symbol,
            open_time=bar.open_time,
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=bar.volume,
            quote_volume=bar.quote_volume,
            trade_count=bar.count,
            first_trade_id=bar.first_id,
            last_trade_id=bar.last_id,
            complete=complete,
        )


def bar_row(bar: Bar1m) -> tuple[object, ...]:
    """Return ``bar`` as the parameters of ``UPSERT_BAR``."""
    return (
        bar.kind, bar.symbol, bar.open_time, bar.open, bar.high, bar.low, bar.close, bar.volume,
        bar.quote_volume, bar.trade_count, bar.first_trade_id, bar.last_trade_id, bar.complete,
    )  # fmt: skip


class BarWriter:
    """Persist bars in the background so a slow database never stalls the market-data path."""

    def __init__(self, pool: asyncpg.Pool, *, retry_s: float = 1.0) -> None:
        self.pool = pool
        self.retry_s = retry_s
        self._queue: asyncio.Queue[Bar1m] = asyncio.Queue()
        self.written = 0

    def put(self, bar: Bar1m) -> None:
        """Queue ``bar`` for the upsert."""
        self._queue.put_nowait(bar)

    async def write(self, bars: list[Bar1m]) -> None:
        """Upsert ``bars`` in one transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.executemany(UPSERT_BAR, [bar_row(b) for b in bars])
        self.written += len(bars)

    async def run(self) -> None:
        """Write queued bars until cancelled; a failed write is retried, never dropped."""
        while True:
            bars = [await self._queue.get()]
            while not self._queue.empty():
                bars.append(self._queue.get_nowait())
            while True:
                try:
                    await self.write(bars)
                    break
                except (OSError, asyncpg.PostgresError) as exc:
                    raise_if_cancelling()
                    log.warning("writing %d bars failed, retrying: %s", len(bars), exc)
                    await asyncio.sleep(self.retry_s)

    async def drain(self) -> None:
        """Write whatever is queued (at shutdown)."""
        bars: list[Bar1m] = []
        while not self._queue.empty():
            bars.append(self._queue.get_nowait())
        if bars:
            await self.write(bars)
