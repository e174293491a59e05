"""The entry intent an ``open`` decision hands to S4: FUT (B1) or SPOT with OCO / GUARD (B2).

The intent is a pure function of the stored decision, the feature snapshot it was made on and
the config revision it was made under, so a redelivery rebuilds exactly the intent the first
delivery emitted. A SPOT entry is a long (spot cannot be shorted) whose take-profit and
stop-loss come from ``chimera.protection.protective_prices`` at the snapshot's price with the
snapshot's ATR and the ``positions:`` distances.
"""

from __future__ import annotations

from decimal import Decimal

from chimera.config.bundle import ConfigBundle
from chimera.domain.features import FeatureEvent
from chimera.domain.orders import ExecStyle, OrderIntent
from chimera.domain.signals import Decision, entry_intent_id
from chimera.protection import protective_prices


def atr_of(event: FeatureEvent) -> Decimal | None:
    """Return the snapshot's ATR as an exact Decimal (None when unknown or not finite)."""
    atr = event.features.atr
    if atr is None:
        return None
    value = Decimal(repr(atr))
    return value if value.is_finite() and value > 0 else None


def intent_of(decision: Decision, event: FeatureEvent, config: ConfigBundle) -> OrderIntent | None:
    """Return the entry intent of an ``open`` decision (None for ``skip``).

    ``config`` must be the revision the decision was made under (``decision.config_rev``).
    """
    if decision.action != "open" or decision.side is None or decision.qty is None:
        return None
    strategy = config.strategy
    market = strategy.entry_market
    exec_style: ExecStyle = strategy.entry_exec
    tp_price: Decimal | None = None
    sl_price: Decimal | None = None
    maker_wait_ms: int | None = None
    if exec_style == "MAKER_TAKER":
        # B9: a worse health waits longer for a maker fill, and from a grade on takes at once.
        if strategy.market_at(decision.health):
            exec_style = "MARKET"
        else:
            waits = strategy.health_maker_wait_mult.items()
            mult = next((m for grade, m in waits if grade == decision.health), Decimal(1))
            cap = config.router.intent_lock_ttl_ms // 2
            maker_wait_ms = min(int(config.router.maker_wait_ms * mult), cap)
    if market == "SPOT":
        exec_style = strategy.spot_exec
        price = decision.price if decision.price is not None else event.price
        sl_price, tp_price = protective_prices(
            decision.side, price, atr_of(event), config.positions
        )
    return OrderIntent(
        intent_id=entry_intent_id(decision.signal_id),
        market=market,
        symbol=decision.symbol,
        side=decision.side,
        qty=decision.qty,
        exec=exec_style,
        purpose="ENTRY",
        tp_price=tp_price,
        sl_price=sl_price,
        signal_id=decision.signal_id,
        maker_wait_ms=maker_wait_ms,
        config_rev=decision.config_rev,
        created_ts_ms=decision.ts_ms,
    )


__all__ = ["atr_of", "intent_of"]
