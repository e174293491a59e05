"""L1: evaluate the compiled ``strategy.rules`` on one signal's values.

The names and types rules may read are ``chimera.config.strategy_rules.rule_schema``; unknown
values (``null`` features, no funding yet) are left out of the environment, so a rule reading
them does not fire and the outcome notes why.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from chimera.config.strategy_rules import compile_strategy_rules
from chimera.domain.features import FeatureEvent
from chimera.rules import RuleOutcome, RuleSet

Env = dict[str, float | int | bool | str | Decimal]
_NOTES = ("EVAL_ERROR[", "CAPPED[")


def rule_env(event: FeatureEvent, *, regime: str, health: str, funding_rate: Decimal | None) -> Env:
    """Return the values the rules read for ``event`` (unknown ones left out)."""
    env: Env = {name: value for name, value in event.as_env().items() if value is not None}
    env["regime"] = regime
    env["health"] = health
    if funding_rate is not None:
        env["funding_rate"] = funding_rate
    return env


def skip_reason(outcome: RuleOutcome) -> str | None:
    """Return the first reason a fired rule gave (not an evaluation note), if any."""
    return next((r for r in outcome.reasons if not r.startswith(_NOTES)), None)


@dataclass(frozen=True, slots=True)
class CompiledRules:
    """A compiled rule set (None: no rules configured)."""

    rules: RuleSet | None

    @classmethod
    def compile(cls, text: str) -> CompiledRules:
        """Compile ``text`` (``RuleError`` with line and column if it is bad)."""
        return cls(compile_strategy_rules(text))

    def evaluate(self, env: Env) -> RuleOutcome | None:
        """Evaluate the rules on ``env``; None when there are none. Never raises."""
        return None if self.rules is None else self.rules.evaluate(env)


__all__ = ["CompiledRules", "Env", "rule_env", "skip_reason"]
