"""S2 on real Redis + PostgreSQL with an in-process Worker: snapshots, rows, resume, redelivery."""

from __future__ import annotations

import math
from pathlib import Path

import asyncpg
import msgspec
import numpy as np
import pytest
import talib

from chimera.config.features import FeaturesConfig
from chimera.domain.features import FeatureSet
from chimera.domain.market import Bar1m
from chimera.names import feat_cache_key, mkt_stream
from chimera_workers.connections import RedisClient, open_redis
from handlers.s2_features.cache import decode_cache
from tests.handlers.s2_features.support import (
    MINUTE,
    T0,
    enqueue,
    feature_events,
    make_app,
    run_worker,
    session,
)

BTC, ETH = "BTCUSDT", "ETHUSDT"
# Short windows so a short session warms every feature; only bars persist the state.
CFG = FeaturesConfig(
    atr_period=5, rv_window=5, corr_window=10, corr_min_pairs=3, persist_interval_ms=10**9
)


async def _signals(pool: asyncpg.Pool, symbol: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT signal_id, t0, features::text AS features, config_rev FROM signals "
        "WHERE symbol = $1 ORDER BY t0",
        symbol,
    )


def _ohlc(bars: list[Bar1m]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.array([float(b.high) for b in bars]),
        np.array([float(b.low) for b in bars]),
        np.array([float(b.close) for b in bars]),
    )


async def test_each_bar_yields_one_signal_row_and_one_feature_event(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    app = make_app(tmp_path)
    btc = session(BTC, 20, seed=1)
    await enqueue(rclient, mkt_stream("perp", BTC), btc.events)
    await run_worker(app, rclient, pool, (BTC,), CFG, rev=7)

    events = await feature_events(rclient, BTC)
    rows = await _signals(pool, BTC)
    assert len(events) == len(rows) == len(btc.bars) == 20
    high, low, close = _ohlc(btc.bars)
    atr = talib.ATR(high, low, close, 5)
    natr = talib.NATR(high, low, close, 5)
    for i, (event, row) in enumerate(zip(events, rows, strict=True)):
        bar = btc.bars[i]
        assert event.signal_id == row["signal_id"] == f"{BTC}:{bar.open_time + MINUTE}"
        assert event.t0 == row["t0"] == bar.open_time + MINUTE
        assert event.price == bar.close and event.config_rev == row["config_rev"] == 7
        assert msgspec.json.decode(row["features"], type=FeatureSet) == event.features
        f = event.features
        if math.isnan(atr[i]):
            assert f.atr is None and f.natr is None
        else:
            assert f.atr == pytest.approx(atr[i], abs=1e-9)
            assert f.natr == pytest.approx(natr[i], abs=1e-9)
        # Book features come from the bar's own minute only (S1 publishes the bar after the
        # next minute's first book update and trade).
        spreads = btc.spreads[bar.open_time]
        assert f.book_updates == len(spreads)
        assert f.spread_bp == pytest.approx(sum(spreads) / len(spreads), rel=1e-12)
        assert f.spread_bp_last == pytest.approx(spreads[-1], rel=1e-12)
        assert f.depth_imbalance == pytest.approx((6 - 3) / (6 + 3))
        assert f.rho == pytest.approx(1.0) or f.rho is None  # BTC is its own reference
        assert f.dqc.ok, (i, f.dqc)
    assert events[-1].features.rv is not None and events[-1].features.rho_pairs == 10


async def test_rho_pairs_the_reference_symbols_returns_by_minute(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    app = make_app(tmp_path)
    btc, eth = session(BTC, 15, seed=1), session(ETH, 15, seed=1)  # identical walks
    await enqueue(rclient, mkt_stream("perp", BTC), btc.events)
    await run_worker(app, rclient, pool, (BTC,), CFG)
    await enqueue(rclient, mkt_stream("perp", ETH), eth.events)
    await run_worker(app, rclient, pool, (ETH,), CFG)
    last = (await feature_events(rclient, ETH))[-1].features
    assert last.rho_pairs == 10 and last.rho == pytest.approx(1.0)


async def test_a_restarted_worker_resumes_from_the_cache_and_catches_up_the_stream(
    tmp_path: Path, redis_url: str, pool: asyncpg.Pool
) -> None:
    btc = session(BTC, 12, seed=4)
    # Cut in the middle of minute 6: its first book updates were applied in memory only (the
    # cache holds the state as of bar 5), so the new worker must re-read them from the stream.
    cut = next(
        i
        for i, e in enumerate(btc.events)
        if isinstance(e.event, Bar1m) and e.event.open_time == T0 + 5 * MINUTE
    )
    cut += 5
    app = make_app(tmp_path)
    # Each client is one worker process (S2's in-memory state is per process).
    clients = [await open_redis(redis_url) for _ in range(3)]
    whole, first, second = clients
    try:
        await enqueue(whole, mkt_stream("perp", BTC), btc.events)
        await run_worker(app, whole, pool, (BTC,), CFG)
        uninterrupted = await feature_events(whole, BTC)
        await whole.flushall()
        await pool.execute("TRUNCATE signals")

        await enqueue(first, mkt_stream("perp", BTC), btc.events[:cut])
        await run_worker(app, first, pool, (BTC,), CFG)
        raw = await second.hget(feat_cache_key(BTC), "state")
        assert raw is not None
        assert decode_cache(raw).last_open_time == T0 + 5 * MINUTE
        await enqueue(second, mkt_stream("perp", BTC), btc.events[cut:])
        await run_worker(app, second, pool, (BTC,), CFG, consumer="s2.2")
        resumed = await feature_events(second, BTC)
    finally:
        for client in clients:
            await client.aclose()
    assert [e.features for e in resumed] == [e.features for e in uninterrupted]
    assert len(resumed) == 12
    assert await pool.fetchval("SELECT count(*) FROM signals") == 12
