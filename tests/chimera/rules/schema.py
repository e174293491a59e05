"""The schema and helpers the rule-language tests share."""

from __future__ import annotations

from chimera.rules import RuleOutcome, RuleSet, Schema, ValueType, compile_rules

SCHEMA: Schema = {
    "natr": ValueType.NUMBER,
    "atr": ValueType.NUMBER,
    "close": ValueType.NUMBER,
    "funding_rate": ValueType.NUMBER,
    "spread_bp": ValueType.NUMBER,
    "regime": ValueType.STRING,
    "health": ValueType.STRING,
    "dqc_stale": ValueType.BOOL,
    "dqc_ok": ValueType.BOOL,
}


def rules(text: str) -> RuleSet:
    """Compile ``text`` against SCHEMA."""
    return compile_rules(text, SCHEMA, source="test")


def fires(condition: str, env: dict[str, object]) -> bool:
    """Tell whether a one-rule set with ``condition`` fires on ``env``."""
    outcome: RuleOutcome = rules(f'rule "r": when {condition} then size_mult = 0.5').evaluate(env)
    return outcome.fired == ("r",)
