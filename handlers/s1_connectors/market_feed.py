"""One market's (spot or perp) raw websocket messages -> books, trades, bars, funding -> streams.

Per symbol: an ``OrderBookSync`` (resynced from a REST snapshot in the background whenever it
needs one), a ``BookNormalizer``, a ``TradeSequencer`` (backfills trade-id holes over REST, inline,
so trades stay in id order) and a ``BarBuilder``.

Undecodable venue messages are counted and logged, never fatal, and need no special recovery: a
lost depth diff breaks the id chain (the next diff triggers a resync) and a lost trade leaves an
id hole (the next trade triggers a backfill).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import msgspec

from chimera.domain.market import Bar1m, MarketEvent, TradeEvent
from chimera.names import MarketKind, mkt_stream
from chimera.venues import binance_wire as wire
from chimera_workers.errors import cancel_and_wait, raise_if_cancelling
from handlers.s1_connectors.backfill import TradeFetcher, TradeSequencer
from handlers.s1_connectors.bars import BarBuilder
from handlers.s1_connectors.config import ConnectorConfig
from handlers.s1_connectors.funding import FundingTracker
from handlers.s1_connectors.normalizer import BookNormalizer
from handlers.s1_connectors.order_book import (
    OrderBookSync,
    SequenceGap,
    SnapshotFetcher,
    SyncState,
    resync,
)
from handlers.s1_connectors.publisher import StreamPublisher
from handlers.s1_connectors.venue_api import VenueError

log = logging.getLogger("chimera.s1.feed")


class SymbolFeed:
    """Everything S1 keeps for one symbol on one market."""

    def __init__(
        self,
        kind: MarketKind,
        symbol: str,
        config: ConnectorConfig,
        fetch_trades: TradeFetcher,
        last_trade_id: int | None,
    ) -> None:
        self.symbol = symbol
        self.stream = mkt_stream(kind, symbol)
        self.book = OrderBookSync(kind, symbol)
        self.normalizer = BookNormalizer(
            kind, symbol, depth_levels=config.depth_levels, debounce_ms=config.debounce_ms
        )
        self.trades = TradeSequencer(
            kind, symbol, fetch_trades, last_id=last_trade_id, max_backfill=config.max_backfill
        )
        self.bars = BarBuilder(kind, symbol)
        self.resync_task: asyncio.Task[None] | None = None
        self.resyncs = 0


class MarketFeed:
    """The ``StreamHandler`` of one market's combined-stream connection."""

    def __init__(
        self,
        kind: MarketKind,
        config: ConnectorConfig,
        publisher: StreamPublisher,
        fetch_snapshot: SnapshotFetcher,
        fetch_trades: TradeFetcher,
        *,
        on_bar: Callable[[Bar1m], None] | None = None,
        funding: dict[str, FundingTracker] | None = None,
        last_trade_ids: dict[str, int] | None = None,
        resync_retry_s: float = 0.5,
    ) -> None:
        self.kind = kind
        self.config = config
        self.publisher = publisher
        self.fetch_snapshot = fetch_snapshot
        self.on_bar = on_bar
        self.funding = funding or {}
        self.resync_retry_s = resync_retry_s
        ids = last_trade_ids or {}
        self.symbols = {
            s: SymbolFeed(kind, s, config, fetch_trades, ids.get(s)) for s in config.symbols
        }
        self.messages = 0
        self.bad_messages = 0
        self.last_rtt_ms: float | None = None

    def stream_names(self) -> list[str]:
        """Return the combined-stream names to subscribe to."""
        depth = f"depth@{self.config.depth_speed}" if self.config.depth_speed else "depth"
        names: list[str] = []
        for symbol in self.config.symbols:
            s = symbol.lower()
            names += [f"{s}@{depth}", f"{s}@trade"]
            if self.kind == "perp" and self.config.funding:
                names.append(f"{s}@markPrice@1s")
        return names

    # --- StreamHandler ---------------------------------------------------------------------
    async def on_connect(self, reconnect: bool) -> None:
        """Start (or restart, after a reconnect lost diffs) every book from a snapshot."""
        for feed in self.symbols.values():
            if reconnect:
                feed.book.invalidate()
            self._ensure_resync(feed)

    def on_rtt(self, rtt_ms: float) -> None:
        self.last_rtt_ms = rtt_ms

    async def on_message(self, raw: str | bytes, recv_ns: int) -> None:
        """Decode one combined-stream frame and publish what it yields."""
        self.messages += 1
        try:
            env = wire.ENVELOPE.decode(raw)
            symbol, channel = wire.stream_channel(env.stream)
            feed = self.symbols.get(symbol)
            if feed is None:
                return
            recv_ms = recv_ns // 1_000_000
            if channel == "depth":
                self._on_depth(feed, wire.DEPTH_UPDATE.decode(env.data), recv_ms)
            elif channel == "trade":
                trade = wire.TRADE.decode(env.data)
                await self._on_trade(feed, wire.trade_event(self.kind, trade, recv_ms))
            elif channel == "markPrice":
                tracker = self.funding.get(symbol)
                if tracker is not None:
                    tracker.on_mark_price(wire.MARK_PRICE.decode(env.data))
        except msgspec.DecodeError as exc:  # ValidationError included
            self.bad_messages += 1
            if self.bad_messages <= 10 or self.bad_messages % 1000 == 0:
                log.warning(
                    "%s: undecodable message #%d: %s: %.200r",
                    self.kind,
                    self.bad_messages,
                    exc,
                    raw,
                )

    # --- books -----------------------------------------------------------------------------
    def _on_depth(self, feed: SymbolFeed, diff: wire.DepthUpdate, recv_ms: int) -> None:
        try:
            applied = feed.book.apply(diff)
        except SequenceGap as exc:
            log.warning("%s", exc)
            self._ensure_resync(feed)
            return
        if not applied:
            return
        event = feed.normalizer.book_event(feed.book, diff, recv_ms)
        if event is not None:
            self.publisher.add(feed.stream, MarketEvent(event))
            self._bar_closed(feed, feed.bars.advance(event.ts_ms))

    def _ensure_resync(self, feed: SymbolFeed) -> None:
        if feed.resync_task is None or feed.resync_task.done():
            feed.resync_task = asyncio.create_task(self._resync(feed))

    async def _resync(self, feed: SymbolFeed) -> None:
        """Load snapshots until the book bridges its buffered diffs (Binance's steps 3-5)."""
        while feed.book.state is SyncState.NEEDS_SNAPSHOT:
            try:
                live = await resync(feed.book, self.fetch_snapshot)
                feed.resyncs += 1
                log.info(
                    "%s %s: snapshot at %d loaded (%s)",
                    self.kind,
                    feed.symbol,
                    feed.book.last_update_id,
                    "live" if live else "awaiting diffs",
                )
            except SequenceGap as exc:
                log.info("%s; fetching a newer snapshot", exc)
                await asyncio.sleep(self.resync_retry_s / 5)
            except VenueError as exc:
                raise_if_cancelling()
                log.warning("%s %s: snapshot failed: %s", self.kind, feed.symbol, exc)
                await asyncio.sleep(self.resync_retry_s)

    # --- trades and bars -------------------------------------------------------------------
    async def _on_trade(self, feed: SymbolFeed, trade: TradeEvent) -> None:
        try:
            events = await feed.trades.admit(trade)
        except VenueError as exc:
            raise_if_cancelling()
            # Not published yet: the next trade finds the same hole (this one included) and
            # the backfill is tried again then.
            log.warning(
                "%s %s: backfill failed, retried on the next trade: %s", self.kind, feed.symbol, exc
            )
            return
        for event in events:
            self.publisher.add(feed.stream, MarketEvent(event))
            self._bar_closed(feed, feed.bars.add(event))

    def _bar_closed(self, feed: SymbolFeed, bar: Bar1m | None) -> None:
        if bar is None:
            return
        self.publisher.add(feed.stream, MarketEvent(bar))
        if self.on_bar is not None:
            self.on_bar(bar)

    async def stop(self) -> list[Bar1m]:
        """Cancel background resyncs; return the bars still open (incomplete)."""
        tasks = [f.resync_task for f in self.symbols.values() if f.resync_task is not None]
        await cancel_and_wait(tasks)
        return [bar for f in self.symbols.values() if (bar := f.bars.open_bar()) is not None]
