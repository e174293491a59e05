"""The ``positions:`` section of a config bundle.

S6's stop/take-profit distances: after an entry fills, S6 places a stop-loss ``sl_atr_mult`` x
ATR and a take-profit ``tp_atr_mult`` x ATR away from the entry's average price (ATR from S2's
latest features of the symbol). Without a known ATR the distances are ``fallback_sl_pct`` /
``fallback_tp_pct`` percent of the entry price.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec


class PositionsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """S6's stop/take-profit distances (ATR multiples, and percentages when ATR is unknown)."""

    sl_atr_mult: Decimal = Decimal("1.5")
    tp_atr_mult: Decimal = Decimal("3.0")
    # Percent of the entry price (1.0 = 1 %), used when S2 has no ATR for the symbol yet.
    fallback_sl_pct: Decimal = Decimal("1.0")
    fallback_tp_pct: Decimal = Decimal("2.0")

    def __post_init__(self) -> None:
        # msgspec cannot constrain Decimal fields, so they are checked here.
        for name in ("sl_atr_mult", "tp_atr_mult"):
            value: Decimal = getattr(self, name)
            if not value.is_finite() or not 0 < value <= 100:
                raise ValueError(f"{name} must be within (0, 100], got {value}")
        for name in ("fallback_sl_pct", "fallback_tp_pct"):
            value = getattr(self, name)
            # Below 100 %: a stop of a long at or below zero is no stop.
            if not value.is_finite() or not 0 < value < 100:
                raise ValueError(f"{name} must be within (0, 100), got {value}")


__all__ = ["PositionsConfig"]
