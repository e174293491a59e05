"""B3's arithmetic, pure: the move in R, the stop level it earns, the TP steps and add-ons due.

R is the position's initial risk per unit: ``|entry price - first stop|`` (the stop S6 pinned
when the entry filled). Everything here is ``Decimal`` and side-aware (``Position.sign``), so a
short mirrors a long exactly.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from chimera.config.manage import ManageConfig
from handlers.s6_positions.position import Position


def risk_per_unit(entry_price: Decimal, first_stop: Decimal) -> Decimal | None:
    """Return R, or None when the first stop sits at the entry (no risk to measure against)."""
    r = abs(entry_price - first_stop)
    return r if r > 0 else None


def move_in_r(position: Position, price: Decimal, r: Decimal) -> Decimal:
    """Return how many R the price moved in the position's favour since its entry."""
    assert position.entry_price is not None
    return position.sign * (price - position.entry_price) / r


def earned_level(config: ManageConfig, move: Decimal, current: int) -> int:
    """Return the stop level the move earns (1-based step count); never below ``current``."""
    reached = sum(1 for step in config.stop_ladder if move >= step.at_r)
    return max(reached, current)


def stop_price(
    position: Position, config: ManageConfig, level: int, r: Decimal, exponent: int
) -> Decimal:
    """Return the stop of ``level`` (>= 1): entry + lock_r x R, rounded away from the price.

    Rounded down for a long and up for a short at ``exponent`` (the first stop's precision), so
    rounding never moves the stop towards the market.
    """
    assert position.entry_price is not None and level >= 1
    lock_r = config.stop_ladder[level - 1].lock_r
    raw = position.entry_price + position.sign * lock_r * r
    quantum = Decimal(1).scaleb(exponent)
    return raw.quantize(quantum, rounding=ROUND_FLOOR if position.sign > 0 else ROUND_CEILING)


def take_profit_steps_due(config: ManageConfig, move: Decimal, done: int) -> list[int]:
    """Return the indexes of the partial take-profit steps the move reached and not yet done."""
    return [
        i for i, step in enumerate(config.take_profit_ladder) if i >= done and move >= step.at_r
    ]


def take_profit_qty(config: ManageConfig, step: int, position: Position) -> Decimal:
    """Return the quantity step ``step`` closes: its fraction of the opened quantity, capped."""
    qty = config.take_profit_ladder[step].fraction * position.opened_qty
    return min(qty, position.open_qty)


def add_on_due(config: ManageConfig, move: Decimal, adds: int, level: int) -> bool:
    """Tell whether add-on ``adds`` (0-based) is due: under the cap, past its level, stop locked.

    "Locked" = the stop level reached locks at least breakeven, so the position after the
    add-on cannot lose more than it could before.
    """
    policy = config.add_ons
    if adds >= policy.max_adds or level < 1:
        return False
    if config.stop_ladder[level - 1].lock_r < 0:
        return False
    return move >= policy.at_r[adds]


def roe(position: Position, price: Decimal, leverage: Decimal) -> Decimal | None:
    """Return the unrealized return on initial margin (0.1 = 10 %)."""
    if position.avg_price is None:
        return None
    return position.sign * (price - position.avg_price) / position.avg_price * leverage


def liquidation_distance(price: Decimal, liquidation: Decimal | None) -> Decimal | None:
    """Return ``|price - liquidation| / price`` (None when the venue reports no liquidation)."""
    if liquidation is None or liquidation <= 0 or price <= 0:
        return None
    return abs(price - liquidation) / price


def stagnant(config: ManageConfig, move: Decimal, age_ms: int) -> bool:
    """Tell whether a position of this age and move "goes nowhere"."""
    policy = config.stagnation
    return age_ms >= policy.after_ms and abs(move) < policy.band_r


__all__ = [
    "add_on_due",
    "earned_level",
    "liquidation_distance",
    "move_in_r",
    "risk_per_unit",
    "roe",
    "stagnant",
    "stop_price",
    "take_profit_qty",
    "take_profit_steps_due",
]
