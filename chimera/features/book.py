"""Spread and depth features of an order book's top.

* ``spread_bp``: (ask - bid) / mid * 10⁴, as S1 publishes it; the bar's feature is its mean
  over the book updates of the bar, and the last value.
* depth imbalance over the top N levels: ``(Σ bid qty - Σ ask qty) / (Σ bid qty + Σ ask qty)``,
  in [-1, 1] (positive: more resting bids); 0 for an empty book.

The per-update step is two additions, cheaper in plain Python than a numba call, so the
incremental form is Python; it performs the same float operations in the same order as the
numba batch form, so both give identical results.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np
import numpy.typing as npt
from numba import njit

F64 = npt.NDArray[np.float64]


class BookStats(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Spread and imbalance accumulated over the book updates of one bar."""

    count: int = 0
    spread_sum: float = 0.0
    spread_last: float | None = None
    imbalance_sum: float = 0.0
    imbalance_last: float | None = None

    @property
    def spread_mean(self) -> float:
        """Return the mean spread in basis points (NaN without updates)."""
        return self.spread_sum / self.count if self.count else math.nan

    @property
    def imbalance_mean(self) -> float:
        """Return the mean depth imbalance (NaN without updates)."""
        return self.imbalance_sum / self.count if self.count else math.nan


@njit(cache=True)
def _imbalance_rows(bid_qty: F64, ask_qty: F64, levels: int) -> F64:
    out = np.empty(bid_qty.shape[0])
    for i in range(bid_qty.shape[0]):
        b = 0.0
        a = 0.0
        for k in range(min(levels, bid_qty.shape[1])):
            b += bid_qty[i, k]
        for k in range(min(levels, ask_qty.shape[1])):
            a += ask_qty[i, k]
        out[i] = (b - a) / (b + a) if b + a > 0.0 else 0.0
    return out


def depth_imbalance(bid_qty: F64, ask_qty: F64, levels: int) -> F64:
    """Return the top-``levels`` imbalance of each row (one book per row, best level first;
    pad missing levels with 0)."""
    if levels < 1:
        raise ValueError(f"levels must be at least 1, got {levels}")
    bids = np.atleast_2d(np.ascontiguousarray(bid_qty, dtype=np.float64))
    asks = np.atleast_2d(np.ascontiguousarray(ask_qty, dtype=np.float64))
    if bids.shape[0] != asks.shape[0]:
        raise ValueError("bid_qty and ask_qty must have one row per book")
    return _imbalance_rows(bids, asks, levels)


def imbalance_of(bid_total: float, ask_total: float) -> float:
    """Return the imbalance of two depth totals (the scalar form of ``depth_imbalance``)."""
    total = bid_total + ask_total
    return (bid_total - ask_total) / total if total > 0.0 else 0.0


@njit(cache=True)
def _sum(values: F64) -> float:
    total = 0.0
    for v in values:
        total += v
    return total


def mean_spread(spread_bp: F64) -> float:
    """Return the mean of a bar's spreads (NaN when empty)."""
    values = np.ascontiguousarray(spread_bp, dtype=np.float64)
    return _sum(values) / values.shape[0] if values.shape[0] else math.nan


def book_update(stats: BookStats, spread_bp: float, imbalance: float) -> BookStats:
    """Return the stats after one more book update."""
    return BookStats(
        stats.count + 1,
        stats.spread_sum + spread_bp,
        spread_bp,
        stats.imbalance_sum + imbalance,
        imbalance,
    )
