"""The ``positions.manage`` section: S6's manage tick (B3) — lock ladder, partial TP, add-ons.

Every level is in **R**, the position's initial risk per unit: the distance between the entry's
average price and its first stop-loss (the price S6 pinned when the entry filled). A move of
``+1 R`` means the price went one initial-stop distance in the position's favour.

* ``stop_ladder``: steps ``(at_r, lock_r)``. Once the move reaches ``at_r``, the stop is moved to
  ``entry + lock_r`` (``lock_r = 0``: breakeven). Steps only ever tighten the stop.
* ``take_profit_ladder``: steps ``(at_r, fraction)``. Once the move reaches ``at_r``, ``fraction``
  of the position's opened quantity is closed at market (reduce-only), once per step.
* ``add_ons``: at most ``max_adds`` (``pos:{adds}:<pos_id>``), each ``size_fraction`` of the
  entry's quantity, when the move reaches ``at_r[n]`` **and** the stop already locks at least
  breakeven, so an add-on never raises the position's risk above its initial risk of loss.
* ``stagnation``: a position older than ``after_ms`` whose move stayed within ``band_r`` is
  reported STAGNATED on ``pos:events`` once; with ``exit: true`` it is also closed at market.
* ``health_size_mult``: the B9 matrix's S6 column — the add-on size factor per health grade
  (0 = no add-ons).
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Annotated

import msgspec

_ZERO = Decimal(0)


class StopStep(msgspec.Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """Move the stop to ``entry + lock_r`` at a move of ``at_r`` (YAML ``[at_r, lock_r]``)."""

    at_r: Decimal
    lock_r: Decimal


class TakeProfitStep(msgspec.Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """Close ``fraction`` of the opened quantity once the move reaches ``at_r``."""

    at_r: Decimal
    fraction: Decimal


class AddOnPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """When and how much S6 adds to a winning position."""

    max_adds: Annotated[int, msgspec.Meta(ge=0, le=10)] = 1
    at_r: tuple[Decimal, ...] = (Decimal("1.5"),)  # the move that allows add-on n (0-based)
    size_fraction: Decimal = Decimal("0.5")  # of the entry's filled quantity


class StagnationPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """When a position "goes nowhere", and whether S6 then closes it."""

    after_ms: Annotated[int, msgspec.Meta(gt=0)] = 4 * 3_600_000
    band_r: Decimal = Decimal("0.3")
    exit: bool = False


class HealthSizeMult(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="upper"):
    """The add-on size factor per health grade (YAML keys ``GREEN`` ... ``RED``)."""

    green: Decimal = Decimal(1)
    yellow: Decimal = Decimal("0.5")
    orange: Decimal = _ZERO
    red: Decimal = _ZERO

    def of(self, grade: str) -> Decimal:
        """Return the factor of ``grade`` (an unknown grade counts as RED)."""
        value: Decimal = getattr(self, grade.lower(), self.red)
        return value


def _check_increasing(name: str, values: list[Decimal]) -> None:
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise ValueError(f"{name} must be strictly increasing, got {[str(v) for v in values]}")


class ManageConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """S6's manage tick: ladders, add-ons, stagnation, the health matrix, the position lock."""

    stop_ladder: tuple[StopStep, ...] = (
        StopStep(Decimal(1), _ZERO),
        StopStep(Decimal(2), Decimal(1)),
        StopStep(Decimal(3), Decimal(2)),
    )
    take_profit_ladder: tuple[TakeProfitStep, ...] = (
        TakeProfitStep(Decimal("1.5"), Decimal("0.25")),
        TakeProfitStep(Decimal("2.5"), Decimal("0.25")),
    )
    add_ons: AddOnPolicy = AddOnPolicy()
    stagnation: StagnationPolicy = StagnationPolicy()
    health_size_mult: HealthSizeMult = HealthSizeMult()
    # lock:{pos}:<pos_id> outlives one position's venue calls (place + cancel, ccxt timeouts).
    lock_ttl_ms: Annotated[int, msgspec.Meta(gt=0)] = 30_000
    # How often a tick sums the whole orders history for open positions (pos:{open} may have
    # missed one: an entry filled while no S6 ran, a Redis restart). Other ticks read only
    # the tracked positions.
    sweep_interval_ms: Annotated[int, msgspec.Meta(gt=0)] = 60_000
    # A position its stops no longer cover (a stop that filled in part and expired, a stop
    # cancelled by hand) gets a new stop once its orders have been still this long — longer
    # than S6 takes to protect a fresh fill, so the two never both place one.
    reprotect_after_ms: Annotated[int, msgspec.Meta(gt=0)] = 5_000

    def __post_init__(self) -> None:
        # msgspec cannot constrain Decimal fields, so they are checked here.
        for step in self.stop_ladder:
            if not (step.at_r.is_finite() and step.lock_r.is_finite()):
                raise ValueError("stop_ladder values must be finite numbers")
            if not step.lock_r < step.at_r:
                raise ValueError(
                    f"stop_ladder step [{step.at_r}, {step.lock_r}] locks at or beyond the "
                    "price that triggers it: the new stop would trigger at once"
                )
            if step.lock_r <= -1:
                raise ValueError(f"stop_ladder lock_r {step.lock_r} is at or below the first stop")
        _check_increasing("stop_ladder at_r", [s.at_r for s in self.stop_ladder])
        _check_increasing("stop_ladder lock_r", [s.lock_r for s in self.stop_ladder])
        for tp in self.take_profit_ladder:
            if not (tp.at_r.is_finite() and tp.at_r > 0 and 0 < tp.fraction < 1):
                raise ValueError(
                    f"take_profit_ladder step [{tp.at_r}, {tp.fraction}] needs at_r > 0 and "
                    "0 < fraction < 1"
                )
        _check_increasing("take_profit_ladder at_r", [s.at_r for s in self.take_profit_ladder])
        total = sum((s.fraction for s in self.take_profit_ladder), _ZERO)
        if total >= 1:
            raise ValueError(f"take_profit_ladder fractions add up to {total}; keep them below 1")
        adds = self.add_ons
        if len(adds.at_r) < adds.max_adds:
            raise ValueError(f"add_ons.at_r needs one level per add-on ({adds.max_adds})")
        _check_increasing("add_ons.at_r", list(adds.at_r))
        if not (adds.size_fraction.is_finite() and 0 < adds.size_fraction <= 2):
            raise ValueError(
                f"add_ons.size_fraction must be within (0, 2], got {adds.size_fraction}"
            )
        if not (self.stagnation.band_r.is_finite() and self.stagnation.band_r > 0):
            raise ValueError(f"stagnation.band_r must be > 0, got {self.stagnation.band_r}")
        for grade in ("green", "yellow", "orange", "red"):
            value: Decimal = getattr(self.health_size_mult, grade)
            if not (value.is_finite() and 0 <= value <= 1):
                raise ValueError(f"health_size_mult.{grade.upper()} must be within [0, 1]")


__all__ = [
    "AddOnPolicy",
    "HealthSizeMult",
    "ManageConfig",
    "StagnationPolicy",
    "StopStep",
    "TakeProfitStep",
]
