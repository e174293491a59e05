"""The stop-loss and take-profit of a filled FUT entry: prices and the two intents for S4.

Distances are ``positions.sl_atr_mult`` / ``tp_atr_mult`` x ATR, or ``fallback_sl_pct`` /
``fallback_tp_pct`` percent of the entry price when ATR is unknown (or would put a long's stop
or a short's take-profit at or below zero). Prices are quantized to the entry price's exponent
(at most whole units), each distance rounded away from the entry: a stop is never tighter than
configured, and always at least one unit away.
"""

from __future__ import annotations

from decimal import ROUND_UP, Decimal

from chimera.config.positions import PositionsConfig
from chimera.domain.orders import ExecStyle, OrderIntent, OrderResult, Purpose, Side

_OPPOSITE: dict[Side, Side] = {"buy": "sell", "sell": "buy"}
_HUNDRED = Decimal(100)


def sl_intent_id(entry_intent_id: str) -> str:
    """Return the intent id of an entry's stop-loss (deterministic: S4 dedupes redeliveries)."""
    return f"{entry_intent_id}:sl"


def tp_intent_id(entry_intent_id: str) -> str:
    """Return the intent id of an entry's take-profit."""
    return f"{entry_intent_id}:tp"


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


def protective_intents(
    result: OrderResult, prices: tuple[Decimal, Decimal], config_rev: int
) -> tuple[OrderIntent, OrderIntent]:
    """Return the reduce-only STOP_MARKET (SL) and TAKE_PROFIT_MARKET (TP) of a filled entry.

    ``prices`` is (stop-loss, take-profit). ``pos_id`` is the entry's intent id: at this stage one
    entry is one position, and S6's later stages (add-ons, exits) key the position by it.
    """
    sl, tp = prices
    return (
        _leg(result, sl_intent_id(result.intent_id), "STOP_MARKET", "SL", sl, config_rev),
        _leg(result, tp_intent_id(result.intent_id), "TAKE_PROFIT_MARKET", "TP", tp, config_rev),
    )


def _leg(
    result: OrderResult,
    intent_id: str,
    exec_style: ExecStyle,
    purpose: Purpose,
    trigger: Decimal,
    config_rev: int,
) -> OrderIntent:
    return OrderIntent(
        intent_id=intent_id,
        market=result.market,
        symbol=result.symbol,
        side=_OPPOSITE[result.side],
        qty=result.filled_qty,
        exec=exec_style,
        purpose=purpose,
        reduce_only=True,
        trigger_price=trigger,
        signal_id=result.signal_id,
        pos_id=result.intent_id,
        config_rev=config_rev,
        created_ts_ms=result.ts_ms,
    )


__all__ = ["protective_intents", "protective_prices", "sl_intent_id", "tp_intent_id"]
