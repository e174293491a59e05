"""S1's market path on real servers: a recorded capture -> MarketFeed -> Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import json
from decimal import Decimal
from pathlib import Path

import asyncpg
import msgspec
import pytest

from chimera.domain.market import Bar1m, BookEvent, FundingEvent, MarketEvent, TradeEvent
from chimera.names import METRICS_EVENTS, MarketKind, funding_next_key, funding_stream, mkt_stream
from chimera.venues import binance_wire as wire
from chimera_workers.connections import RedisClient
from handlers.s1_connectors.bars import BarWriter
from handlers.s1_connectors.config import ConnectorConfig
from handlers.s1_connectors.funding import record_funding
from handlers.s1_connectors.market_feed import MarketFeed
from handlers.s1_connectors.publisher import StreamPublisher
from handlers.s1_connectors.service import last_trade_ids
from tests.handlers.s1_connectors.captures import SPOT, USDM, capture_lines

ROOT = Path(__file__).resolve().parents[3]
MARKET_EVENT = msgspec.json.Decoder(MarketEvent)
FUNDING_EVENT = msgspec.json.Decoder(FundingEvent)


async def feed_capture(
    name: str, kind: MarketKind, publisher: StreamPublisher, bars: BarWriter
) -> MarketFeed:
    """Replay a capture's depth and trade messages into a ``MarketFeed`` (what the websocket
    would deliver); the capture's REST snapshot line answers the feed's snapshot request."""
    snapshot: asyncio.Future[wire.DepthSnapshot] = asyncio.get_running_loop().create_future()

    async def fetch_snapshot(kind: MarketKind, symbol: str) -> wire.DepthSnapshot:
        return await snapshot

    async def no_trades(kind: MarketKind, symbol: str, from_id: int) -> list[wire.RestTrade]:
        raise AssertionError("the capture's trade ids are contiguous: no backfill expected")

    feed = MarketFeed(
        kind, ConnectorConfig(), publisher, fetch_snapshot, no_trades, on_bar=bars.put
    )
    await feed.on_connect(False)
    for recv_ns, raw in capture_lines(name):
        if raw.startswith(b'{"lastUpdateId"'):
            snapshot.set_result(wire.DEPTH_SNAPSHOT.decode(raw))
            await asyncio.sleep(0)  # let the resync task load it
        elif b"@bookTicker" not in raw[:40]:
            await feed.on_message(raw, recv_ns)
    for bar in await feed.stop():
        bars.put(bar)
    await publisher.flush()
    await bars.drain()
    return feed


def capture_trades(name: str) -> list[wire.Trade]:
    trades = []
    for _, raw in capture_lines(name):
        if b"@trade" in raw[:40]:
            trades.append(wire.TRADE.decode(wire.ENVELOPE.decode(raw).data))
    return trades


def expected_bars(trades: list[wire.Trade]) -> dict[int, tuple[object, ...]]:
    """OHLCV per minute, computed independently of ``BarBuilder``."""
    minutes: dict[int, list[wire.Trade]] = {}
    for t in trades:
        minutes.setdefault(t.trade_time // 60_000 * 60_000, []).append(t)
    return {
        m: (
            ts[0].price,
            max(t.price for t in ts),
            min(t.price for t in ts),
            ts[-1].price,
            sum((t.qty for t in ts), Decimal(0)),
            sum((t.price * t.qty for t in ts), Decimal(0)),
            len(ts),
            ts[0].trade_id,
            ts[-1].trade_id,
        )
        for m, ts in minutes.items()
    }


@pytest.mark.parametrize(("kind", "name"), [("perp", USDM), ("spot", SPOT)])
async def test_capture_publishes_decodable_events_and_exact_bars(
    kind: MarketKind, name: str, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    redis = rclient
    publisher = StreamPublisher(redis, maxlen=lambda stream: None)
    bars = BarWriter(pool)
    feed = await feed_capture(name, kind, publisher, bars)
    entries = await redis.xrange(mkt_stream(kind, "BTCUSDT"))
    events = [MARKET_EVENT.decode(fields[b"d"]).event for _, fields in entries]
    books = [e for e in events if isinstance(e, BookEvent)]
    trades = [e for e in events if isinstance(e, TradeEvent)]
    stream_bars = [e for e in events if isinstance(e, Bar1m)]

    # Trades: every one, in id order, without a hole, exactly as the venue printed them.
    recorded = capture_trades(name)
    assert [t.trade_id for t in trades] == [t.trade_id for t in recorded]
    assert [(t.price, t.qty, t.ts_ms) for t in trades] == [
        (t.price, t.qty, t.trade_time) for t in recorded
    ]
    # Books: one event per applied diff; venue time never runs backwards; quotes consistent.
    assert feed.bad_messages == 0 and feed.symbols["BTCUSDT"].book.gaps == 0
    assert len(books) > 3000
    assert all(a.ts_ms <= b.ts_ms for a, b in itertools.pairwise(books))
    for b in books[:: max(1, len(books) // 200)]:
        assert b.bid < b.ask and not b.crossed
        assert b.mid == (b.bid + b.ask) / 2
        assert b.bids[0] == (b.bid, b.bid_qty) and b.asks[0] == (b.ask, b.ask_qty)
        assert len(b.bids) == len(b.asks) == 10
        assert list(b.bids) == sorted(b.bids, reverse=True) and list(b.asks) == sorted(b.asks)
    # Bars: the rows are exactly the OHLCV of the recorded trades.
    expected = expected_bars(recorded)
    rows = await pool.fetch(
        "SELECT * FROM bars_1m WHERE venue_kind = $1 AND symbol = 'BTCUSDT' ORDER BY open_time",
        kind,
    )
    assert [r["open_time"] for r in rows] == sorted(expected)
    for r in rows:
        got = (
            r["open"], r["high"], r["low"], r["close"], r["volume"], r["quote_volume"],
            r["trade_count"], r["first_trade_id"], r["last_trade_id"],
        )  # fmt: skip
        assert got == expected[r["open_time"]]
    # The first minute started before S1 did and the last one never closed: incomplete.
    assert [r["complete"] for r in rows] == [False] + [True] * (len(rows) - 2) + [False]
    assert [b.open_time for b in stream_bars] == [r["open_time"] for r in rows[:-1]]
    # A restarted S1 resumes its trade ids from the stream.
    assert await last_trade_ids(redis, kind, ("BTCUSDT",)) == {"BTCUSDT": recorded[-1].trade_id}


async def test_publisher_caps_streams_and_sets_keys(redis: RedisClient) -> None:
    """On a single Redis and on a Cluster (each market's streams share one hash tag)."""
    publisher = StreamPublisher(redis, maxlen=lambda stream: 1000, batch_size=100)
    event = FundingEvent(
        kind="next", symbol="BTCUSDT", rate=Decimal("0.0001"), funding_time_ms=1, ts_ms=0
    )
    streams = [funding_stream(s) for s in ("BTCUSDT", "ETHUSDT")] + [METRICS_EVENTS]
    for i in range(5000):
        publisher.add(streams[i % 3], event)
    publisher.set_key(funding_next_key("BTCUSDT"), event)
    assert await publisher.flush() == 5000
    for stream in streams[:2]:
        # MAXLEN ~ trims whole radix-tree nodes (100 entries each), so a little more may stay.
        assert 1000 <= await redis.xlen(stream) <= 1100
    stored = await redis.get(funding_next_key("BTCUSDT"))
    assert FUNDING_EVENT.decode(stored) == event
    # Entries keep their order within a stream.
    publisher = StreamPublisher(redis, maxlen=lambda stream: None)
    for i in range(300):
        publisher.add("mkt:events:{spot}:ORDER", msgspec.structs.replace(event, ts_ms=i))
    await publisher.flush()
    entries = await redis.xrange("mkt:events:{spot}:ORDER")
    assert [FUNDING_EVENT.decode(f[b"d"]).ts_ms for _, f in entries] == list(range(300))


async def test_funding_records_are_idempotent(pool: asyncpg.Pool) -> None:
    # Rates derived in the test (no long varying funding history exists offline).
    t0 = 1_723_161_600_000
    events = [
        FundingEvent(
            kind="realized",
            symbol="BTCUSDT",
            rate=Decimal("0.0001") * (i + 1),
            funding_time_ms=t0 + i * 8 * 3600_000,
            ts_ms=t0 + i * 8 * 3600_000,
            amount_usdt=None if i == 0 else Decimal("-1.25") * i,
        )
        for i in range(3)
    ]
    assert [await record_funding(pool, e) for e in events] == [True, True, True]
    assert [await record_funding(pool, e) for e in events] == [False, False, False]
    # A later report of the amount fills a NULL in; a missing amount never erases one.
    late = msgspec.structs.replace(events[0], amount_usdt=Decimal("0.5"))
    assert await record_funding(pool, late) is False
    assert await record_funding(pool, msgspec.structs.replace(events[1], amount_usdt=None)) is False
    rows = await pool.fetch(
        "SELECT symbol, funding_time, rate, amount_usdt FROM funding_records ORDER BY funding_time"
    )
    assert [tuple(r) for r in rows] == [
        ("BTCUSDT", t0, Decimal("0.0001"), Decimal("0.5")),
        ("BTCUSDT", t0 + 8 * 3600_000, Decimal("0.0002"), Decimal("-1.25")),
        ("BTCUSDT", t0 + 16 * 3600_000, Decimal("0.0003"), Decimal("-2.50")),
    ]


def test_capture_line_format_is_what_the_replay_assumes() -> None:
    _, raw = next(iter(capture_lines(USDM)))
    assert json.loads(raw)["stream"] == "btcusdt@depth@0ms"
