"""The daily regime: RV percentile from ``bars_1m`` -> ``prod:{regime}:market:state`` + metric."""

from __future__ import annotations

import time
from pathlib import Path

import asyncpg
import msgspec
import pytest

from chimera.config.features import FeaturesConfig, RegimeConfig
from chimera.domain.features import RegimeState
from chimera.domain.metrics import MetricEvent
from chimera.names import METRICS_EVENTS, REGIME_STATE
from chimera_workers.config_ref import ConfigRef
from chimera_workers.connections import RedisClient
from chimera_workers.keys import PAYLOAD_FIELD
from chimera_workers.scheduler import Scheduler
from chimera_workers.worker import Worker
from handlers.s2_features.regime import DAY_MS, compute_regime, percentile_rank
from tests.handlers.s2_features.bars_db import insert_bars, walk
from tests.handlers.s2_features.support import REGIME_JOB, make_app

CFG = FeaturesConfig(regime=RegimeConfig(trailing_days=10, min_days=5, min_bars_per_day=30))


def _midnight() -> int:
    now = int(time.time() * 1000)
    return now - now % DAY_MS


async def _history(pool: asyncpg.Pool, midnight: int, last_sigma: float, days: int = 10) -> None:
    for d in range(days, 0, -1):
        sigma = last_sigma if d == 1 else 1e-3 + 1e-4 * (d % 5)
        await insert_bars(pool, "BTCUSDT", walk(midnight - d * DAY_MS, 60, sigma, seed=d))


async def test_the_scheduled_run_labels_an_extreme_day_and_reports_its_latency(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    midnight = _midnight()
    await _history(pool, midnight, last_sigma=6e-3)
    app = make_app(tmp_path)
    worker = Worker(
        app, rclient, consumer="s2.1", bindings=[], schedules=[REGIME_JOB], db=pool,
        config=ConfigRef(CFG, 3), retention=False,
    )  # fmt: skip
    scheduler = Scheduler(
        rclient, worker.scripts, [app.schedules[REGIME_JOB]], worker.context, worker.metrics, "t"
    )
    assert await scheduler.run_tick(app.schedules[REGIME_JOB], midnight + 300_000)

    raw = await rclient.get(REGIME_STATE)
    assert raw is not None
    state = msgspec.json.decode(raw, type=RegimeState)
    assert state.state == "EXTREME" and state.rv_pct == 100.0 and state.days == 9
    assert state.rev == midnight and state.symbol == "BTCUSDT"
    assert state.expires_ms == state.ts_ms + CFG.regime.ttl_ms
    ttl = await rclient.pttl(REGIME_STATE)
    assert 0 < ttl <= CFG.regime.ttl_ms
    entries = await rclient.xrange(METRICS_EVENTS)
    metric = msgspec.json.decode(entries[-1][1][PAYLOAD_FIELD], type=MetricEvent)
    assert metric.name == "s2.regime_latency" and metric.value > 0
    assert metric.labels == {"state": "EXTREME"}


async def test_a_quiet_day_is_frozen_and_too_little_history_is_normal(
    pool: asyncpg.Pool,
) -> None:
    midnight = _midnight()
    await _history(pool, midnight, last_sigma=1e-4)
    frozen = await compute_regime(pool, CFG, midnight, midnight + 1)
    assert frozen.state == "FROZEN" and frozen.rv_pct == 0.0
    # A week later nothing new was stored: the labelled day has no bars.
    unknown = await compute_regime(pool, CFG, midnight + 7 * DAY_MS, midnight + 1)
    assert unknown.state == "NORMAL" and unknown.rv_pct is None and unknown.rv is None


def test_percentile_rank_uses_mid_ranks() -> None:
    assert percentile_rank(2.0, [1.0, 2.0, 3.0, 4.0]) == pytest.approx(37.5)
    assert percentile_rank(9.0, [1.0, 2.0]) == 100.0
