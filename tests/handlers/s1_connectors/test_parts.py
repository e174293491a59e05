"""S1's pure parts: wire decoding, sequencing rules, normalization, bars, backfill, config."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from chimera.domain.market import Bar1m, BookEvent, MarketEvent, TradeEvent
from chimera.venues import binance_wire as wire
from chimera_workers.errors import ConfigError
from handlers.s1_connectors.backfill import TradeSequencer
from handlers.s1_connectors.bars import BarBuilder
from handlers.s1_connectors.config import ConnectorConfig
from handlers.s1_connectors.market_feed import MarketFeed
from handlers.s1_connectors.normalizer import BookNormalizer, spread_bp
from handlers.s1_connectors.order_book import OrderBookSync, SequenceGap, SyncState

D = Decimal


def diff(
    U: int, u: int, pu: int | None = None, bids=(), asks=(), E: int = 1000
) -> wire.DepthUpdate:
    return wire.DepthUpdate(
        event_time=E,
        symbol="BTCUSDT",
        first_update_id=U,
        final_update_id=u,
        prev_final_update_id=pu,
        bids=[(D(p), D(q)) for p, q in bids],
        asks=[(D(p), D(q)) for p, q in asks],
    )


def snapshot(last: int) -> wire.DepthSnapshot:
    return wire.DepthSnapshot(
        last_update_id=last, bids=[(D("99"), D("1")), (D("98"), D("2"))], asks=[(D("101"), D("1"))]
    )


def test_wire_decodes_binance_shapes_into_decimals() -> None:
    spot_ticker = b'{"u":5,"s":"BTCUSDT","b":"1.10","B":"2","a":"1.20","A":"3"}'
    t = wire.BOOK_TICKER.decode(spot_ticker)
    assert (t.bid, t.ask, t.event_time) == (D("1.10"), D("1.20"), None)
    kline = (
        b'{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":0,"T":59999,"s":"BTCUSDT","i":"1m","f":1,'
        b'"L":2,"o":"1","c":"2","h":"3","l":"0.5","v":"10","n":2,"x":true,"q":"15","V":"1",'
        b'"Q":"1","B":"0"}}'
    )
    assert wire.KLINE.decode(kline).kline.high == D("3")
    mark = (
        b'{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"100.5","i":"100","P":"1",'
        b'"r":"0.0001","T":28800000}'
    )
    assert wire.MARK_PRICE.decode(mark).funding_rate == D("0.0001")
    agg = b'{"e":"aggTrade","E":1,"s":"X","a":7,"p":"1.5","q":"2","f":10,"l":12,"T":1,"m":true}'
    assert wire.AGG_TRADE.decode(agg).last_trade_id == 12
    assert wire.stream_channel("btcusdt@markPrice@1s") == ("BTCUSDT", "markPrice")
    with pytest.raises(msgspec.ValidationError, match=r"\$\.u"):
        wire.DEPTH_UPDATE.decode(b'{"E":1,"s":"X","U":1,"u":"x","b":[],"a":[]}')


def test_market_event_is_a_tagged_union_on_the_wire() -> None:
    trade = TradeEvent("spot", "BTCUSDT", 1, D("1.5"), D("2"), "buy", 10, 11)
    raw = msgspec.json.encode(MarketEvent(trade))
    assert raw.startswith(b'{"event":{"type":"trade"') and b'"price":"1.5"' in raw
    assert msgspec.json.decode(raw, type=MarketEvent).event == trade


def test_spot_sync_rules() -> None:
    book = OrderBookSync("spot", "BTCUSDT")
    assert not book.apply(diff(5, 10))  # buffered until a snapshot
    assert not book.apply(diff(11, 12, bids=[("99", "5")]))
    assert book.load_snapshot(snapshot(11))  # 5..10 stale; 11..12 spans 12 = 11 + 1
    assert book.best_bid() == (D("99"), D("5"))
    assert book.apply(diff(13, 14, asks=[("101", "0"), ("102", "4")]))
    assert book.best_ask() == (D("102"), D("4"))
    assert not book.apply(diff(10, 14))  # a repeat
    with pytest.raises(SequenceGap, match="U=16"):
        book.apply(diff(16, 17))
    assert book.state is SyncState.NEEDS_SNAPSHOT and book.gaps == 1
    with pytest.raises(SequenceGap, match="does not reach"):
        book.load_snapshot(snapshot(12))  # older than the buffered 16..17
    assert book.load_snapshot(snapshot(16))  # 16..17 spans 17 = 16 + 1


def test_futures_sync_rules() -> None:
    book = OrderBookSync("perp", "BTCUSDT")
    book.apply(diff(100, 120, pu=90))
    book.apply(diff(130, 150, pu=120))
    # u=120 < 125: dropped. 130..150 does not span 125, but its pu=120 <= 125: nothing
    # happened on this symbol in 121..129, so the snapshot lies on its chain.
    assert book.load_snapshot(snapshot(125))
    assert book.last_update_id == 150
    book3 = OrderBookSync("perp", "BTCUSDT")
    book3.apply(diff(130, 150, pu=126))
    with pytest.raises(SequenceGap, match="does not reach"):
        book3.load_snapshot(snapshot(125))  # 126 happened after the snapshot: unbridgeable
    book2 = OrderBookSync("perp", "BTCUSDT")
    book2.load_snapshot(snapshot(140))
    assert book2.apply(diff(130, 150, pu=120))  # U <= 140 <= u
    assert book2.apply(diff(170, 180, pu=150))  # ids jump across symbols; pu links
    with pytest.raises(SequenceGap, match="pu=175"):
        book2.apply(diff(190, 200, pu=175))


def test_normalizer_derives_mid_spread_depth_and_flags() -> None:
    assert spread_bp(D("99"), D("101")) == (D("100"), D("200.0000"))
    book = OrderBookSync("spot", "BTCUSDT")
    book.load_snapshot(snapshot(1))
    norm = BookNormalizer("spot", "BTCUSDT", depth_levels=1, debounce_ms=100)
    first = norm.book_event(book, diff(2, 2, E=1000), 5)
    assert isinstance(first, BookEvent)
    assert (first.bid, first.ask, first.mid, first.bids, first.crossed) == (
        D("99"), D("101"), D("100"), ((D("99"), D("1")),), False,
    )  # fmt: skip
    assert norm.book_event(book, diff(3, 3, E=1050), 5) is None  # debounced
    book.apply(diff(2, 2, bids=[("102", "1")]))  # a corrupt book: bid above ask
    late = norm.book_event(book, diff(4, 4, E=900), 5)  # and a clock that went backwards
    assert late is None  # still inside the debounce window of the clamped clock
    crossed = norm.book_event(book, diff(5, 5, E=1200), 5)
    assert crossed is not None and crossed.crossed and norm.crossed == 1
    assert norm.clamped == 1


def test_bars_close_on_the_next_minute_and_skip_late_trades() -> None:
    bars = BarBuilder("perp", "BTCUSDT")

    def trade(tid: int, ts: int, price: str) -> TradeEvent:
        return TradeEvent("perp", "BTCUSDT", tid, D(price), D("1"), "buy", ts, ts)

    assert bars.add(trade(1, 60_000, "10")) is None
    assert bars.add(trade(2, 61_000, "12")) is None
    closed = bars.add(trade(3, 125_000, "11"))
    assert isinstance(closed, Bar1m)
    assert (closed.open_time, closed.open, closed.high, closed.close, closed.complete) == (
        60_000, D("10"), D("12"), D("12"), False,
    )  # fmt: skip
    assert bars.advance(181_000) is None  # inside the grace period
    second = bars.advance(182_000)
    assert second is not None and second.complete and second.trade_count == 1
    assert bars.add(trade(4, 179_000, "9")) is None and bars.late_trades == 1


async def test_sequencer_backfills_holes_and_drops_repeats() -> None:
    calls: list[int] = []

    async def fetch(kind: str, symbol: str, from_id: int) -> list[wire.RestTrade]:
        calls.append(from_id)
        # A venue page size of 2, to exercise paging.
        return [
            wire.RestTrade(id=i, price=D("1"), qty=D("1"), time=i, is_buyer_maker=False)
            for i in range(from_id, min(from_id + 2, 9))
        ]

    seq = TradeSequencer("spot", "BTCUSDT", fetch, last_id=3)  # type: ignore[arg-type]
    live = TradeEvent("spot", "BTCUSDT", 9, D("1"), D("1"), "sell", 9, 9)
    out = await seq.admit(live)
    assert [t.trade_id for t in out] == [4, 5, 6, 7, 8, 9]
    assert all(t.backfilled for t in out[:-1]) and not out[-1].backfilled
    assert calls == [4, 6, 8]
    assert await seq.admit(live) == [] and seq.duplicates == 1


async def test_feed_counts_undecodable_messages_without_failing() -> None:
    class NoPublisher:
        def add(self, stream: str, event: msgspec.Struct) -> None:
            raise AssertionError("nothing to publish")

    async def never(*args: object) -> object:
        raise AssertionError("not called")

    feed = MarketFeed("spot", ConnectorConfig(), NoPublisher(), never, never)  # type: ignore[arg-type]
    await feed.on_message(b"not json", 0)
    await feed.on_message(b'{"stream":"btcusdt@trade","data":{"e":"trade"}}', 0)
    await feed.on_message(b'{"stream":"ethusdt@trade","data":{}}', 0)  # not configured: ignored
    assert feed.bad_messages == 2
    assert feed.stream_names() == ["btcusdt@depth@100ms", "btcusdt@trade"]


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="not a Binance symbol"):
        ConnectorConfig(symbols=("btc-usdt",))
    with pytest.raises(ConfigError, match="depth speed"):
        ConnectorConfig(depth_speed="7ms")
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"symbolz": ["BTCUSDT"]}, ConnectorConfig)
