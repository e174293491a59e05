"""S2's daily regime: the last day's realized volatility ranked against the trailing days'.

Days are UTC days. The run at (or after) midnight labels the day that just ended: its RV (the
sample std of its 1-minute log returns from ``bars_1m``, annualised like the live RV) is ranked
among the RVs of the ``trailing_days`` days before it (mid-rank percentile, 0-100). Below
``frozen_below_pct`` -> FROZEN, above ``extreme_above_pct`` -> EXTREME, else NORMAL; with fewer
than ``min_days`` usable trailing days (or a last day without enough bars) the label is NORMAL
and ``rv_pct`` is null. The JSON ``RegimeState`` goes to ``prod:{regime}:market:state``, which
expires at ``expires_ms``; ``rev`` is the end of the labelled day (epoch ms), so a re-run for
the same day writes the same revision. The run's duration is the metric ``s2.regime_latency``
(ms) on ``metrics:events``.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict

import asyncpg
import msgspec
import numpy as np

from chimera.config.features import FeaturesConfig, RegimeConfig
from chimera.domain.features import RegimeLabel, RegimeState
from chimera.domain.metrics import MetricEvent
from chimera.features.volatility import log_returns
from chimera.names import METRICS_EVENTS, REGIME_STATE
from chimera_workers.connections import RedisClient
from chimera_workers.context import Context
from handlers.s2_features.handlers import features_config
from handlers.s2_features.store import require_db

DAY_MS = 86_400_000
REGIME_LATENCY = "s2.regime_latency"

SELECT_CLOSES = """
SELECT open_time, close::float8 AS close FROM bars_1m
WHERE venue_kind = $1 AND symbol = $2 AND open_time >= $3 AND open_time < $4
ORDER BY open_time
"""

_encode = msgspec.json.Encoder().encode


def day_rv(closes: list[float], periods_per_year: int) -> float:
    """Return the annualised RV of one day's closes (NaN with fewer than 3 closes)."""
    if len(closes) < 3:
        return math.nan
    returns = log_returns(np.asarray(closes, dtype=np.float64))
    return float(np.std(returns, ddof=1) * math.sqrt(periods_per_year))


def percentile_rank(value: float, history: list[float]) -> float:
    """Return the mid-rank percentile of ``value`` among ``history`` (0-100)."""
    below = sum(1 for h in history if h < value)
    equal = sum(1 for h in history if h == value)
    return 100.0 * (below + 0.5 * equal) / len(history)


def label_of(pct: float | None, cfg: RegimeConfig) -> RegimeLabel:
    """Return the regime of an RV percentile (NORMAL when unknown)."""
    if pct is None:
        return "NORMAL"
    if pct < cfg.frozen_below_pct:
        return "FROZEN"
    if pct > cfg.extreme_above_pct:
        return "EXTREME"
    return "NORMAL"


async def compute_regime(
    db: asyncpg.Pool, cfg: FeaturesConfig, as_of_ms: int, now_ms: int
) -> RegimeState:
    """Label the UTC day ending at ``as_of_ms`` (a day boundary) from stored bars."""
    rc = cfg.regime
    start = as_of_ms - (rc.trailing_days + 1) * DAY_MS
    rows = await db.fetch(SELECT_CLOSES, rc.venue_kind, rc.symbol, start, as_of_ms)
    by_day: dict[int, list[float]] = defaultdict(list)
    for row in rows:
        by_day[row["open_time"] // DAY_MS].append(row["close"])
    last_day = as_of_ms // DAY_MS - 1

    def rv_of(day: int) -> float:
        closes = by_day.get(day, [])
        if len(closes) < rc.min_bars_per_day:
            return math.nan
        return day_rv(closes, cfg.periods_per_year)

    today = rv_of(last_day)
    trailing = [rv_of(d) for d in range(last_day - rc.trailing_days, last_day)]
    history = [v for v in trailing if math.isfinite(v)]
    pct = None
    if math.isfinite(today) and len(history) >= rc.min_days:
        pct = percentile_rank(today, history)
    return RegimeState(
        state=label_of(pct, rc),
        rv_pct=pct,
        rev=as_of_ms,
        expires_ms=now_ms + rc.ttl_ms,
        ts_ms=now_ms,
        rv=today if math.isfinite(today) else None,
        days=len(history),
        symbol=rc.symbol,
    )


async def write_regime(redis: RedisClient, state: RegimeState) -> None:
    """Store ``state`` in ``prod:{regime}:market:state``, expiring at its ``expires_ms``."""
    await redis.set(REGIME_STATE, _encode(state), pxat=state.expires_ms)


async def regime_tick(ctx: Context) -> None:
    """Scheduled binding: label the UTC day that ended last and publish it."""
    started = time.perf_counter()
    now_ms = int(time.time() * 1000)
    cfg = features_config(ctx.config)
    state = await compute_regime(require_db(ctx.db), cfg, now_ms - now_ms % DAY_MS, now_ms)
    await write_regime(ctx.redis, state)
    latency_ms = (time.perf_counter() - started) * 1000
    ctx.emit(
        METRICS_EVENTS,
        MetricEvent(REGIME_LATENCY, latency_ms, now_ms, {"state": state.state}),
    )
