"""Binance's symbol filters (PRICE_FILTER, LOT_SIZE, NOTIONAL) applied to a new order."""

from __future__ import annotations

from decimal import Decimal

from chimera.paper.markets import MarketSpec
from chimera.paper.trading import errors
from chimera.paper.trading.model import ZERO


def floor_to_step(qty: Decimal, step: Decimal) -> Decimal:
    """Round ``qty`` down to a multiple of ``step``."""
    return (qty // step) * step


def check_price(spec: MarketSpec, price: Decimal) -> None:
    """Refuse a price that is not positive or not on the tick grid."""
    if price <= ZERO:
        raise errors.TradingError(-1013, "Invalid price.")
    if price % spec.tick_size != ZERO:
        if spec.kind == "perp":
            raise errors.futures_tick_size()
        raise errors.filter_failure("PRICE_FILTER")


def check_quantity(spec: MarketSpec, qty: Decimal) -> None:
    """Refuse a quantity outside [minQty, maxQty] or off the step grid."""
    if qty <= ZERO:
        raise errors.TradingError(-1013, "Invalid quantity.")
    if qty % spec.step_size != ZERO:
        if spec.kind == "perp":
            raise errors.futures_precision()
        raise errors.filter_failure("LOT_SIZE")
    if qty < spec.min_qty or qty > spec.max_qty:
        raise errors.filter_failure("LOT_SIZE")


def check_notional(spec: MarketSpec, notional: Decimal, *, reduce_only: bool = False) -> None:
    """Refuse an order worth less than the market's minimum notional."""
    if notional >= spec.min_notional:
        return
    if spec.kind == "perp":
        if not reduce_only:
            raise errors.futures_min_notional(spec.min_notional.normalize())
        return
    raise errors.filter_failure("NOTIONAL")
