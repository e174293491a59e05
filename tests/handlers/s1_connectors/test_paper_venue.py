"""S1 against the paper venue (synthetic market, real sockets), real Redis and PostgreSQL.

S1 connects, the market streams fill; after the venue drops every websocket, S1 reconnects,
resyncs its books and backfills the trades it missed: trade ids on the streams have no hole.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import msgspec
import pytest

from chimera.domain.market import BookEvent, FundingEvent, MarketEvent, TradeEvent
from chimera.domain.metrics import MetricEvent
from chimera.names import METRICS_EVENTS, MarketKind, funding_next_key, funding_stream, mkt_stream
from chimera.paper.control import PaperControl
from chimera.paper.venue import PaperVenue
from chimera_workers.connections import RedisClient
from handlers.s1_connectors.config import ConnectorConfig
from handlers.s1_connectors.service import ConnectorService
from tests.chimera.paper.venue_fixtures import paper_settings, running_venue, venue_config

ROOT = Path(__file__).resolve().parents[3]
MARKET_EVENT = msgspec.json.Decoder(MarketEvent)
FUNDING_EVENT = msgspec.json.Decoder(FundingEvent)
METRIC_EVENT = msgspec.json.Decoder(MetricEvent)
KINDS: tuple[MarketKind, ...] = ("spot", "perp")


@pytest.fixture
async def venue() -> AsyncIterator[PaperVenue]:
    async with running_venue(venue_config(symbols=("BTCUSDT",), speed=4.0)) as running:
        yield running


async def market_events(redis: RedisClient, kind: MarketKind) -> list[object]:
    entries = await redis.xrange(mkt_stream(kind, "BTCUSDT"))
    return [MARKET_EVENT.decode(fields[b"d"]).event for _, fields in entries]


async def eventually(check: Callable[[], object], within_s: float = 20.0) -> None:
    deadline = time.monotonic() + within_s
    while True:
        if await check():  # type: ignore[misc]
            return
        assert time.monotonic() < deadline, f"timed out waiting for {check.__name__}"
        await asyncio.sleep(0.1)


async def test_s1_streams_the_paper_market_and_backfills_after_a_drop(
    venue: PaperVenue, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    config = ConnectorConfig(symbols=("BTCUSDT",), kinds=KINDS, metrics_interval_s=0.5,
                             ping_interval_s=0.2)  # fmt: skip
    service = ConnectorService(
        config,
        paper_settings(venue),
        rclient,
        pool,
        maxlen=lambda stream: 100_000,
        # A slow reconnect, so trades certainly print while S1 is away.
        ws_options={"backoff_s": 1.0},
    )
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(stop))

    async def books_and_trades_flow() -> bool:
        for kind in KINDS:
            events = await market_events(rclient, kind)
            if not any(isinstance(e, BookEvent) for e in events):
                return False
            if sum(isinstance(e, TradeEvent) for e in events) < 5:
                return False
        return True

    try:
        await eventually(books_and_trades_flow)
        async with PaperControl(venue.base_url) as control:
            assert await control.drop_websockets() >= 2

        async def reconnected_and_trading() -> bool:
            if any(service.connections[k].connects < 2 for k in KINDS):
                return False
            # Wait for trades that print after the reconnect (they reveal the hole).
            return all(service.feeds[k].symbols["BTCUSDT"].trades.backfilled > 0 for k in KINDS)

        await eventually(reconnected_and_trading)

        async def books_live_again() -> bool:
            return all(service.feeds[k].symbols["BTCUSDT"].book.is_live for k in KINDS)

        await eventually(books_live_again)
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)

    for kind in KINDS:
        events = await market_events(rclient, kind)
        trades = [e for e in events if isinstance(e, TradeEvent)]
        ids = [t.trade_id for t in trades]
        assert ids == list(range(ids[0], ids[0] + len(ids))), f"{kind}: hole in trade ids"
        assert any(t.backfilled for t in trades), f"{kind}: nothing was backfilled"
        # Each backfilled trade is the venue's own print (same id, price, size, time).
        tape = venue.hub.tape(kind, "BTCUSDT").from_id(ids[0], len(ids))
        assert [(t.trade_id, t.price, t.qty, t.ts_ms) for t in trades] == [
            (v.trade_id, v.price, v.qty, v.time_ms) for v in tape
        ]
        books = [e for e in events if isinstance(e, BookEvent)]
        assert books and all(b.bid < b.ask for b in books)
        feed = service.feeds[kind].symbols["BTCUSDT"]
        assert feed.resyncs >= 2  # the first sync and the one after the drop
        assert service.feeds[kind].bad_messages == 0

    # Funding: the next funding is on its stream and key.
    stored = await rclient.get(funding_next_key("BTCUSDT"))
    assert stored is not None and FUNDING_EVENT.decode(stored).kind == "next"
    assert await rclient.xlen(funding_stream("BTCUSDT")) > 0
    # Realized funding: the settlements of the last 24 h, as the venue reports them; no
    # position and no income endpoint here, so no amount.
    rows = await pool.fetch("SELECT * FROM funding_records ORDER BY funding_time")
    assert rows and all(r["symbol"] == "BTCUSDT" and r["amount_usdt"] is None for r in rows)
    assert service.funding["BTCUSDT"].realized == len(rows)
    # Metrics: throughput and RTT per market.
    metrics = [METRIC_EVENT.decode(f[b"d"]) for _, f in await rclient.xrange(METRICS_EVENTS)]
    names = {(m.name, m.labels["kind"]) for m in metrics}
    assert {("s1.mkt_throughput", k) for k in KINDS} <= names
    assert {("s1.ws_rtt", k) for k in KINDS} <= names


async def test_s1_records_a_funding_settlement_when_it_happens(
    rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    # Venue time starts 4 s before a funding time (00:00, 08:00, 16:00 UTC) and runs 4x.
    boundary = 1_723_161_600_000 + 8 * 3600_000
    config = venue_config(
        symbols=("BTCUSDT",), speed=4.0, start_epoch_ms=boundary - 4_000, warmup_ms=1_000
    )
    async with running_venue(config) as venue:
        s1 = ConnectorConfig(symbols=("BTCUSDT",), kinds=("perp",))
        service = ConnectorService(s1, paper_settings(venue), rclient, pool, maxlen=lambda s: None)
        stop = asyncio.Event()
        running = asyncio.create_task(service.run(stop))
        tracker = None

        async def settled() -> bool:
            nonlocal tracker
            tracker = service.funding.get("BTCUSDT")
            return (
                tracker is not None
                and (tracker.next_funding_time or 0) > boundary
                and (
                    await pool.fetchval(
                        "SELECT count(*) FROM funding_records WHERE funding_time = $1", boundary
                    )
                    == 1
                )
            )

        try:
            await eventually(settled)
        finally:
            stop.set()
            await asyncio.wait_for(running, 10)
        venue_rate = next(
            s.rate for s in venue.hub.funding_history("BTCUSDT") if s.funding_time_ms == boundary
        )
    row = await pool.fetchrow("SELECT * FROM funding_records WHERE funding_time = $1", boundary)
    assert row["rate"] == venue_rate
    events = [
        FUNDING_EVENT.decode(f[b"d"]) for _, f in await rclient.xrange(funding_stream("BTCUSDT"))
    ]
    realized = [e for e in events if e.kind == "realized" and e.funding_time_ms == boundary]
    assert len(realized) == 1 and realized[0].rate == venue_rate
    assert any(e.kind == "next" and e.funding_time_ms == boundary + 8 * 3600_000 for e in events)
