"""L1 inside decisions: a rule's skip and reason, multipliers, missing values; a bad rule is
refused when the bundle is loaded, with the rule's line and column."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from chimera import names
from chimera.config.bundle_file import BundleFileError, read_bundle_file
from chimera_workers.connections import RedisClient
from handlers.s3_strategy.engine import DecisionEngine
from tests.handlers.s3_strategy.support import bundle, snapshot

RULES = """
rule "extreme regime: no entries" priority 100:
  when regime == "EXTREME" or dqc_stale
  then skip_entry = true, reason = "REGIME_EXTREME"
rule "high vol: smaller, wider stop" priority 50:
  when natr > 0.8 and spread_bp < 5
  then size_mult = 0.5, sl_mult = 1.5
rule "expensive funding" priority 40:
  when funding_rate > 0.001
  then skip_entry = true, reason = "FUNDING"
"""


@pytest.fixture
def engine(rclient: RedisClient, pool: asyncpg.Pool) -> DecisionEngine:
    return DecisionEngine(rclient, pool)


async def test_a_skip_rule_gives_its_reason(engine: DecisionEngine, rclient: RedisClient) -> None:
    await rclient.set(names.REGIME_STATE, '{"state":"EXTREME","rv_pct":99.0,"rev":1,'
                      '"expires_ms":9999999999999,"ts_ms":1}')  # fmt: skip
    d = (await engine.decide(snapshot(), bundle(rules=RULES), 1)).decision
    assert (d.action, d.reason) == ("skip", "REGIME_EXTREME")
    assert d.rules_fired == ("extreme regime: no entries",)


async def test_a_dqc_flag_skips(engine: DecisionEngine) -> None:
    event = snapshot(dqc={"stale": True})
    d = (await engine.decide(event, bundle(rules=RULES), 1)).decision
    assert d.reason == "REGIME_EXTREME"


async def test_rule_multipliers_shape_the_entry(engine: DecisionEngine) -> None:
    d = (await engine.decide(snapshot(natr=0.9), bundle(rules=RULES), 1)).decision
    assert (d.action, d.size_mult, d.sl_mult, d.tp_mult) == (
        "open",
        Decimal("0.75"),  # model 1.5 x rule 0.5
        Decimal("1.5"),
        Decimal("1"),
    )
    assert d.rules_fired == ("high vol: smaller, wider stop",)


async def test_funding_is_read_from_s1s_key(engine: DecisionEngine, rclient: RedisClient) -> None:
    await rclient.set(
        names.funding_next_key("BTCUSDT"),
        '{"kind":"next","symbol":"BTCUSDT","rate":"0.002","funding_time_ms":1,"ts_ms":1}',
    )
    d = (await engine.decide(snapshot(), bundle(rules=RULES), 1)).decision
    assert (d.action, d.reason) == ("skip", "FUNDING")


async def test_an_unknown_feature_does_not_fire_and_is_noted(engine: DecisionEngine) -> None:
    d = (await engine.decide(snapshot(natr=None), bundle(rules=RULES), 1)).decision
    assert d.action == "open" and d.size_mult == Decimal("1.5")
    assert any(r.startswith("EVAL_ERROR[high vol") for r in d.rule_reasons), d.rule_reasons


def test_a_bad_rule_is_refused_at_load_with_its_position(tmp_path: Path) -> None:
    bad = tmp_path / "bundle.yaml"
    bad.write_text(
        "strategy:\n"
        "  rules: |\n"
        '    rule "r" priority 1:\n'
        '      when natr > "high"\n'
        "      then size_mult = 2\n"
    )
    with pytest.raises(BundleFileError) as err:
        read_bundle_file(bad)
    (problem,) = err.value.problems
    assert problem.where == "strategy"
    assert "bundle:strategy.rules:2:15: '>' needs a number, got a string" in problem.message


def test_an_unknown_identifier_is_refused_with_a_suggestion() -> None:
    with pytest.raises(ValueError, match="natrr"):
        bundle(rules='rule "r" priority 1:\n  when natrr > 1\n  then size_mult = 2\n')
