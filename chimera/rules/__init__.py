"""S3's rule language (L1): parse, type-check and evaluate priority rules over features.

Pure library, no I/O. ``compile_rules(text, schema)`` returns a ``RuleSet`` (or raises a
``RuleError`` with line and column); ``RuleSet.evaluate(env)`` returns a ``RuleOutcome`` and never
raises. Syntax, types and composition are documented in docs/rules.md.
"""

from chimera.rules.actions import ACTIONS, SIZE_MULT_CAP, TP_SL_MULT_CAP, TP_SL_MULT_FLOOR
from chimera.rules.errors import RuleError
from chimera.rules.outcome import NEUTRAL, RuleOutcome
from chimera.rules.ruleset import RuleSet, compile_rules
from chimera.rules.schema import Schema, ValueType

__all__ = [
    "ACTIONS",
    "NEUTRAL",
    "SIZE_MULT_CAP",
    "TP_SL_MULT_CAP",
    "TP_SL_MULT_FLOOR",
    "RuleError",
    "RuleOutcome",
    "RuleSet",
    "Schema",
    "ValueType",
    "compile_rules",
]
