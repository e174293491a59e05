"""Keep each symbol's trade ids contiguous: fill holes over REST, drop repeats.

Binance numbers each symbol's trades consecutively. A live trade whose id is past the last one
seen plus one means trades were missed (typically while the websocket reconnected): they are
fetched with ``historicalTrades?fromId=<last + 1>`` and published, in id order, before the live
one. After a restart the last id comes from the newest trade on the market stream, so the hole
left by the downtime is filled too (up to ``max_backfill`` trades; a larger hole is logged and
skipped rather than stalling live data for minutes).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from chimera.domain.market import TradeEvent
from chimera.names import MarketKind
from chimera.venues.binance_wire import RestTrade, rest_trade_event

log = logging.getLogger("chimera.s1.backfill")

TradeFetcher = Callable[[MarketKind, str, int], Awaitable[list[RestTrade]]]
"""Fetch trades of (kind, symbol) with id >= from_id, oldest first."""


class TradeSequencer:
    """One (kind, symbol)'s trade-id continuity and its backfill."""

    def __init__(
        self,
        kind: MarketKind,
        symbol: str,
        fetch: TradeFetcher,
        *,
        last_id: int | None = None,
        max_backfill: int = 50_000,
    ) -> None:
        self.kind = kind
        self.symbol = symbol
        self.fetch = fetch
        self.last_id = last_id
        self.max_backfill = max_backfill
        self.backfilled = 0
        self.duplicates = 0
        self.skipped = 0

    async def admit(self, trade: TradeEvent) -> list[TradeEvent]:
        """Return the trades to publish for live ``trade``: missed ones first, then ``trade``.

        Empty when ``trade`` was already published (a repeat after a reconnect).
        """
        last = self.last_id
        tid = trade.trade_id
        if last is not None and tid <= last:
            self.duplicates += 1
            return []
        if last is None or tid == last + 1:
            self.last_id = tid
            return [trade]
        missing = tid - last - 1
        if missing > self.max_backfill:
            log.warning(
                "%s %s: %d trades missed (ids %d..%d), more than max_backfill=%d: not filled",
                self.kind, self.symbol, missing, last + 1, tid - 1, self.max_backfill,
            )  # fmt: skip
            self.skipped += missing
            self.last_id = tid
            return [trade]
        out = await self._fill(last + 1, tid - 1, trade.recv_ts_ms)
        self.last_id = tid
        out.append(trade)
        return out

    async def _fill(self, first: int, last: int, recv_ts_ms: int) -> list[TradeEvent]:
        out: list[TradeEvent] = []
        next_id = first
        while next_id <= last:
            page = await self.fetch(self.kind, self.symbol, next_id)
            page = [t for t in page if next_id <= t.id <= last]
            if not page or page[0].id != next_id:
                # The venue no longer has them (too old): say so instead of publishing a hole.
                log.warning(
                    "%s %s: venue returned no trade %d; %d trades up to %d not filled",
                    self.kind, self.symbol, next_id, last - next_id + 1, last,
                )  # fmt: skip
                self.skipped += last - next_id + 1
                break
            for t in page:
                if t.id != next_id:
                    break
                out.append(rest_trade_event(self.kind, self.symbol, t, recv_ts_ms))
                next_id += 1
        self.backfilled += len(out)
        if out:
            log.info(
                "%s %s: backfilled %d trades (ids %d..%d)",
                self.kind, self.symbol, len(out), first, out[-1].trade_id,
            )  # fmt: skip
        return out
