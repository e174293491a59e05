"""What S2 publishes: feature snapshots (``feat:events:<symbol>``) and the daily market regime.

Features are statistics, so they are floats; a feature that is not known yet (a window still
warming up, no book update in the bar) is ``None`` (JSON ``null``), never NaN, so every
snapshot is valid JSON. Prices that S3 trades on stay ``Decimal``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Literal

import msgspec

RegimeLabel = Literal["FROZEN", "NORMAL", "EXTREME"]
FEATURE_RECOMPUTE = "FEATURE_RECOMPUTE"
"""``strategy_events.kind`` of a ``POST /features/recompute`` run."""


def finite_or_none(value: float) -> float | None:
    """Return ``value``, or None when it is NaN or infinite (not a known feature)."""
    return value if math.isfinite(value) else None


class DqcFlags(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Data-quality flags of one snapshot; any true flag means "do not trust this bar".

    * ``stale``: no book update within ``stale_ms`` before the bar closed, or an event reached
      S1 more than ``max_lag_ms`` after its venue time.
    * ``gap``: a sequence gap: trades missing between bars (trade ids not contiguous), a book
      update id going backwards, or minutes without a bar before this one.
    * ``crossed``: a book update had best bid above best ask.
    * ``locked``: a book update had best bid equal to best ask.
    * ``outlier``: the bar's return jumped beyond ``outlier_sigmas`` * sigma or
      ``outlier_max_bp``.
    * ``partial``: S1 marked the bar incomplete (it may miss trades).
    """

    stale: bool = False
    gap: bool = False
    crossed: bool = False
    locked: bool = False
    outlier: bool = False
    partial: bool = False

    @property
    def ok(self) -> bool:
        """Return whether no flag is set."""
        return not (
            self.stale or self.gap or self.crossed or self.locked or self.outlier or self.partial
        )


class FeatureSet(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One bar's features; stored as ``signals.features`` (with ``dqc``) and sent to S3.

    ``atr`` is in price units; ``natr`` and ``rv`` are percentages / annualised fractions as
    documented in ``chimera.features``; ``rho`` is the correlation with the reference symbol
    (``rho_pairs`` common minutes); ``spread_bp*`` in basis points; ``depth_imbalance*`` in
    [-1, 1]; ``log_return`` is this bar's close-to-close log return.
    """

    close: float
    log_return: float | None = None
    atr: float | None = None
    natr: float | None = None
    rv: float | None = None
    rho: float | None = None
    rho_pairs: int = 0
    spread_bp: float | None = None
    spread_bp_last: float | None = None
    depth_imbalance: float | None = None
    depth_imbalance_last: float | None = None
    book_updates: int = 0
    trades: int = 0
    dqc: DqcFlags = DqcFlags()


class FeatureEvent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The payload of ``feat:events:<symbol>``: the features known at ``t0`` (spec §A S2).

    One per completed 1-minute bar: ``t0`` is the bar's close time (open_time + 60 s) and
    ``signal_id`` is ``<symbol>:<t0>`` (the idempotency key S3 decides on). ``price`` is the
    bar's close as the exact decimal S1 published.
    """

    signal_id: str
    symbol: str
    t0: int
    bar_open_time: int
    price: Decimal
    features: FeatureSet
    config_rev: int

    def as_env(self) -> dict[str, float | int | bool | str | None]:
        """Return the flat name -> value map S3's rules read (``dqc_<flag>`` for each flag)."""
        env: dict[str, float | int | bool | str | None] = {
            name: getattr(self.features, name)
            for name in FeatureSet.__struct_fields__
            if name != "dqc"
        }
        for flag in DqcFlags.__struct_fields__:
            env[f"dqc_{flag}"] = getattr(self.features.dqc, flag)
        env["dqc_ok"] = self.features.dqc.ok
        env["symbol"] = self.symbol
        return env


def signal_id_of(symbol: str, t0: int) -> str:
    """Return the deterministic signal id of ``symbol``'s snapshot at ``t0``."""
    return f"{symbol}:{t0}"


class RegimeState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The value of ``prod:{regime}:market:state`` (JSON), written by S2's daily run.

    ``rv_pct``: the percentile (0-100) of the last day's realized volatility among the trailing
    days'; ``None`` when there was not enough history (the label is then NORMAL). ``rev`` is the
    as-of time of the computation (epoch ms, monotonic), ``expires_ms`` when the label stops
    being valid (the Redis key expires then too), ``ts_ms`` when it was written.
    """

    state: RegimeLabel
    rv_pct: float | None
    rev: int
    expires_ms: int
    ts_ms: int
    rv: float | None = None
    days: int = 0
    symbol: str = ""


__all__ = [
    "FEATURE_RECOMPUTE",
    "DqcFlags",
    "FeatureEvent",
    "FeatureSet",
    "RegimeLabel",
    "RegimeState",
    "finite_or_none",
    "signal_id_of",
]
