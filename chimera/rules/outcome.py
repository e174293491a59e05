"""What a rule set decides for one environment (the L1 part of an S3 decision)."""

from __future__ import annotations

from decimal import Decimal

import msgspec


class RuleOutcome(msgspec.Struct, frozen=True):
    """The composed effect of every rule that fired (see docs/rules.md for the composition).

    ``fired``: names of the rules that fired, in evaluation order (priority descending, then
    file order). ``reasons``: the ``reason`` of each fired rule that set one, then notes on
    rules that could not be evaluated (``EVAL_ERROR[...]``) and on capped multipliers
    (``CAPPED[...]``), in the order they happened.
    """

    skip_entry: bool = False
    size_mult: Decimal = Decimal(1)
    tp_mult: Decimal = Decimal(1)
    sl_mult: Decimal = Decimal(1)
    max_adds_override: int | None = None
    fired: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()


NEUTRAL = RuleOutcome()
"""The outcome when no rule fires: enter, unchanged size, TP and SL."""
