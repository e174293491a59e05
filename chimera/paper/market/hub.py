"""The market hub: books, trades, bars and funding per instrument, and the websocket fan-out.

A source (a replayed capture or the synthetic market) yields ``MarketEvent``s in venue-time order;
``run`` paces them on the venue clock and ``apply`` folds each into the hub's state *before*
fanning it out, so a REST depth snapshot taken at any moment has ``lastUpdateId`` = the last
``u`` sent and the next diff continues it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Protocol

import msgspec

from chimera.paper.book import L2Book
from chimera.paper.clock import VenueTimer
from chimera.paper.feed import FundingSettlement, MarketListener, TradePrint
from chimera.paper.market.events import (
    BookSnapshot,
    BookTickerMsg,
    DepthUpdate,
    MarketEvent,
    MarkPriceMsg,
    SourceItem,
    TradeMsg,
    fmt,
)
from chimera.paper.market.streams import StreamSpec
from chimera.paper.market.tape import MINUTE_MS, Bar, BarSeries, TradeRecord, TradeTape
from chimera.paper.market.ticker import day_stats, ws_mini_ticker, ws_ticker
from chimera.paper.markets import MarketSpec, VenueKind

log = logging.getLogger(__name__)

FUNDING_INTERVAL_MS = 8 * 3600 * 1000  # 00:00, 08:00, 16:00 UTC
DEFAULT_FUNDING_RATE = Decimal("0.00010000")
_encode = msgspec.json.Encoder().encode


class StreamSink(Protocol):
    """A websocket connection's outbox: takes one stream message, never blocks or raises."""

    def push(self, stream: str, data: bytes) -> None: ...


def next_funding_ms(ts_ms: int) -> int:
    """Return the first funding time strictly after ``ts_ms``."""
    return ts_ms - ts_ms % FUNDING_INTERVAL_MS + FUNDING_INTERVAL_MS


class _Instrument:
    """Everything the hub keeps about one (kind, symbol)."""

    __slots__ = ("bars", "book", "last_ticker_ms", "spec", "subs", "tape")

    def __init__(self, spec: MarketSpec) -> None:
        self.spec = spec
        self.book = L2Book(spec.symbol)
        self.tape = TradeTape()
        self.bars = BarSeries()
        self.last_ticker_ms = 0
        # form ("depth", "trade", ...) -> stream name -> sinks subscribed to it
        self.subs: dict[str, dict[str, set[StreamSink]]] = {}


class _Funding:
    """Mark price and funding state of one perpetual."""

    __slots__ = ("history", "mark", "next_ms", "rate", "settle_ms")

    def __init__(self) -> None:
        self.mark = Decimal(0)
        self.rate = DEFAULT_FUNDING_RATE
        self.next_ms = 0  # funding time as the market announces it (markPrice "T")
        self.settle_ms = 0  # the next settlement the hub will perform
        self.history: list[FundingSettlement] = []


class MarketHub:
    """Implements ``feed.MarketState`` and serves the market to REST and websocket clients."""

    def __init__(
        self,
        markets: Iterable[MarketSpec],
        clock: VenueTimer,
        *,
        mode: str,
        funding_history: dict[str, list[FundingSettlement]] | None = None,
    ) -> None:
        self.clock = clock
        self.mode = mode
        self.finished = False
        self.caught_up = False
        self.events_applied = 0
        self.last_event_ms = 0
        self._instruments = {(m.kind, m.symbol): _Instrument(m) for m in markets}
        self._funding = {s: _Funding() for (k, s) in self._instruments if k == "perp"}
        for symbol, history in (funding_history or {}).items():
            if symbol in self._funding:
                self._funding[symbol].history = list(history)
        self._listeners: list[MarketListener] = []
        self._sinks: dict[StreamSink, list[tuple[VenueKind, str, StreamSpec]]] = {}

    # --- MarketState -------------------------------------------------------------------
    def book(self, kind: VenueKind, symbol: str) -> L2Book:
        """Return the live book of an instrument (KeyError if the venue does not list it)."""
        return self._instruments[(kind, symbol)].book

    def mark_price(self, symbol: str) -> Decimal:
        """Return the perpetual's mark price (its mid until the market announces one)."""
        funding = self._funding[symbol]
        if funding.mark:
            return funding.mark
        return self.book("perp", symbol).mid() or Decimal(0)

    def funding_rate(self, symbol: str) -> Decimal:
        return self._funding[symbol].rate

    def next_funding_time_ms(self, symbol: str) -> int:
        funding = self._funding[symbol]
        return funding.next_ms or next_funding_ms(self.clock.now_ms())

    def add_listener(self, listener: MarketListener) -> None:
        self._listeners.append(listener)

    # --- reads for the REST endpoints --------------------------------------------------
    def has(self, kind: VenueKind, symbol: str) -> bool:
        return (kind, symbol) in self._instruments

    def specs(self, kind: VenueKind) -> list[MarketSpec]:
        """Return the instruments of one kind, in listing order."""
        return [inst.spec for (k, _), inst in self._instruments.items() if k == kind]

    def symbols(self, kind: VenueKind) -> set[str]:
        return {s for (k, s) in self._instruments if k == kind}

    def tape(self, kind: VenueKind, symbol: str) -> TradeTape:
        return self._instruments[(kind, symbol)].tape

    def bars(self, kind: VenueKind, symbol: str) -> BarSeries:
        return self._instruments[(kind, symbol)].bars

    def funding_history(self, symbol: str) -> list[FundingSettlement]:
        return list(self._funding[symbol].history)

    def status(self) -> dict[str, Any]:
        """Return the venue's clock, mode and per-instrument last update ids."""
        return {
            "mode": self.mode,
            "now_ms": self.clock.now_ms(),
            "speed": self.clock.speed,
            "finished": self.finished,
            "events_applied": self.events_applied,
            "instruments": [
                {"kind": k, "symbol": s, "last_update_id": inst.book.last_update_id}
                for (k, s), inst in self._instruments.items()
            ],
        }

    # --- subscriptions -----------------------------------------------------------------
    def subscribe(self, kind: VenueKind, spec: StreamSpec, sink: StreamSink) -> None:
        """Send ``sink`` every message of stream ``spec`` from now on."""
        inst = self._instruments[(kind, spec.symbol)]
        inst.subs.setdefault(spec.form, {}).setdefault(spec.name, set()).add(sink)
        self._sinks.setdefault(sink, []).append((kind, spec.name, spec))

    def unsubscribe(self, kind: VenueKind, spec: StreamSpec, sink: StreamSink) -> None:
        """Stop sending stream ``spec`` to ``sink``."""
        self._detach(kind, spec, sink)
        entries = self._sinks.get(sink, [])
        self._sinks[sink] = [e for e in entries if not (e[0] == kind and e[1] == spec.name)]

    def unsubscribe_all(self, sink: StreamSink) -> None:
        """Forget ``sink`` (its connection closed)."""
        for kind, _, spec in self._sinks.pop(sink, []):
            self._detach(kind, spec, sink)

    def _detach(self, kind: VenueKind, spec: StreamSpec, sink: StreamSink) -> None:
        # Drop the stream's entry with its last sink so publishing skips streams nobody reads.
        by_name = self._instruments[(kind, spec.symbol)].subs.get(spec.form, {})
        sinks = by_name.get(spec.name)
        if sinks is not None:
            sinks.discard(sink)
            if not sinks:
                del by_name[spec.name]

    # --- driving -----------------------------------------------------------------------
    async def run(self, source: Iterable[SourceItem]) -> None:
        """Apply the source's events at their venue times; return when the source ends."""
        wait_until = self.clock.wait_until
        apply = self.apply
        now_ms = self.clock.now_ms
        for item in source:
            if item.ts_ms > now_ms():
                # Everything up to venue time "now" is applied: the warm-up is over, even when
                # the next event is far off (a venue run at a crawl to freeze its market).
                self.caught_up = True
            await wait_until(item.ts_ms)
            apply(item)
        self.finished = True
        log.info("market source finished after %d events", self.events_applied)

    def apply(self, item: SourceItem) -> None:
        """Fold one event into the state, then notify listeners and subscribers."""
        inst = self._instruments.get((item.kind, item.symbol))
        if inst is None:
            return  # a capture may carry instruments this venue does not list
        if isinstance(item, BookSnapshot):
            inst.book.reset(item.bids, item.asks, item.last_update_id)
            return
        self.events_applied += 1
        self.last_event_ms = item.ts_ms
        payload = item.parsed
        if isinstance(payload, DepthUpdate):
            self._on_depth(item, inst, payload)
        elif isinstance(payload, TradeMsg):
            self._on_trade(item, inst, payload)
        elif isinstance(payload, MarkPriceMsg):
            self._on_mark(item, inst, payload)
        elif isinstance(payload, BookTickerMsg):
            self._fan(inst, "bookTicker", item.data)
        if item.ts_ms - inst.last_ticker_ms >= 1000 and (
            inst.subs.get("ticker") or inst.subs.get("miniTicker")
        ):
            self._tickers(item, inst)

    def _tickers(self, item: MarketEvent, inst: _Instrument) -> None:
        inst.last_ticker_ms = item.ts_ms
        stats = day_stats(inst.tape, inst.bars, item.ts_ms)
        if inst.subs.get("ticker"):
            msg = ws_ticker(item.kind, item.symbol, stats, inst.book, item.ts_ms)
            self._fan(inst, "ticker", _encode(msg))
        if inst.subs.get("miniTicker"):
            self._fan(inst, "miniTicker", _encode(ws_mini_ticker(item.symbol, stats, item.ts_ms)))

    def _on_depth(self, item: MarketEvent, inst: _Instrument, diff: DepthUpdate) -> None:
        book = inst.book
        # Diffs a replay recorded before its snapshot's id are already in the snapshot.
        if diff.u > book.last_update_id:
            book.apply(diff.b, diff.a, diff.u)
            for listener in self._listeners:
                self._call(listener.on_book, item.kind, item.symbol, book, item.ts_ms)
        self._fan(inst, "depth", item.data)
        partial = inst.subs.get("depthN")
        if partial:
            for name, sinks in list(partial.items()):
                data = _encode(_partial_depth(item, diff, book, _levels_of(name)))
                for sink in list(sinks):
                    sink.push(name, data)

    def _on_trade(self, item: MarketEvent, inst: _Instrument, trade: TradeMsg) -> None:
        ts = trade.T or trade.E or item.ts_ms
        record = TradeRecord(trade.t, trade.p, trade.q, ts, trade.m)
        inst.tape.append(record)
        bar = inst.bars.add_trade(record)
        print_ = TradePrint(item.kind, item.symbol, trade.t, trade.p, trade.q, trade.m, ts)
        for listener in self._listeners:
            self._call(listener.on_trade, print_)
        self._fan(inst, "trade", item.data)
        if inst.subs.get("aggTrade"):
            self._fan(inst, "aggTrade", _encode(_agg_trade(item, trade, ts)))
        if inst.subs.get("kline"):
            self._fan(inst, "kline", _encode(_kline_event(item.symbol, bar, trade, item.ts_ms)))

    def _on_mark(self, item: MarketEvent, inst: _Instrument, mark: MarkPriceMsg) -> None:
        funding = self._funding.get(item.symbol)
        if funding is not None and item.kind == "perp":
            funding.mark = mark.p
            funding.rate = mark.r
            funding.next_ms = mark.T
            if funding.settle_ms == 0:
                funding.settle_ms = next_funding_ms(item.ts_ms)
            while item.ts_ms >= funding.settle_ms:
                settlement = FundingSettlement(item.symbol, mark.r, mark.p, funding.settle_ms)
                funding.history.append(settlement)
                funding.settle_ms += FUNDING_INTERVAL_MS
                for listener in self._listeners:
                    self._call(listener.on_funding, settlement)
        self._fan(inst, "markPrice", item.data)

    @staticmethod
    def _fan(inst: _Instrument, form: str, data: bytes) -> None:
        by_name = inst.subs.get(form)
        if not by_name:
            return
        for name, sinks in list(by_name.items()):
            for sink in list(sinks):
                sink.push(name, data)

    @staticmethod
    def _call(method: Any, *args: Any) -> None:
        try:
            method(*args)
        except Exception:  # a listener's bug must not stop the market
            log.exception("market listener %r failed", method)


def _levels_of(name: str) -> int:
    head = name.split("@")[1]
    return int(head[len("depth") :])


def _partial_depth(item: MarketEvent, diff: DepthUpdate, book: L2Book, levels: int) -> Any:
    bids = [[fmt(p), fmt(q)] for p, q in book.bids(levels)]
    asks = [[fmt(p), fmt(q)] for p, q in book.asks(levels)]
    if item.kind == "spot":
        return {"lastUpdateId": book.last_update_id, "bids": bids, "asks": asks}
    return {
        "e": "depthUpdate",
        "E": diff.E or item.ts_ms,
        "T": diff.T or item.ts_ms,
        "s": item.symbol,
        "U": diff.U,
        "u": diff.u,
        "pu": diff.pu,
        "b": bids,
        "a": asks,
    }


def _agg_trade(item: MarketEvent, trade: TradeMsg, ts: int) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "e": "aggTrade",
        "E": trade.E or item.ts_ms,
        "s": item.symbol,
        "a": trade.t,
        "p": fmt(trade.p),
        "q": fmt(trade.q),
        "f": trade.t,
        "l": trade.t,
        "T": ts,
        "m": trade.m,
    }
    if item.kind == "spot":
        msg["M"] = True
    return msg


def _kline_event(symbol: str, bar: Bar, trade: TradeMsg, now_ms: int) -> dict[str, Any]:
    return {
        "e": "kline",
        "E": trade.E or now_ms,
        "s": symbol,
        "k": {
            "t": bar.open_ms,
            "T": bar.open_ms + MINUTE_MS - 1,
            "s": symbol,
            "i": "1m",
            "f": trade.t - bar.trades + 1,
            "L": trade.t,
            "o": fmt(bar.open),
            "c": fmt(bar.close),
            "h": fmt(bar.high),
            "l": fmt(bar.low),
            "v": fmt(bar.volume),
            "n": bar.trades,
            "x": False,
            "q": fmt(bar.quote_volume),
            "V": fmt(bar.taker_buy_volume),
            "Q": fmt(bar.taker_buy_quote),
            "B": "0",
        },
    }
