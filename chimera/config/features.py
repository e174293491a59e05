"""The ``features:`` section of a config bundle: S2's windows, thresholds and DQC limits.

Every field has a default, so a bundle without a ``features:`` section runs S2 as documented in
docs/s2-features.md. Windows count 1-minute bars unless the name says otherwise.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Bars = Annotated[int, msgspec.Meta(ge=2, le=10_000)]
PositiveMs = Annotated[int, msgspec.Meta(gt=0)]
Percentile = Annotated[float, msgspec.Meta(ge=0.0, le=100.0)]
Symbol = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]{2,30}$")]

MINUTES_PER_YEAR = 525_600
"""Crypto markets trade around the clock: 365 * 24 * 60 one-minute bars a year."""


class RegimeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The daily regime: today's realized volatility ranked against the trailing days'."""

    symbol: Symbol = "BTCUSDT"
    venue_kind: Literal["spot", "perp"] = "perp"
    # Trailing days the percentile is taken against (today excluded).
    trailing_days: Annotated[int, msgspec.Meta(ge=2, le=3_650)] = 30
    # At least this many trailing days with enough bars, else the label is NORMAL (unknown).
    min_days: Annotated[int, msgspec.Meta(ge=1)] = 5
    # A day counts only with at least this many 1-minute bars.
    min_bars_per_day: Annotated[int, msgspec.Meta(ge=2, le=1_440)] = 360
    frozen_below_pct: Percentile = 10.0
    extreme_above_pct: Percentile = 90.0
    # The key expires after this long, so a missed daily run never leaves a stale label.
    ttl_ms: PositiveMs = 36 * 3_600_000

    def __post_init__(self) -> None:
        if self.frozen_below_pct >= self.extreme_above_pct:
            raise ValueError(
                f"frozen_below_pct ({self.frozen_below_pct}) must be below "
                f"extreme_above_pct ({self.extreme_above_pct})"
            )
        if self.min_days > self.trailing_days:
            raise ValueError(
                f"min_days ({self.min_days}) cannot exceed trailing_days ({self.trailing_days})"
            )


class FeaturesConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """S2's windows, thresholds and DQC limits (spec §A S2)."""

    # Wilder's ATR period (NATR = ATR / close * 100), in bars.
    atr_period: Bars = 14
    # Realized volatility: sample std of this many 1-minute log returns, annualised by
    # √periods_per_year.
    rv_window: Bars = 60
    periods_per_year: Annotated[int, msgspec.Meta(gt=0)] = MINUTES_PER_YEAR
    # rho: Pearson correlation of 1-minute log returns with the reference symbol's, over the last
    # corr_window minutes both have; fewer than corr_min_pairs common minutes → no rho.
    reference_symbol: Symbol = "BTCUSDT"
    corr_window: Bars = 60
    corr_min_pairs: Bars = 10
    # Depth imbalance over the top N levels of each side.
    depth_levels: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    # DQC: a feed is stale when no book event arrived within stale_ms (venue time) before the
    # bar closed, or an event reached S1 more than max_lag_ms after its venue time.
    stale_ms: PositiveMs = 10_000
    max_lag_ms: PositiveMs = 5_000
    # DQC: a bar whose log return exceeds outlier_sigmas * the rolling per-bar sigma (once warm)
    # or outlier_max_bp basis points (always) is an outlier jump.
    outlier_sigmas: Annotated[float, msgspec.Meta(gt=0.0)] = 8.0
    outlier_max_bp: Annotated[float, msgspec.Meta(gt=0.0)] = 500.0
    # Every bar persists the state; without bars (no trades) it is persisted at least this often
    # (venue time), which bounds the stream a restarted worker re-reads to catch up. Each persist
    # is a Redis round trip on the hot path, so it should not be much shorter than a bar.
    persist_interval_ms: PositiveMs = 60_000
    regime: RegimeConfig = RegimeConfig()

    def __post_init__(self) -> None:
        if self.corr_min_pairs > self.corr_window:
            raise ValueError(
                f"corr_min_pairs ({self.corr_min_pairs}) cannot exceed "
                f"corr_window ({self.corr_window})"
            )


__all__ = ["MINUTES_PER_YEAR", "FeaturesConfig", "RegimeConfig"]
