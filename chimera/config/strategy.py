"""The ``strategy:`` section of a config bundle: S3's gates, rules, model and sizing.

See docs/s3-strategy.md for how each part is applied. Probabilities and model coefficients
are statistics (floats); money, quantities and multipliers that size orders are ``Decimal``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from chimera.config.strategy_rules import compile_strategy_rules
from chimera.domain.orders import ExecStyle, Market
from chimera.prod_state import HealthGrade
from chimera.rules import RuleError

Probability = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
# msgspec cannot constrain Decimal fields; __post_init__ checks them (multipliers in [0, 10]).
Multiplier = Decimal
Symbol = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]{2,30}$")]
SpotExec = Literal["OCO", "GUARD"]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def minute_of_day(hhmm: str) -> int:
    """Return the minute of the day of ``"HH:MM"``."""
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class TradingWindow(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Entries are allowed from ``start`` to ``end`` (UTC, ``HH:MM``, end exclusive) on ``days``.

    ``days`` are ISO weekdays (1 = Monday ... 7 = Sunday) of the window's start; an ``end`` at or
    before ``start`` runs past midnight (``22:00``-``02:00``).
    """

    start: str = "00:00"
    end: str = "00:00"
    days: tuple[Annotated[int, msgspec.Meta(ge=1, le=7)], ...] = (1, 2, 3, 4, 5, 6, 7)

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not _HHMM.match(value):
                raise ValueError(f"{name} must be HH:MM (UTC, 00:00-23:59), got {value!r}")


class ModelConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """L2: which model, its parameters, and what to do when it cannot answer in time.

    The default ``logistic`` model: p = 1 / (1 + exp(-(intercept + sum of coefficient * feature))),
    the probability that the price goes up over the strategy's horizon. A feature that is not
    known (``null``) makes the model unavailable for that signal.
    """

    name: str = "logistic"
    intercept: float = 0.0
    coefficients: dict[str, float] = {}
    timeout_ms: Annotated[int, msgspec.Meta(gt=0, le=10_000)] = 20
    # When the model times out, fails or lacks an input: decide on this p instead, or (null)
    # skip with reason MODEL_UNAVAILABLE.
    fallback_p: Probability | None = None


class SizingConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """L2's p → size_mult curve and the notional an entry of size_mult 1 buys.

    ``edge = |2p - 1|`` (0 at p = 0.5, 1 at certainty). Below ``min_edge``: skip (LOW_EDGE).
    From ``min_edge`` to ``full_edge`` size_mult rises linearly from ``size_at_min_edge`` to
    ``size_at_full_edge`` and stays there above. The final size_mult (model * rules * health)
    is capped at ``max_size_mult``.
    """

    notional_usdt: Decimal = Decimal("100")
    min_edge: Probability = 0.1
    full_edge: Probability = 0.5
    size_at_min_edge: Multiplier = Decimal("0.5")
    size_at_full_edge: Multiplier = Decimal("1.5")
    max_size_mult: Multiplier = Decimal("3")
    # Base-asset quantity step per symbol (the venue's LOT_SIZE; S4 rounds again).
    qty_step: dict[Symbol, Decimal] = {}
    default_qty_step: Decimal = Decimal("0.001")
    # With the venue's filters known (the instrument catalog): an entry whose quantity falls
    # below the venue's min qty / min notional is raised to the smallest valid quantity when
    # that costs at most max_size_mult x notional_usdt; otherwise (or when false) it is skipped
    # (BELOW_MIN_QTY / BELOW_MIN_NOTIONAL).
    bump_to_min: bool = True
    # Headroom over the venue's min notional (percent), so a small price move between the
    # decision and the order does not get the order rejected.
    min_notional_buffer_pct: Decimal = Decimal("0.5")

    def __post_init__(self) -> None:
        _positive("notional_usdt", self.notional_usdt)
        _positive("default_qty_step", self.default_qty_step)
        if not self.min_notional_buffer_pct.is_finite() or not (
            0 <= self.min_notional_buffer_pct <= 100
        ):
            raise ValueError(
                f"min_notional_buffer_pct must be within [0, 100], got "
                f"{self.min_notional_buffer_pct}"
            )
        for symbol, step in self.qty_step.items():
            _positive(f"qty_step.{symbol}", step)
        for name in ("size_at_min_edge", "size_at_full_edge", "max_size_mult"):
            _multiplier(name, getattr(self, name))
        if self.full_edge <= self.min_edge:
            raise ValueError(
                f"full_edge ({self.full_edge}) must be above min_edge ({self.min_edge})"
            )


def _positive(name: str, value: Decimal) -> None:
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{name} must be greater than 0, got {value}")


def _multiplier(name: str, value: Decimal) -> None:
    if not value.is_finite() or not 0 <= value <= 10:
        raise ValueError(f"{name} must be within [0, 10], got {value}")


def _default_health() -> dict[HealthGrade, Decimal]:
    return {
        "GREEN": Decimal(1),
        "YELLOW": Decimal("0.5"),
        "ORANGE": Decimal(0),
        "RED": Decimal(0),
    }


def _default_maker_wait() -> dict[HealthGrade, Decimal]:
    return {
        "GREEN": Decimal(1),
        "YELLOW": Decimal("1.5"),
        "ORANGE": Decimal(2),
        "RED": Decimal(2),
    }


_GRADES: tuple[HealthGrade, ...] = ("GREEN", "YELLOW", "ORANGE", "RED")


class StrategyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """S3's gates, rules, model and sizing (spec §A S3)."""

    enabled: bool = True
    # Symbols S3 may enter; empty: every symbol it receives features for.
    symbols: tuple[Symbol, ...] = ()
    allow_short: bool = True
    # Entry windows (UTC, on the features' venue time t0); empty: always open.
    windows: tuple[TradingWindow, ...] = ()
    # B9: size multiplier per health grade (prod:{health}:system:state); 0 → skip HEALTH.
    health_size_mult: dict[HealthGrade, Multiplier] = msgspec.field(default_factory=_default_health)
    # L1: the rule text (docs/rules.md); empty: no rules.
    rules: str = ""
    model: ModelConfig = ModelConfig()
    sizing: SizingConfig = SizingConfig()
    # How S4 executes a FUT entry.
    entry_exec: ExecStyle = "MARKET"
    # B2: which market entries go to. SPOT entries are longs only (a short skips with
    # SPOT_NO_SHORT) and carry their own take-profit / stop-loss prices for S4's spot_exec:
    # a native OCO, or GUARD (LIMIT_MAKER take-profit plus a watched stop).
    entry_market: Market = "FUT"
    spot_exec: SpotExec = "OCO"
    # B9's execution column, for MAKER_TAKER entries: the maker wait (router.maker_wait_ms) is
    # multiplied per health grade, and from `health_market_from` on the entry is a MARKET order
    # (the decision records the grade, so a redelivery rebuilds the same intent).
    health_maker_wait_mult: dict[HealthGrade, Multiplier] = msgspec.field(
        default_factory=_default_maker_wait
    )
    health_market_from: HealthGrade | None = "ORANGE"

    def __post_init__(self) -> None:
        for grade, mult in self.health_size_mult.items():
            _multiplier(f"health_size_mult.{grade}", mult)
        for grade, mult in self.health_maker_wait_mult.items():
            _multiplier(f"health_maker_wait_mult.{grade}", mult)
        try:
            compile_strategy_rules(self.rules)
        except RuleError as exc:  # msgspec reports a ValueError with the field's path
            raise ValueError(f"rules: {exc}") from None

    def market_at(self, grade: str) -> bool:
        """Tell whether a MAKER_TAKER entry goes to market at health ``grade`` (B9)."""
        if self.health_market_from is None or grade not in _GRADES:
            return grade not in _GRADES  # an unknown grade is read as the worst
        return _GRADES.index(grade) >= _GRADES.index(self.health_market_from)


__all__ = [
    "HealthGrade",
    "ModelConfig",
    "SizingConfig",
    "SpotExec",
    "StrategyConfig",
    "TradingWindow",
    "minute_of_day",
]
