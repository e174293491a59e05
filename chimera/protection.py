"""Stop-loss and take-profit prices of an entry (shared by S6 FUT legs and S3 SPOT OCO/GUARD).

Distances are ``positions.sl_atr_mult`` / ``tp_atr_mult`` x ATR, or ``fallback_sl_pct`` /
``fallback_tp_pct`` percent of the entry price when ATR is unknown (or would put a long's stop
or a short's take-profit at or below zero). Given a market ``regime``, each distance is scaled by
that regime's ``positions.regime_sl_mult`` / ``regime_tp_mult`` factor; without one (None: the
regime is unknown or expired) no factor applies. Prices are quantized to the entry price's
exponent (at most whole units), each distance rounded away from the entry: a stop is never
tighter than configured, and always at least one unit away.
"""

from __future__ import annotations

from decimal import ROUND_UP, Decimal

from chimera.config.positions import PositionsConfig
from chimera.domain.features import RegimeLabel
from chimera.domain.orders import Side

_HUNDRED = Decimal(100)


def _distance(raw: Decimal, unit: Decimal) -> Decimal:
    return max(raw.quantize(unit, rounding=ROUND_UP), unit)


def protective_prices(
    side: Side,
    entry: Decimal,
    atr: Decimal | None,
    config: PositionsConfig,
    regime: RegimeLabel | None = None,
) -> tuple[Decimal, Decimal]:
    """Return (stop-loss, take-profit) trigger prices of an entry on ``side`` at ``entry``.

    ``regime`` (S2's market regime label) widens or narrows both distances by its configured
    factors; None leaves them as the ATR / percentage rules give them.
    """
    if not entry.is_finite() or entry <= 0:
        raise ValueError(f"entry price must be positive, got {entry}")
    exponent = entry.as_tuple().exponent
    assert isinstance(exponent, int)  # a finite Decimal
    unit = Decimal(1).scaleb(min(exponent, 0))

    def scaled(sl_raw: Decimal, tp_raw: Decimal) -> tuple[Decimal, Decimal]:
        if regime is not None:
            sl_raw *= config.regime_sl_mult.of(regime)
            tp_raw *= config.regime_tp_mult.of(regime)
        return _distance(sl_raw, unit), _distance(tp_raw, unit)

    if atr is not None and atr.is_finite() and atr > 0:
        sl_dist, tp_dist = scaled(atr * config.sl_atr_mult, atr * config.tp_atr_mult)
        # A long's stop (a short's take-profit) must stay above zero; else the fallback.
        if (sl_dist if side == "buy" else tp_dist) < entry:
            return _apply(side, entry, sl_dist, tp_dist)
    # The config keeps each percentage x any regime factor below 100 % of the entry price.
    sl_dist, tp_dist = scaled(
        entry * config.fallback_sl_pct / _HUNDRED, entry * config.fallback_tp_pct / _HUNDRED
    )
    return _apply(side, entry, sl_dist, tp_dist)


def _apply(
    side: Side, entry: Decimal, sl_dist: Decimal, tp_dist: Decimal
) -> tuple[Decimal, Decimal]:
    if side == "buy":
        return entry - sl_dist, entry + tp_dist
    return entry + sl_dist, entry - tp_dist


__all__ = ["protective_prices"]
