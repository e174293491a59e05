"""The ``positions:`` section of a config bundle.

S6's stop/take-profit distances: after an entry fills, S6 places a stop-loss ``sl_atr_mult`` x
ATR and a take-profit ``tp_atr_mult`` x ATR away from the entry's average price (ATR from S2's
latest features of the symbol). Without a known ATR the distances are ``fallback_sl_pct`` /
``fallback_tp_pct`` percent of the entry price.

Both distances are then scaled by the market regime S2 publishes (``prod:{regime}:market:state``):
``regime_sl_mult`` / ``regime_tp_mult`` give one factor per label (``FROZEN``, ``NORMAL``,
``EXTREME``). The defaults keep NORMAL (and an absent or expired regime, which applies no
factor) at today's distances and widen both by 1.5 in an EXTREME regime, which keeps the
take-profit / stop-loss ratio.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from chimera.config.manage import ManageConfig
from chimera.domain.features import RegimeLabel

_ONE = Decimal(1)


class RegimeMultipliers(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="upper"):
    """A factor per market regime (YAML keys ``FROZEN``, ``NORMAL``, ``EXTREME``)."""

    frozen: Decimal = _ONE
    normal: Decimal = _ONE
    extreme: Decimal = Decimal("1.5")

    def __post_init__(self) -> None:
        for name in ("frozen", "normal", "extreme"):
            value: Decimal = getattr(self, name)
            if not value.is_finite() or not 0 < value <= 100:
                raise ValueError(f"{name.upper()} must be within (0, 100], got {value}")

    def of(self, regime: RegimeLabel) -> Decimal:
        """Return the factor of ``regime``."""
        value: Decimal = getattr(self, regime.lower())
        return value

    def largest(self) -> Decimal:
        """Return the largest factor (the widest distance any regime may give)."""
        return max(self.frozen, self.normal, self.extreme)


class PositionsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """S6's stop/take-profit distances (ATR multiples, and percentages when ATR is unknown)."""

    sl_atr_mult: Decimal = Decimal("1.5")
    tp_atr_mult: Decimal = Decimal("3.0")
    # Percent of the entry price (1.0 = 1 %), used when S2 has no ATR for the symbol yet.
    fallback_sl_pct: Decimal = Decimal("1.0")
    fallback_tp_pct: Decimal = Decimal("2.0")
    # Factors on both distances per market regime (none when the regime is unknown).
    regime_sl_mult: RegimeMultipliers = RegimeMultipliers()
    regime_tp_mult: RegimeMultipliers = RegimeMultipliers()
    # The manage tick (B3): lock ladder, partial take-profit, add-ons, stagnation.
    manage: ManageConfig = ManageConfig()

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
        # The same must hold once a regime widens the fallback (a long's stop, a short's TP).
        for pct, mults in (
            ("fallback_sl_pct", "regime_sl_mult"),
            ("fallback_tp_pct", "regime_tp_mult"),
        ):
            widest = getattr(self, pct) * getattr(self, mults).largest()
            if widest >= 100:
                raise ValueError(f"{pct} x the largest {mults} must be below 100 %, got {widest}")


__all__ = ["PositionsConfig", "RegimeMultipliers"]
