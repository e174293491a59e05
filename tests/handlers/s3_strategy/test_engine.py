"""S3's decision on real Redis and PostgreSQL: gates, model → size, idempotency, risk refusal."""

from __future__ import annotations

from decimal import Decimal

import asyncpg
import msgspec
import pytest

from chimera import names
from chimera.domain.signals import Decision
from chimera.prod_state import KillSwitch, set_kill_switch
from chimera.risk import RiskLedger
from chimera_workers.connections import RedisClient
from handlers.s3_strategy.engine import DecisionEngine
from tests.handlers.s3_strategy.support import T0, bundle, snapshot


@pytest.fixture
def engine(rclient: RedisClient, pool: asyncpg.Pool) -> DecisionEngine:
    return DecisionEngine(rclient, pool)


async def stored(pool: asyncpg.Pool, signal_id: str) -> Decision | None:
    raw = await pool.fetchval("SELECT decision::text FROM signals WHERE signal_id = $1", signal_id)
    return None if raw is None else msgspec.json.decode(raw, type=Decision)


async def test_an_entry_is_sized_reserved_stored_and_intended(
    engine: DecisionEngine, pool: asyncpg.Pool, rclient: RedisClient
) -> None:
    event = snapshot()
    outcome = await engine.decide(event, bundle(), 7)
    d = outcome.decision
    assert outcome.fresh
    assert (d.action, d.reason, d.side, d.config_rev) == ("open", "ENTRY", "buy", 7)
    assert d.model_p == pytest.approx(0.8807970779778823)
    # edge = 0.7616 → above full_edge 0.5 → size_at_full_edge 1.5; 100 x 1.5 / 50000 = 0.003
    assert d.size_mult == Decimal("1.5") and d.qty == Decimal("0.003")
    assert d.margin_usdt == Decimal("30")  # 150 USDT notional / leverage 5
    assert outcome.intent is not None
    assert (outcome.intent.intent_id, outcome.intent.market, outcome.intent.qty) == (
        f"{event.signal_id}:entry",
        "FUT",
        Decimal("0.003"),
    )
    assert (outcome.intent.signal_id, outcome.intent.config_rev) == (event.signal_id, 7)
    assert await stored(pool, event.signal_id) == d
    assert await RiskLedger(rclient).usage("BTCUSDT") == (Decimal("30.00"), 1)
    assert await rclient.get(names.RISK_FUT_MARGIN_INUSE) == b"3000"  # cents
    assert await rclient.get(names.risk_concurrency_mirror_key("BTCUSDT")) == b"1"


async def test_deciding_again_returns_the_stored_decision(
    engine: DecisionEngine, pool: asyncpg.Pool, rclient: RedisClient
) -> None:
    event = snapshot()
    first = await engine.decide(event, bundle(), 1)
    # Even under a config that would now skip, the signal keeps its first decision.
    again = await engine.decide(event, bundle(enabled=False), 2)
    assert not again.fresh and again.decision == first.decision
    assert again.intent == first.intent
    assert await RiskLedger(rclient).usage("BTCUSDT") == (Decimal("30.00"), 1)


@pytest.mark.parametrize(
    ("setup", "strategy", "reason"),
    [
        ("kill", {}, "KILL_SWITCH"),
        ("kill_plain", {}, "KILL_SWITCH"),
        ("kill_garbage", {}, "KILL_SWITCH"),
        (None, {"enabled": False}, "DISABLED"),
        (None, {"symbols": ["ETHUSDT"]}, "DISABLED"),
        (None, {"windows": [{"start": "08:00", "end": "16:00"}]}, "OUTSIDE_WINDOW"),
        (None, {"windows": [{"start": "00:00", "end": "00:00", "days": [1]}]}, "OUTSIDE_WINDOW"),
        ("red", {}, "HEALTH"),
        ("orange", {}, "HEALTH"),
        (None, {"model": {"intercept": 0.1}}, "LOW_EDGE"),
        (None, {"model": {"intercept": -2.0}, "allow_short": False}, "NO_SHORTS"),
        (None, {"model": {"coefficients": {"rho": 1.0}}}, "MODEL_UNAVAILABLE"),
        (None, {"sizing": {"notional_usdt": "10"}}, "SIZE_TOO_SMALL"),
    ],
)
async def test_gates_skip_with_their_reason(
    engine: DecisionEngine,
    pool: asyncpg.Pool,
    rclient: RedisClient,
    setup: str | None,
    strategy: dict[str, object],
    reason: str,
) -> None:
    if setup == "kill":
        await set_kill_switch(rclient, KillSwitch(on=True, by="ops", reason="test", ts_ms=1))
    elif setup == "kill_plain":
        await rclient.set(names.KILL_SWITCH, "ON")
    elif setup == "kill_garbage":
        await rclient.set(names.KILL_SWITCH, "{{{")
    elif setup in ("red", "orange"):
        await rclient.set(names.HEALTH_STATE, setup.upper())
    outcome = await engine.decide(snapshot(), bundle(**strategy), 3)
    d = outcome.decision
    assert (d.action, d.reason) == ("skip", reason)
    assert outcome.intent is None and d.intent_id is None
    assert await stored(pool, d.signal_id) == d
    assert await RiskLedger(rclient).usage("BTCUSDT") == (Decimal(0), 0)


async def test_kill_switch_off_and_open_window_let_entries_through(
    engine: DecisionEngine, rclient: RedisClient
) -> None:
    await set_kill_switch(rclient, KillSwitch(on=False))
    # T0 is a Tuesday (ISO day 2) at 22:14 UTC: inside an overnight window starting Tuesday.
    windows = [{"start": "22:00", "end": "02:00", "days": [2]}]
    outcome = await engine.decide(snapshot(), bundle(windows=windows), 1)
    assert outcome.decision.action == "open"
    # ...and 3 hours later (Wednesday 01:14) still inside it.
    later = await engine.decide(snapshot(t0=T0 + 3 * 3_600_000), bundle(windows=windows), 1)
    assert later.decision.reason == "RISK_BUDGET"  # past the window gate; one per symbol


async def test_yellow_health_halves_the_size(engine: DecisionEngine, rclient: RedisClient) -> None:
    await rclient.set(names.HEALTH_STATE, "YELLOW")
    outcome = await engine.decide(snapshot(), bundle(), 1)
    assert outcome.decision.size_mult == Decimal("0.75")
    assert outcome.decision.qty == Decimal("0.001")  # 0.0015 rounded down to the step


async def test_a_model_fallback_is_used_and_marked(engine: DecisionEngine) -> None:
    strategy = {"model": {"coefficients": {"rho": 1.0}, "fallback_p": 0.2}}
    outcome = await engine.decide(snapshot(), bundle(**strategy), 1)
    d = outcome.decision
    assert (d.action, d.side, d.model_p, d.model_fallback) == ("open", "sell", 0.2, True)
    # edge 0.6 ≥ full_edge → 1.5
    assert d.size_mult == Decimal("1.5")


async def test_the_risk_budget_refuses_with_risk_budget(
    engine: DecisionEngine, rclient: RedisClient
) -> None:
    config = bundle(risk={"fut_margin_cap_usdt": "50", "max_concurrent_per_symbol": 5})
    first = await engine.decide(snapshot(t0=T0), config, 1)
    second = await engine.decide(snapshot(t0=T0 + 60_000), config, 1)
    assert first.decision.action == "open"
    assert (second.decision.action, second.decision.reason) == ("skip", "RISK_BUDGET")
    assert second.decision.rules_fired[-1] == "risk:budget"
    assert second.intent is None
    per_symbol = bundle(risk={"max_concurrent_per_symbol": 1})
    third = await engine.decide(snapshot(t0=T0 + 120_000), per_symbol, 1)
    assert third.decision.rules_fired[-1] == "risk:slot_cap"
    other = await engine.decide(snapshot("ETHUSDT", price="2000"), per_symbol, 1)
    assert other.decision.action == "open"
    # Releasing the first entry (S6 closes the position) frees the budget for a new signal.
    assert await RiskLedger(rclient).release(first.decision.signal_id, "BTCUSDT")
    # In use now: ETH's 30; a cap of 60 fits another 30.
    wider = bundle(risk={"fut_margin_cap_usdt": "60", "max_concurrent_per_symbol": 5})
    fourth = await engine.decide(snapshot(t0=T0 + 180_000), wider, 1)
    assert fourth.decision.action == "open"
    assert await rclient.get(names.risk_concurrency_mirror_key("BTCUSDT")) == b"1"


async def test_a_reservation_left_by_a_crash_is_released_by_a_skip_redelivery(
    engine: DecisionEngine, rclient: RedisClient
) -> None:
    ledger = RiskLedger(rclient)
    event = snapshot()
    # First attempt reserved, then died before storing its decision.
    assert (await ledger.reserve(event.signal_id, "BTCUSDT", Decimal(30), bundle().risk)).ok
    await set_kill_switch(rclient, KillSwitch(on=True))
    outcome = await engine.decide(event, bundle(), 1)
    assert outcome.decision.reason == "KILL_SWITCH"
    assert await ledger.usage("BTCUSDT") == (Decimal(0), 0)
