"""The names S3's rules may read (``rule_schema``) and the compile step, shared by bundle
validation (a bad rule is refused at ``chimera config load``) and S3 (which compiles once per
config object).

Numbers: every numeric field of S2's ``FeatureSet`` (``natr``, ``spread_bp``, ``rho`` ...) and
``funding_rate`` (the next funding rate). Booleans: ``dqc_<flag>`` for each DQC flag and
``dqc_ok``. Strings: ``symbol``, ``regime`` (FROZEN / NORMAL / EXTREME; NORMAL when S2 has not
written one) and ``health`` (GREEN / YELLOW / ORANGE / RED). A value that is not known (a
feature still warming up, no funding yet) is missing: a rule reading it does not fire
(docs/rules.md).
"""

from __future__ import annotations

from chimera.domain.features import DqcFlags, FeatureSet
from chimera.rules import RuleSet, Schema, ValueType, compile_rules

RULES_SOURCE = "bundle:strategy.rules"

_NUMBERS = (*(name for name in FeatureSet.__struct_fields__ if name != "dqc"), "funding_rate")
_BOOLS = (*(f"dqc_{flag}" for flag in DqcFlags.__struct_fields__), "dqc_ok")
_STRINGS = ("symbol", "regime", "health")


def rule_schema() -> Schema:
    """Return the identifier -> type map of every value a rule may read."""
    schema: dict[str, ValueType] = {name: ValueType.NUMBER for name in _NUMBERS}
    schema.update({name: ValueType.BOOL for name in _BOOLS})
    schema.update({name: ValueType.STRING for name in _STRINGS})
    return schema


def compile_strategy_rules(text: str) -> RuleSet | None:
    """Compile ``text`` against ``rule_schema()`` (None when empty); ``RuleError`` if bad."""
    if not text.strip():
        return None
    return compile_rules(text, rule_schema(), source=RULES_SOURCE)


__all__ = ["RULES_SOURCE", "compile_strategy_rules", "rule_schema"]
