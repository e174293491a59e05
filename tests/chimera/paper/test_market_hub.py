"""The market hub: listeners, funding settlement, trade tape and bars."""

from __future__ import annotations

import itertools
from decimal import Decimal

from chimera.paper.book import L2Book
from chimera.paper.clock import StepClock
from chimera.paper.feed import FundingSettlement, TradePrint
from chimera.paper.market.hub import FUNDING_INTERVAL_MS, MarketHub
from chimera.paper.market.synthetic import SyntheticMarket
from chimera.paper.markets import DEFAULT_MARKETS, VenueKind

# 40 s before a funding time (16:00 UTC), so the run crosses one settlement.
START = 1_700_000_000_000 - 1_700_000_000_000 % FUNDING_INTERVAL_MS + FUNDING_INTERVAL_MS - 40_000


class Recorder:
    def __init__(self) -> None:
        self.books = 0
        self.trades: list[TradePrint] = []
        self.fundings: list[FundingSettlement] = []

    def on_book(self, kind: VenueKind, symbol: str, book: L2Book, ts_ms: int) -> None:
        self.books += 1

    def on_trade(self, trade: TradePrint) -> None:
        self.trades.append(trade)

    def on_funding(self, settlement: FundingSettlement) -> None:
        self.fundings.append(settlement)


class Sink:
    def __init__(self) -> None:
        self.got: list[tuple[str, bytes]] = []

    def push(self, stream: str, data: bytes) -> None:
        self.got.append((stream, data))


async def test_hub_drives_listeners_and_settles_funding_at_8h_boundaries() -> None:
    market = SyntheticMarket(DEFAULT_MARKETS, 11, START)
    clock = StepClock(START)
    hub = MarketHub(DEFAULT_MARKETS, clock, mode="synthetic")
    recorder = Recorder()
    hub.add_listener(recorder)
    await hub.run(itertools.takewhile(lambda e: e.ts_ms < START + 80_000, market.events()))
    assert recorder.books > 100 and recorder.trades
    boundary = START + 40_000
    assert {f.symbol for f in recorder.fundings} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    assert all(f.funding_time_ms == boundary for f in recorder.fundings)
    assert hub.funding_history("BTCUSDT")[-1].funding_time_ms == boundary
    assert hub.next_funding_time_ms("BTCUSDT") == boundary + FUNDING_INTERVAL_MS
    assert hub.mark_price("BTCUSDT") > 0 and hub.funding_rate("BTCUSDT") != 0
    # the tape holds the trade ids the listeners saw, bars fold them in
    tape = hub.tape("spot", "BTCUSDT")
    spot_ids = [t.trade_id for t in recorder.trades if t.kind == "spot" and t.symbol == "BTCUSDT"]
    assert [t.trade_id for t in tape.recent(len(spot_ids))] == spot_ids
    assert tape.from_id(spot_ids[3], 2)[0].trade_id == spot_ids[3]
    bars = hub.bars("spot", "BTCUSDT").bars(None, None, 10, 60_000)
    assert sum(b.trades for b in bars) == len(spot_ids)
    assert all(b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) for b in bars)


async def test_snapshot_then_next_diff_continue_the_sequence() -> None:
    market = SyntheticMarket(DEFAULT_MARKETS, 2, START)
    hub = MarketHub(DEFAULT_MARKETS, StepClock(START), mode="synthetic")
    events = market.events()
    for event in itertools.islice(events, 2000):
        hub.apply(event)
    book = hub.book("perp", "ETHUSDT")
    snapshot_id = book.last_update_id
    snap_bids = book.bids()
    for event in events:
        if event.kind == "perp" and event.symbol == "ETHUSDT" and event.channel == "depth":
            assert snapshot_id + 1 == event.parsed.U  # type: ignore[union-attr]
            assert event.parsed.pu == snapshot_id  # type: ignore[union-attr]
            break
    assert snap_bids and all(q > Decimal(0) for _, q in snap_bids)


async def test_subscribers_get_raw_and_derived_streams() -> None:
    from chimera.paper.market.streams import parse_stream

    market = SyntheticMarket(DEFAULT_MARKETS, 4, START)
    hub = MarketHub(DEFAULT_MARKETS, StepClock(START), mode="synthetic")
    sink = Sink()
    names = [
        "btcusdt@trade",
        "btcusdt@aggTrade",
        "btcusdt@kline_1m",
        "btcusdt@depth5",
        "btcusdt@ticker",
    ]
    for name in names:
        spec = parse_stream("spot", name, {"BTCUSDT"})
        assert spec is not None
        hub.subscribe("spot", spec, sink)
    for event in itertools.islice(market.events(), 3000):
        hub.apply(event)
    assert {stream for stream, _ in sink.got} == set(names)
    hub.unsubscribe_all(sink)
    count = len(sink.got)
    for event in itertools.islice(market.events(), 300):
        hub.apply(event)
    assert len(sink.got) == count
    assert parse_stream("spot", "btcusdt@markPrice", {"BTCUSDT"}) is None
    assert parse_stream("perp", "btcusdt@depth@0ms", {"BTCUSDT"}) is not None
    assert parse_stream("spot", "btcusdt@depth@0ms", {"BTCUSDT"}) is None
