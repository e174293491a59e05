"""L2's p → size_mult curve, the entry quantity, and its margin (docs/s3-strategy.md).

Probabilities are floats (statistics); the size multiplier becomes a ``Decimal`` here, and every
quantity and amount after it is exact.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from chimera.config.strategy import SizingConfig
from chimera.domain.orders import Side

_MULT_QUANTUM = Decimal("0.0001")


def direction(p: float) -> Side:
    """Return ``buy`` when up is at least as likely as down, else ``sell``."""
    return "buy" if p >= 0.5 else "sell"


def edge(p: float) -> float:
    """Return |2p - 1|: 0 when the model has no view, 1 when it is certain."""
    return abs(2.0 * p - 1.0)


def model_size_mult(p: float, sizing: SizingConfig) -> Decimal | None:
    """Map p to the model's size multiplier; None below ``min_edge`` (no entry)."""
    e = edge(p)
    if e < sizing.min_edge:
        return None
    span = sizing.full_edge - sizing.min_edge
    ramp = min(1.0, (e - sizing.min_edge) / span)
    low, high = sizing.size_at_min_edge, sizing.size_at_full_edge
    # ramp is a float in [0, 1]; quantise it before it meets money-side Decimals.
    fraction = Decimal(repr(ramp)).quantize(_MULT_QUANTUM, rounding=ROUND_DOWN)
    return (low + (high - low) * fraction).quantize(_MULT_QUANTUM, rounding=ROUND_DOWN)


def cap_size_mult(mult: Decimal, sizing: SizingConfig) -> Decimal:
    """Bound a combined multiplier to [0, ``max_size_mult``]."""
    return max(Decimal(0), min(mult, sizing.max_size_mult)).quantize(
        _MULT_QUANTUM, rounding=ROUND_DOWN
    )


def entry_qty(symbol: str, price: Decimal, size_mult: Decimal, sizing: SizingConfig) -> Decimal:
    """Return notional * size_mult / price, rounded down to the symbol's quantity step."""
    if price <= 0:
        return Decimal(0)
    step = sizing.qty_step.get(symbol, sizing.default_qty_step)
    raw = sizing.notional_usdt * size_mult / price
    return ((raw / step).to_integral_value(rounding=ROUND_DOWN) * step).normalize()


def margin_of(qty: Decimal, price: Decimal, leverage: Decimal) -> Decimal:
    """Return the initial margin of ``qty`` at ``price``: notional / leverage."""
    return qty * price / leverage


__all__ = ["cap_size_mult", "direction", "edge", "entry_qty", "margin_of", "model_size_mult"]
