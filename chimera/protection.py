"""Stop-loss and take-profit prices of an entry (shared by S6 FUT legs and S3 SPOT OCO/GUARD).

Distances are ``positions.sl_atr_mult`` / ``tp_atr_mult`` x ATR, or ``fallback_sl_pct`` /
``fallback_tp_pct`` percent of the entry price when ATR is unknown (or would put a long's stop
or a short's take-profit at or below zero). Prices are quantized to the entry price's exponent
(at most whole units), each distance rounded away from the entry: a stop is never tighter than
configured, and always at least one unit away.
"""

from __future__ import annotations

from decimal import ROUND_UP, Decimal

from chimera.config.positions import PositionsConfig
from chimera.domain.orders import Side

_HUNDRED = Decimal(100)


def _distance(raw: Decimal, unit: Decimal) -> Decimal:
    return max(raw.quantize(unit, rounding=ROUND_UP), unit)


def protective_prices(
    side: Side, entry: Decimal, atr: Decimal | None, config: PositionsConfig
) -> tuple[Decimal, Decimal]:
    """Return (stop-loss, take-profit) trigger prices of an entry on ``side`` at ``entry``."""
    if not entry.is_finite() or entry <= 0:
        raise ValueError(f"entry price must be positive, got {entry}")
    exponent = entry.as_tuple().exponent
    assert isinstance(exponent, int)  # a finite Decimal
    unit = Decimal(1).scaleb(min(exponent, 0))
    if atr is not None and atr.is_finite() and atr > 0:
        sl_dist = _distance(atr * config.sl_atr_mult, unit)
        tp_dist = _distance(atr * config.tp_atr_mult, unit)
        # A long's stop (a short's take-profit) must stay above zero; else the fallback.
        if (sl_dist if side == "buy" else tp_dist) < entry:
            return _apply(side, entry, sl_dist, tp_dist)
    sl_dist = _distance(entry * config.fallback_sl_pct / _HUNDRED, unit)
    tp_dist = _distance(entry * config.fallback_tp_pct / _HUNDRED, unit)
    return _apply(side, entry, sl_dist, tp_dist)


def _apply(
    side: Side, entry: Decimal, sl_dist: Decimal, tp_dist: Decimal
) -> tuple[Decimal, Decimal]:
    if side == "buy":
        return entry - sl_dist, entry + tp_dist
    return entry + sl_dist, entry - tp_dist


__all__ = ["protective_prices"]
