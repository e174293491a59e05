"""S2's feature kernels: pure numba functions over float64 arrays, with no I/O.

Features are statistics of prices, not money: they are computed in float64, and prices enter as
floats converted at this edge only (Decimal stays the type of every price and quantity that is
traded or booked). Each feature has a batch form (whole arrays, for backfills and tests) and an
incremental form (one step on a frozen, JSON-round-trippable state Struct, for the live stream).
Both forms run the same scalar step, so incremental results equal batch results bit for bit.
"""

from chimera.features.atr import AtrState, atr, atr_update, natr, natr_of, true_range
from chimera.features.book import (
    BookStats,
    book_update,
    depth_imbalance,
    imbalance_of,
    mean_spread,
)
from chimera.features.correlation import CorrState, corr_update, pearson, rolling_corr
from chimera.features.volatility import RvState, log_returns, rolling_rv, rv_update, sigma_per_bar

__all__ = [
    "AtrState",
    "BookStats",
    "CorrState",
    "RvState",
    "atr",
    "atr_update",
    "book_update",
    "corr_update",
    "depth_imbalance",
    "imbalance_of",
    "log_returns",
    "mean_spread",
    "natr",
    "natr_of",
    "pearson",
    "rolling_corr",
    "rolling_rv",
    "rv_update",
    "sigma_per_bar",
    "true_range",
]
