"""B7 under load: concurrent decisions never exceed the margin budget or a symbol's concurrency.

Hundreds of signals over several symbols are decided at once, each delivered twice
concurrently (a redelivery racing the first attempt), on a single Redis and on a Cluster.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from decimal import Decimal

import asyncpg
import pytest

from chimera.risk import RiskLedger
from chimera_workers.connections import RedisClient
from handlers.s3_strategy.engine import DecisionEngine
from tests.handlers.s3_strategy.support import T0, bundle, snapshot

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
PRICES = {"BTCUSDT": "50000", "ETHUSDT": "2000", "SOLUSDT": "100"}


@pytest.mark.parametrize(("budget", "per_symbol"), [("300", 4), ("2000", 2)])
async def test_concurrent_decisions_respect_both_caps(
    redis: RedisClient, pool: asyncpg.Pool, budget: str, per_symbol: int
) -> None:
    # A generous model timeout: 360 concurrent decisions on a loaded machine must not be refused
    # for the model; this test is about the risk caps.
    config = bundle(
        risk={"fut_margin_cap_usdt": budget, "max_concurrent_per_symbol": per_symbol},
        model={"timeout_ms": 5_000},
    )
    events = [
        snapshot(symbol, t0=T0 + i * 60_000, price=PRICES[symbol])
        for i in range(60)
        for symbol in SYMBOLS
    ]
    deliveries = [*events, *events]  # every signal twice, racing itself
    random.Random(11).shuffle(deliveries)
    engines = [DecisionEngine(redis, pool) for _ in range(4)]
    outcomes = await asyncio.gather(
        *(engines[i % 4].decide(e, config, 1) for i, e in enumerate(deliveries))
    )
    by_signal: dict[str, list[object]] = {}
    for o in outcomes:
        by_signal.setdefault(o.decision.signal_id, []).append(o.decision)
    # Decided once, even when raced: both deliveries of a signal got the same decision.
    assert all(first == second for first, second in by_signal.values())
    fresh = [o.decision for o in outcomes if o.fresh]
    assert len(fresh) == len(events)
    opens = [d for d in fresh if d.action == "open"]
    margin = sum((d.margin_usdt or Decimal(0) for d in opens), Decimal(0))
    per = Counter(d.symbol for d in opens)
    # Every entry's margin is 30 USDT (150 notional / 5): the caps bound the count exactly.
    cap_by_budget = int(Decimal(budget) / 30)
    assert len(opens) == min(cap_by_budget, per_symbol * len(SYMBOLS))
    assert margin <= Decimal(budget)
    assert max(per.values()) <= per_symbol
    assert {d.reason for d in fresh if d.action == "skip"} == {"RISK_BUDGET"}
    ledger = RiskLedger(redis)
    for symbol in SYMBOLS:
        in_use, count = await ledger.usage(symbol)
        assert count == per[symbol]
        assert in_use == margin
    rows = await pool.fetchval("SELECT count(*) FROM signals WHERE decision IS NOT NULL")
    assert rows == len(events)
