"""The stop-loss and take-profit intents of a filled FUT entry, for S4.

The prices come from :func:`chimera.protection.protective_prices` (shared with S3's SPOT
OCO/GUARD entries); this module turns them into S4's two reduce-only conditional intents.
"""

from __future__ import annotations

from decimal import Decimal

from chimera.domain.orders import ExecStyle, OrderIntent, OrderResult, Purpose, Side
from chimera.protection import protective_prices

_OPPOSITE: dict[Side, Side] = {"buy": "sell", "sell": "buy"}


def sl_intent_id(entry_intent_id: str) -> str:
    """Return the intent id of an entry's stop-loss (deterministic: S4 dedupes redeliveries)."""
    return f"{entry_intent_id}:sl"


def tp_intent_id(entry_intent_id: str) -> str:
    """Return the intent id of an entry's take-profit."""
    return f"{entry_intent_id}:tp"


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
