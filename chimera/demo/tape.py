"""Follow the market streams S1 writes and keep what the dashboard shows about each.

The tape reads each ``mkt:events:*`` stream forward from where it last stopped (XRANGE, no consumer
group, so it never disturbs the services) and tracks rates, the latest quotes and trade-id
continuity — a hole in trade ids is data S1 failed to deliver.
"""

from __future__ import annotations

import time
from decimal import Decimal

import msgspec

from chimera.domain.market import BookEvent, FundingEvent, MarketEvent, TradeEvent
from chimera_workers.codec import Fields, decode_entry
from chimera_workers.connections import RedisClient

_market = msgspec.json.Decoder(MarketEvent)
_funding = msgspec.json.Decoder(FundingEvent)


class StreamTape:
    """What the demo knows about one stream."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.last_id = b"0-0"
        self.total = 0
        self.rate = 0.0  # entries/s over the last refresh
        self.last_entry_ms = 0
        self.book: BookEvent | None = None
        self.funding: FundingEvent | None = None
        self.trades = 0
        self.backfilled = 0
        self.crossed = 0
        self.trade_holes = 0  # missing trade ids between consecutive trades
        self._last_trade_id: int | None = None

    def observe(self, entry_id: bytes, fields: Fields) -> None:
        self.total += 1
        self.last_entry_ms = int(entry_id.split(b"-", 1)[0])
        if self.name.startswith("mkt:events:{funding}"):
            self.funding = decode_entry(_funding, self.name, entry_id.decode(), fields)
            return
        event = decode_entry(_market, self.name, entry_id.decode(), fields).event
        if isinstance(event, BookEvent):
            self.book = event
            self.crossed += event.crossed
        elif isinstance(event, TradeEvent):
            self.trades += 1
            self.backfilled += event.backfilled
            last = self._last_trade_id
            if last is not None and event.trade_id > last + 1:
                self.trade_holes += event.trade_id - last - 1
            if last is None or event.trade_id > last:
                self._last_trade_id = event.trade_id

    @property
    def mid(self) -> Decimal | None:
        return self.book.mid if self.book else None

    @property
    def spread_bp(self) -> Decimal | None:
        return self.book.spread_bp if self.book else None


class MarketTape:
    """Every market stream's ``StreamTape``, refreshed by ``poll``."""

    def __init__(self, streams: list[str], *, batch: int = 5000) -> None:
        self.tapes = {name: StreamTape(name) for name in streams}
        self._batch = batch
        self._polled_at = time.monotonic()

    async def poll(self, redis: RedisClient) -> None:
        """Read every stream forward; update counts, quotes and per-second rates."""
        now = time.monotonic()
        elapsed = max(now - self._polled_at, 1e-3)
        self._polled_at = now
        for tape in self.tapes.values():
            before = tape.total
            while True:
                rows: list[tuple[bytes, Fields]] = await redis.xrange(  # type: ignore[assignment]
                    tape.name, b"(" + tape.last_id, b"+", count=self._batch
                )
                for entry_id, fields in rows:
                    tape.observe(entry_id, fields)
                    tape.last_id = entry_id
                if len(rows) < self._batch:
                    break
            tape.rate = (tape.total - before) / elapsed

    async def skip_history(self, redis: RedisClient) -> None:
        """Start from each stream's end, so the run's counts are this run's."""
        for tape in self.tapes.values():
            last: list[tuple[bytes, Fields]] = await redis.xrevrange(  # type: ignore[assignment]
                tape.name, count=1
            )
            if last:
                tape.last_id = last[0][0]
