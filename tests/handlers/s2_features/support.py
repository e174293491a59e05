"""S2 test kit: its own topology, scripted market sessions, and an in-process Worker runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import yaml

from chimera.config.features import FeaturesConfig
from chimera.domain.features import FeatureEvent
from chimera.domain.market import Bar1m, BookEvent, Level, MarketEvent, TradeEvent
from chimera.names import feat_stream, mkt_stream
from chimera_workers.codec import entry_fields
from chimera_workers.config_ref import ConfigRef
from chimera_workers.connections import RedisClient
from chimera_workers.keys import PAYLOAD_FIELD
from chimera_workers.topology import App
from chimera_workers.topology_loader import load_app
from chimera_workers.worker import Worker
from tests.harness.polling import until

SYMBOLS = ("BTCUSDT", "ETHUSDT")
BINDING = "s2-features"
REGIME_JOB = "s2-regime"
MINUTE = 60_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z

TOPOLOGY: dict[str, Any] = {
    "version": 1,
    "symbols": list(SYMBOLS),
    "streams": [
        {"name": "mkt:events:{perp}:<SYMBOL>", "type": "chimera.domain.market:MarketEvent"},
        {"name": "feat:events:<SYMBOL>", "type": "chimera.domain.features:FeatureEvent"},
        {"name": "metrics:events", "type": "chimera.domain.metrics:MetricEvent"},
    ],
    "bindings": [
        {
            "name": BINDING,
            "stream": "mkt:events:{perp}:<SYMBOL>",
            "handler": "handlers.s2_features.handlers:on_market",
            "batch_size": 200,
            "block_ms": 50,
            "concurrency": 4,
            "max_deliveries": 5,
            "retry_backoff_ms": 10,
            "retry_backoff_max_ms": 50,
            "claim_idle_ms": 2_000,
        }
    ],
    "schedules": [
        {
            "name": REGIME_JOB,
            "handler": "handlers.s2_features.regime:regime_tick",
            "cron": "5 0 * * *",
        },
    ],
}

_feature = msgspec.json.Decoder(FeatureEvent)


def make_app(directory: Path) -> App:
    """Write S2's test topology and load it with the real loader."""
    path = directory / "streams.yaml"
    path.write_text(yaml.safe_dump(TOPOLOGY, sort_keys=False))
    return load_app(path)


def _levels(best: Decimal, step: Decimal, qtys: list[str]) -> tuple[Level, ...]:
    return tuple((best + step * i, Decimal(q)) for i, q in enumerate(qtys))


def book(
    symbol: str,
    ts_ms: int,
    update_id: int,
    bid: str,
    ask: str,
    *,
    bid_qtys: tuple[str, ...] = ("1", "2", "3"),
    ask_qtys: tuple[str, ...] = ("1", "1", "1"),
    lag_ms: int = 5,
) -> MarketEvent:
    """Return a book event with S1's derived fields (mid, spread_bp, crossed)."""
    b, a = Decimal(bid), Decimal(ask)
    mid = (b + a) / 2
    return MarketEvent(
        BookEvent(
            kind="perp", symbol=symbol, ts_ms=ts_ms, recv_ts_ms=ts_ms + lag_ms,
            update_id=update_id, bid=b, bid_qty=Decimal(bid_qtys[0]), ask=a,
            ask_qty=Decimal(ask_qtys[0]), mid=mid, spread_bp=(a - b) / mid * 10_000,
            bids=_levels(b, Decimal("-0.1"), list(bid_qtys)),
            asks=_levels(a, Decimal("0.1"), list(ask_qtys)), crossed=b > a,
        )
    )  # fmt: skip


def trade(symbol: str, ts_ms: int, trade_id: int, price: str, lag_ms: int = 5) -> MarketEvent:
    """Return a taker-buy trade print."""
    return MarketEvent(
        TradeEvent(
            kind="perp", symbol=symbol, trade_id=trade_id, price=Decimal(price),
            qty=Decimal("0.01"), side="buy", ts_ms=ts_ms, recv_ts_ms=ts_ms + lag_ms,
        )
    )  # fmt: skip


def bar(
    symbol: str,
    open_time: int,
    ohlc: tuple[str, str, str, str],
    first_trade_id: int,
    last_trade_id: int,
    *,
    complete: bool = True,
) -> MarketEvent:
    """Return a 1-minute bar."""
    o, h, lo, c = (Decimal(v) for v in ohlc)
    return MarketEvent(
        Bar1m(
            kind="perp", symbol=symbol, open_time=open_time, open=o, high=h, low=lo, close=c,
            volume=Decimal("1"), quote_volume=c, trade_count=last_trade_id - first_trade_id + 1,
            first_trade_id=first_trade_id, last_trade_id=last_trade_id, complete=complete,
        )
    )  # fmt: skip


@dataclass
class Session:
    """A scripted market session of one symbol, in S1's publishing order."""

    symbol: str
    events: list[MarketEvent] = field(default_factory=list)
    bars: list[Bar1m] = field(default_factory=list)
    spreads: dict[int, list[float]] = field(default_factory=dict)  # bar open_time -> spread_bp


def session(symbol: str, minutes: int, *, seed: int = 1, books_per_minute: int = 6) -> Session:
    """Return ``minutes`` bars of a seeded random walk, with book updates and trades.

    Like S1, a bar is published right after the next minute's first trade (which follows a
    book update of that minute), so the handler must attribute book statistics by minute.
    """
    rng = np.random.default_rng(seed)
    out = Session(symbol)
    price = Decimal("30000.0")
    trade_id, update_id = 1, 1
    closing: Bar1m | None = None
    for m in range(minutes + 1):
        start = T0 + m * MINUTE
        first_id = trade_id
        prices: list[Decimal] = []
        for k in range(books_per_minute):
            ts = start + k * (MINUTE // books_per_minute) + 100
            step = Decimal(str(round(1 + rng.normal(0, 8e-4), 6)))
            price = (price * step).quantize(Decimal("0.1"))
            half = Decimal(str(round(0.1 + abs(rng.normal(0, 0.5)), 1)))
            event = book(symbol, ts, update_id, str(price - half), str(price + half))
            assert isinstance(event.event, BookEvent)
            update_id += 1
            out.events.append(event)
            out.spreads.setdefault(start, []).append(float(event.event.spread_bp))
            out.events.append(trade(symbol, ts + 1, trade_id, str(price)))
            trade_id += 1
            prices.append(price)
            if k == 0 and closing is not None:
                out.events.append(MarketEvent(closing))
                out.bars.append(closing)
                closing = None
        if m < minutes:
            ohlc = (prices[0], max(prices) + 5, min(prices) - 5, prices[-1])
            made = bar(symbol, start, tuple(str(v) for v in ohlc), first_id, trade_id - 1).event
            assert isinstance(made, Bar1m)
            closing = made
    return out


async def enqueue(redis: RedisClient, stream: str, events: list[MarketEvent]) -> list[str]:
    """XADD ``events`` to ``stream`` in order; return their entry ids."""
    pipe = redis.pipeline(transaction=False)
    for event in events:
        pipe.xadd(stream, entry_fields(event))  # type: ignore[arg-type]
    ids = await pipe.execute()
    return [i.decode() for i in ids]


async def drained(redis: RedisClient, symbol: str) -> bool:
    """Return whether S2's group has read and acked everything on ``symbol``'s stream."""
    stream = mkt_stream("perp", symbol)
    groups = await redis.xinfo_groups(stream)
    group = next((g for g in groups if g["name"] in (BINDING, BINDING.encode())), None)
    if group is None:
        return False
    last = await redis.xrevrange(stream, count=1)
    last_id = last[0][0] if last else b"0-0"
    return bool(group["pending"] == 0 and group["last-delivered-id"] == last_id)


async def run_worker(
    app: App,
    redis: RedisClient,
    db: Any,
    symbols: tuple[str, ...],
    config: FeaturesConfig | None = None,
    *,
    rev: int = 7,
    consumer: str = "s2.1",
) -> None:
    """Run one S2 worker until every listed symbol's stream is drained, then stop it."""
    worker = Worker(
        app, redis, consumer=consumer, bindings=[BINDING], schedules=[], db=db,
        config=ConfigRef(config or FeaturesConfig(), rev), shutdown_grace_s=5, retention=False,
    )  # fmt: skip
    await worker.start()
    try:
        for symbol in symbols:
            await until(lambda s=symbol: drained(redis, s))  # type: ignore[misc]
    finally:
        await worker.stop()
    assert worker.failure is None


async def feature_events(redis: RedisClient, symbol: str) -> list[FeatureEvent]:
    """Return every snapshot on ``feat:events:<symbol>`` in order."""
    entries = await redis.xrange(feat_stream(symbol))
    return [_feature.decode(fields[PAYLOAD_FIELD]) for _, fields in entries]
