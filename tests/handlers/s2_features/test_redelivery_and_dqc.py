"""S2's handler called as the runtime calls it: redelivery, a second worker, and the DQC flags."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import msgspec
import pytest

from chimera.config.features import FeaturesConfig
from chimera.domain.features import DqcFlags, FeatureEvent
from chimera.domain.market import MarketEvent
from chimera.names import feat_stream, mkt_stream
from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient, open_redis
from chimera_workers.context import Context, Resources
from chimera_workers.errors import Retry
from chimera_workers.keys import PAYLOAD_FIELD
from chimera_workers.topology import App
from handlers.s2_features.handlers import on_market
from tests.handlers.s2_features.support import (
    MINUTE,
    T0,
    bar,
    book,
    enqueue,
    feature_events,
    make_app,
    run_worker,
    trade,
)

BTC = "BTCUSDT"
CFG = FeaturesConfig(atr_period=3, rv_window=3, corr_min_pairs=2, persist_interval_ms=10**9)
_feature = msgspec.json.Decoder(FeatureEvent)


class Deliverer:
    """Deliver stream entries to ``on_market`` the way one worker process does."""

    def __init__(self, app: App, redis: RedisClient, pool: asyncpg.Pool) -> None:
        self.resources = Resources(app, redis, pool, None)
        self.stream = mkt_stream("perp", BTC)

    async def add(self, event: MarketEvent) -> str:
        return str((await enqueue(self.resources.redis, self.stream, [event]))[0])

    async def deliver(self, entry_id: str, event: MarketEvent, count: int = 1) -> Context:
        ctx = Context(
            self.resources, CFG, 3, self.stream, entry_id.encode(), count, entry_fields(event)
        )
        await on_market(event, ctx)
        return ctx


def _emitted(ctx: Context) -> list[FeatureEvent]:
    return [_feature.decode(fields[PAYLOAD_FIELD]) for _, fields in ctx.emits]


async def test_a_redelivered_entry_is_not_applied_twice_and_its_bar_is_emitted_again(
    tmp_path: Path, redis_url: str, pool: asyncpg.Pool
) -> None:
    app = make_app(tmp_path)
    redis = await open_redis(redis_url)
    fresh = await open_redis(redis_url)
    try:
        worker = Deliverer(app, redis, pool)
        b0 = book(BTC, T0 + 1_000, 1, "100.0", "100.2")
        k0 = bar(BTC, T0, ("100", "101", "99", "100.1"), 1, 5)
        b1 = book(BTC, T0 + MINUTE + 1_000, 2, "100.0", "100.4")
        k1 = bar(BTC, T0 + MINUTE, ("100.1", "102", "99", "101"), 6, 9)
        ids = [await worker.add(e) for e in (b0, k0, b1, k1)]
        first = [await worker.deliver(i, e) for i, e in zip(ids, (b0, k0, b1, k1), strict=True)]
        snapshot = _emitted(first[3])[0]

        # Redelivered book update: not counted again; redelivered bar: the same snapshot again.
        again = await worker.deliver(ids[2], b1, count=2)
        assert again.emits == []
        bar_again = await worker.deliver(ids[3], k1, count=2)
        assert _emitted(bar_again) == [snapshot]
        assert snapshot.features.book_updates == 1

        # The same, delivered to another worker process (no memory): resumes from the cache.
        other = Deliverer(app, fresh, pool)
        assert _emitted(await other.deliver(ids[3], k1, count=3)) == [snapshot]
        assert await pool.fetchval("SELECT count(*) FROM signals") == 2
    finally:
        await redis.aclose()
        await fresh.aclose()


async def test_a_second_worker_writing_the_cache_makes_the_first_reload_instead_of_overwrite(
    tmp_path: Path, redis_url: str, pool: asyncpg.Pool
) -> None:
    app = make_app(tmp_path)
    clients = [await open_redis(redis_url), await open_redis(redis_url)]
    try:
        a, b = Deliverer(app, clients[0], pool), Deliverer(app, clients[1], pool)
        bars = [bar(BTC, T0 + i * MINUTE, ("100", "101", "99", str(100 + i)), i * 10 + 1,
                    i * 10 + 10) for i in range(3)]  # fmt: skip
        ids = [await a.add(e) for e in bars]
        await a.deliver(ids[0], bars[0])
        await b.deliver(ids[1], bars[1])  # loads a's state, writes the cache
        with pytest.raises(Retry):
            await a.deliver(ids[2], bars[2])  # a's copy is stale: refused, dropped
        ctx = await a.deliver(ids[2], bars[2], count=2)  # reloaded: continues after bar 1
        snapshot = _emitted(ctx)[0]
        assert snapshot.features.log_return == pytest.approx(0.00985, abs=1e-4)  # ln(102/101)
        assert await clients[0].xlen(feat_stream(BTC)) == 0  # emits go through the runtime
    finally:
        for client in clients:
            await client.aclose()


async def test_dqc_flags_mark_crossed_locked_gap_stale_outlier_and_partial_bars(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    app = make_app(tmp_path)

    def minute(m: int) -> int:
        return T0 + m * MINUTE

    events = [
        # minute 0: clean
        book(BTC, minute(0) + 55_000, 1, "100.0", "100.1"),
        bar(BTC, minute(0), ("100", "100.2", "99.9", "100.0"), 1, 10),
        # minute 1: a crossed book, then a locked one
        book(BTC, minute(1) + 10_000, 2, "100.2", "100.1"),
        book(BTC, minute(1) + 55_000, 3, "100.1", "100.1"),
        bar(BTC, minute(1), ("100", "100.2", "99.9", "100.05"), 11, 20),
        # minute 2: trades 21-24 missing, and the book update id goes backwards
        book(BTC, minute(2) + 50_000, 2, "100.0", "100.1"),
        bar(BTC, minute(2), ("100", "100.2", "99.9", "100.0"), 25, 30),
        # minute 3: the last book update is 40 s before the bar's close; a late trade
        book(BTC, minute(3) + 20_000, 4, "100.0", "100.1"),
        trade(BTC, minute(3) + 30_000, 31, "100.0", lag_ms=9_000),
        bar(BTC, minute(3), ("100", "100.2", "99.9", "100.0"), 31, 40),
        # minute 4: a 10 % jump; minute 5: an incomplete bar
        book(BTC, minute(4) + 55_000, 5, "110.0", "110.1"),
        bar(BTC, minute(4), ("100", "110.2", "99.9", "110.0"), 41, 50),
        book(BTC, minute(5) + 55_000, 6, "110.0", "110.1"),
        bar(BTC, minute(5), ("110", "110.2", "109.9", "110.0"), 51, 60, complete=False),
    ]
    await enqueue(rclient, mkt_stream("perp", BTC), events)
    await run_worker(app, rclient, pool, (BTC,), CFG)
    flags = [e.features.dqc for e in await feature_events(rclient, BTC)]
    assert flags == [
        DqcFlags(),
        DqcFlags(crossed=True, locked=True),
        DqcFlags(gap=True),
        DqcFlags(stale=True),
        DqcFlags(outlier=True),
        DqcFlags(partial=True),
    ]
    stored = await pool.fetch("SELECT features->'dqc' AS dqc FROM signals ORDER BY t0")
    assert [msgspec.json.decode(r["dqc"], type=DqcFlags) for r in stored] == flags
