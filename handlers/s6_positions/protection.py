"""The stop-loss and take-profit intents of one filled leg of a FUT entry, for S4.

The prices come from :func:`chimera.protection.protective_prices` (shared with S3's SPOT
OCO/GUARD entries); this module turns them into S4's two reduce-only conditional intents.

Every leg that filled gets its own pair, sized with that leg's filled quantity, so the stops of
an entry always add up to what it filled. A market entry's single leg (``mk``) keeps the
entry's own ids ``<entry>:sl`` / ``<entry>:tp``; any other leg ``L`` (``mm``, ``mt``,
``s<i>``, ``x``) gets ``<entry>:L:sl`` / ``<entry>:L:tp``.
"""

from __future__ import annotations

from decimal import Decimal

from chimera.domain.orders import OPPOSITE, ExecStyle, OrderIntent, OrderResult, Purpose
from chimera.protection import protective_prices
from handlers.s4_router.ids import LEG_MARKET
from handlers.s6_positions.legs import LegOutcome


def _prefix(entry_intent_id: str, leg: str) -> str:
    return entry_intent_id if leg == LEG_MARKET else f"{entry_intent_id}:{leg}"


def sl_intent_id(entry_intent_id: str, leg: str = LEG_MARKET) -> str:
    """Return the intent id of the stop-loss of ``leg`` of an entry (deterministic: S4 dedupes)."""
    return f"{_prefix(entry_intent_id, leg)}:sl"


def tp_intent_id(entry_intent_id: str, leg: str = LEG_MARKET) -> str:
    """Return the intent id of the take-profit of ``leg`` of an entry."""
    return f"{_prefix(entry_intent_id, leg)}:tp"


def protective_intents(
    result: OrderResult, prices: tuple[Decimal, Decimal], leg: str, outcome: LegOutcome
) -> tuple[OrderIntent, OrderIntent]:
    """Return the reduce-only STOP_MARKET (SL) and TAKE_PROFIT_MARKET (TP) of a filled leg.

    ``prices`` is (stop-loss, take-profit), pinned per entry; ``outcome`` is the leg's pinned
    filled quantity, time and config revision. ``pos_id`` is the entry's intent id: at this
    stage one entry is one position, and S6's later stages (add-ons, exits) key it by that.
    """
    sl, tp = prices
    return (
        _intent(result, sl_intent_id(result.intent_id, leg), "STOP_MARKET", "SL", sl, outcome),
        _intent(
            result, tp_intent_id(result.intent_id, leg), "TAKE_PROFIT_MARKET", "TP", tp, outcome
        ),
    )


def _intent(
    result: OrderResult,
    intent_id: str,
    exec_style: ExecStyle,
    purpose: Purpose,
    trigger: Decimal,
    outcome: LegOutcome,
) -> OrderIntent:
    return OrderIntent(
        intent_id=intent_id,
        market=result.market,
        symbol=result.symbol,
        side=OPPOSITE[result.side],
        qty=outcome.filled_qty,
        exec=exec_style,
        purpose=purpose,
        reduce_only=True,
        trigger_price=trigger,
        signal_id=result.signal_id,
        pos_id=result.intent_id,
        config_rev=outcome.config_rev,
        created_ts_ms=outcome.ts_ms,
    )


__all__ = ["protective_intents", "protective_prices", "sl_intent_id", "tp_intent_id"]
