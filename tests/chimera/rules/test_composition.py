"""How fired rules compose into one outcome, and how evaluation failures are reported."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from chimera.rules import SIZE_MULT_CAP, RuleOutcome
from tests.chimera.rules.schema import rules

ENV: dict[str, object] = {
    "natr": 0.9,
    "atr": 10.0,
    "close": 100,
    "funding_rate": 0.0,
    "spread_bp": 2.0,
    "regime": "NORMAL",
    "health": "GREEN",
    "dqc_stale": False,
    "dqc_ok": True,
}


def test_descending_priority_then_file_order() -> None:
    ruleset = rules(
        'rule "b": when natr > 0 then tp_mult = 1\n'
        'rule "top" priority 9: when natr > 0 then tp_mult = 1\n'
        'rule "c": when natr > 0 then tp_mult = 1\n'
        'rule "mid" priority 5: when natr > 0 then tp_mult = 1\n'
    )
    assert ruleset.names == ("top", "mid", "b", "c")
    assert ruleset.evaluate(ENV).fired == ("top", "mid", "b", "c")


def test_skip_entry_is_sticky() -> None:
    ruleset = rules(
        'rule "unset" priority 1: when natr > 0 then skip_entry = false\n'
        'rule "skip" priority 5: when natr > 0 then skip_entry = true, reason = "SKIP"\n'
        'rule "later" priority 0: when natr > 0 then skip_entry = false, size_mult = 0.5\n'
    )
    outcome = ruleset.evaluate(ENV)
    assert outcome.skip_entry is True
    assert outcome.fired == ("skip", "unset", "later")
    assert outcome.reasons == ("SKIP",)


def test_multipliers_multiply_across_fired_rules() -> None:
    ruleset = rules(
        'rule "vol" priority 2: when natr > 0.8 then size_mult = 0.5, sl_mult = 1.5\n'
        'rule "health" priority 1: when health != "GREEN" then size_mult = 0.5\n'
        'rule "spread" priority 0: when spread_bp < 5 then size_mult = 0.5, tp_mult = 2\n'
    )
    outcome = ruleset.evaluate(ENV)
    assert outcome.fired == ("vol", "spread")
    assert (outcome.size_mult, outcome.tp_mult, outcome.sl_mult) == (
        Decimal("0.25"),
        Decimal(2),
        Decimal("1.5"),
    )
    degraded = ruleset.evaluate({**ENV, "health": "RED"})
    assert degraded.size_mult == Decimal("0.125")


def test_combined_multipliers_are_capped() -> None:
    ruleset = rules(
        'rule "a": when natr > 0 then size_mult = 2, tp_mult = 5, sl_mult = 0.2\n'
        'rule "b": when natr > 0 then size_mult = 2.5, tp_mult = 4, sl_mult = 0.2\n'
    )
    outcome = ruleset.evaluate(ENV)
    assert outcome.size_mult == SIZE_MULT_CAP
    assert outcome.tp_mult == Decimal(10)
    assert outcome.sl_mult == Decimal("0.1")
    assert outcome.reasons == (
        "CAPPED[size_mult]: 5.0 -> 3",
        "CAPPED[tp_mult]: 20 -> 10",
        "CAPPED[sl_mult]: 0.04 -> 0.1",
    )


def test_max_adds_override_from_highest_priority_fired_rule() -> None:
    ruleset = rules(
        'rule "low" priority 1: when natr > 0 then max_adds_override = 4\n'
        'rule "high" priority 9: when spread_bp > 3 then max_adds_override = 0\n'
        'rule "mid" priority 5: when natr > 0.5 then max_adds_override = 2\n'
    )
    assert ruleset.evaluate(ENV).max_adds_override == 2
    assert ruleset.evaluate({**ENV, "spread_bp": 4}).max_adds_override == 0
    assert ruleset.evaluate({**ENV, "natr": 0.1}).max_adds_override == 4
    assert ruleset.evaluate({**ENV, "natr": 0}).max_adds_override is None


def test_no_rule_fires() -> None:
    outcome = rules('rule "a": when natr > 5 then size_mult = 0').evaluate(ENV)
    assert outcome == RuleOutcome()


def test_runtime_division_by_zero_skips_only_that_rule() -> None:
    ruleset = rules(
        'rule "div" priority 2: when natr / funding_rate > 1 then skip_entry = true\n'
        'rule "act" priority 1: when natr > 0 then size_mult = spread_bp / funding_rate\n'
        'rule "ok": when natr > 0 then size_mult = 0.5\n'
    )
    outcome = ruleset.evaluate(ENV)
    assert outcome.skip_entry is False
    assert outcome.fired == ("ok",)
    assert outcome.size_mult == Decimal("0.5")
    assert outcome.reasons == (
        "EVAL_ERROR[div]: division by zero",
        "EVAL_ERROR[act]: division by zero",
    )


def test_computed_value_out_of_range_skips_the_rule() -> None:
    ruleset = rules(
        'rule "big": when natr > 0 then size_mult = natr * 10, tp_mult = 2\n'
        'rule "frac": when natr > 0 then max_adds_override = natr\n'
    )
    outcome = ruleset.evaluate(ENV)
    assert outcome.fired == ()
    assert outcome.tp_mult == 1
    assert outcome.reasons == (
        "EVAL_ERROR[big]: size_mult must be between 0 and 3, got 9.0",
        "EVAL_ERROR[frac]: max_adds_override must be a whole number, got 0.9",
    )
    assert (
        rules('rule "n": when natr > 0 then max_adds_override = natr + 1.1')
        .evaluate(ENV)
        .max_adds_override
        == 2
    )


def test_missing_values_are_reported() -> None:
    ruleset = rules(
        'rule "a": when natr > 1 then size_mult = 0.5\n'
        'rule "b": when atr > 1 then size_mult = 0.5\n'
        'rule "c": when close > 1 then size_mult = 0.5\n'
        'rule "d": when regime == "X" then size_mult = 0.5\n'
    )
    outcome = ruleset.evaluate({"natr": None, "atr": float("nan"), "regime": 3})
    assert outcome.fired == ()
    assert outcome.reasons == (
        "EVAL_ERROR[a]: natr is null",
        "EVAL_ERROR[b]: atr is not finite (nan)",
        "EVAL_ERROR[c]: close is missing",
        "EVAL_ERROR[d]: regime is of the wrong type (int)",
    )


def test_and_or_treat_a_missing_value_as_unknown() -> None:
    skip = rules(
        'rule "x": when regime == "EXTREME" or dqc_stale then skip_entry = true, reason = "X"'
    )
    assert skip.evaluate({"dqc_stale": True}).skip_entry is True
    outcome = skip.evaluate({"dqc_stale": False})
    assert outcome.fired == ()
    assert outcome.reasons == ("EVAL_ERROR[x]: regime is missing",)
    both = rules('rule "y": when natr > 1 and dqc_ok and spread_bp < 1 then size_mult = 0.5')
    assert both.evaluate({"dqc_ok": False}) == RuleOutcome()  # settled false: no error
    assert both.evaluate({"dqc_ok": True, "spread_bp": 0}).reasons == (
        "EVAL_ERROR[y]: natr is missing",
    )
    assert not_fired_reason('rule "z": when not dqc_stale then size_mult = 0.5') == (
        "EVAL_ERROR[z]: dqc_stale is missing",
    )


def not_fired_reason(text: str) -> tuple[str, ...]:
    """Return the reasons of ``text`` evaluated on an empty environment."""
    return rules(text).evaluate({}).reasons


def test_numbers_are_exact() -> None:
    ruleset = rules('rule "t": when natr > 0 then size_mult = 0.1 + 0.2, tp_mult = 1 / 3')
    outcome = ruleset.evaluate(ENV)
    assert outcome.size_mult == Decimal("0.3")
    assert outcome.tp_mult == Decimal("0.3333333333333333333333333333333333")


def test_outcome_round_trips_as_json() -> None:
    outcome = rules('rule "a": when natr > 0 then size_mult = 0.5, reason = "R"').evaluate(ENV)
    data = msgspec.json.encode(outcome)
    assert msgspec.json.decode(data, type=RuleOutcome) == outcome
