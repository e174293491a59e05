"""What a rule may set, the type and range of each action, and the caps on the combined result.

Per-rule ranges are checked when the value is a constant (a compile error) and again when it is
computed at evaluation time (the rule then does not fire). The combined multipliers are clamped
into the same ranges after composition, so no set of rules can push them outside.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from chimera.rules.schema import ValueType


class ActionSpec(msgspec.Struct, frozen=True):
    """One settable output: its value type, inclusive bounds, and whether it must be whole."""

    name: str
    kind: ValueType
    low: Decimal | None = None
    high: Decimal | None = None
    integral: bool = False
    literal_only: bool = False

    def violation(self, value: object) -> str | None:
        """Return why ``value`` is not allowed for this action, or None when it is."""
        if not isinstance(value, Decimal):
            return None
        if self.integral and value != value.to_integral_value():
            return f"{self.name} must be a whole number, got {value}"
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            return f"{self.name} must be between {self.low} and {self.high}, got {value}"
        return None


SIZE_MULT_CAP = Decimal("3")
"""The combined ``size_mult`` never exceeds this (a bound on how far rules can raise risk)."""
TP_SL_MULT_FLOOR = Decimal("0.1")
TP_SL_MULT_CAP = Decimal("10")
MAX_ADDS_CAP = Decimal("10")

ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec("skip_entry", ValueType.BOOL),
        ActionSpec("size_mult", ValueType.NUMBER, Decimal(0), SIZE_MULT_CAP),
        ActionSpec("tp_mult", ValueType.NUMBER, TP_SL_MULT_FLOOR, TP_SL_MULT_CAP),
        ActionSpec("sl_mult", ValueType.NUMBER, TP_SL_MULT_FLOOR, TP_SL_MULT_CAP),
        ActionSpec("max_adds_override", ValueType.NUMBER, Decimal(0), MAX_ADDS_CAP, integral=True),
        ActionSpec("reason", ValueType.STRING, literal_only=True),
    )
}
