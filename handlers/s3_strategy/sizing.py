"""L2's p → size_mult curve, the entry quantity, and its margin (docs/s3-strategy.md).

Probabilities are floats (statistics); the size multiplier becomes a ``Decimal`` here, and every
quantity and amount after it is exact. With the venue's filters (``Instrument``) the quantity
is a multiple of the lot step, at least the minimum quantity and notional (raised to them when
``sizing.bump_to_min`` allows), or the entry is skipped with the filter's reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal, localcontext

from chimera.config.strategy import SizingConfig
from chimera.domain.orders import Side
from chimera.domain.signals import BELOW_MIN_NOTIONAL, BELOW_MIN_QTY, SIZE_TOO_SMALL
from chimera.venues.instruments import Instrument, plain

_MULT_QUANTUM = Decimal("0.0001")
_HUNDRED = Decimal(100)


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


@dataclass(frozen=True, slots=True)
class Sized:
    """An entry's quantity, or why there is none (``reason``); ``bumped`` if raised to the min."""

    qty: Decimal
    reason: str | None = None
    bumped: bool = False


def min_valid_qty(instrument: Instrument, price: Decimal, buffer_pct: Decimal) -> Decimal:
    """Return the smallest multiple of the step that meets the min qty and (buffered) notional."""
    step = instrument.step_size
    floor_notional = instrument.min_notional * (1 + buffer_pct / _HUNDRED)
    with localcontext(prec=60):  # ceilings of quotients must not be rounded under
        by_qty = (instrument.min_qty / step).to_integral_value(rounding=ROUND_CEILING)
        by_notional = (floor_notional / (price * step)).to_integral_value(rounding=ROUND_CEILING)
        steps = max(by_qty, by_notional, Decimal(1))
        while steps * step * price < floor_notional:
            steps += 1
        return plain(steps * step)


def size_entry(
    symbol: str,
    price: Decimal,
    size_mult: Decimal,
    sizing: SizingConfig,
    instrument: Instrument | None,
) -> Sized:
    """Return the entry quantity of ``notional_usdt x size_mult`` at ``price``.

    Without ``instrument`` (venue filters unknown): ``entry_qty`` on the config's step, and
    SIZE_TOO_SMALL when that is 0. With it: rounded down to ``step_size`` (and ``max_qty``); a
    quantity under ``min_qty`` or the min notional is raised to the smallest valid one when
    ``bump_to_min`` is on and that costs at most ``max_size_mult x notional_usdt``, else skipped
    with BELOW_MIN_QTY / BELOW_MIN_NOTIONAL. A ``size_mult`` of 0 is never raised.
    """
    if instrument is None:
        qty = entry_qty(symbol, price, size_mult, sizing)
        return Sized(qty) if qty > 0 else Sized(qty, SIZE_TOO_SMALL)
    if price <= 0 or size_mult <= 0:
        return Sized(Decimal(0), SIZE_TOO_SMALL)
    step = instrument.step_size
    raw = sizing.notional_usdt * size_mult / price
    if instrument.max_qty is not None:
        raw = min(raw, instrument.max_qty)
    qty = plain((raw / step).to_integral_value(rounding=ROUND_DOWN) * step)
    floor_notional = instrument.min_notional * (1 + sizing.min_notional_buffer_pct / _HUNDRED)
    if qty > 0 and qty >= instrument.min_qty and qty * price >= floor_notional:
        return Sized(qty)
    reason = BELOW_MIN_NOTIONAL if qty * price < floor_notional else BELOW_MIN_QTY
    if sizing.bump_to_min:
        least = min_valid_qty(instrument, price, sizing.min_notional_buffer_pct)
        within_cap = least * price <= sizing.notional_usdt * sizing.max_size_mult
        if within_cap and (instrument.max_qty is None or least <= instrument.max_qty):
            return Sized(least, bumped=True)
    return Sized(qty, reason)


def margin_of(qty: Decimal, price: Decimal, leverage: Decimal) -> Decimal:
    """Return the initial margin of ``qty`` at ``price``: notional / leverage."""
    return qty * price / leverage


__all__ = [
    "Sized",
    "cap_size_mult",
    "direction",
    "edge",
    "entry_qty",
    "margin_of",
    "min_valid_qty",
    "model_size_mult",
    "size_entry",
]
