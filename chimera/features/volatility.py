"""Realized volatility: the rolling sample standard deviation of log returns, annualised.

``rv = std(r[t-w+1..t], ddof=1) * √periods_per_year`` where ``r[t] = ln(close[t] / close[t-1])``
over the last ``w`` returns (for 1-minute bars, periods_per_year = 525,600: crypto never
closes). The window keeps running sums of r and r²; to stop rounding drift from add/remove
pairs accumulating, the sums are recomputed exactly from the ring once every ``w`` steps (in
both forms, so they stay identical). Outputs are NaN until ``w`` returns exist.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np
import numpy.typing as npt
from numba import njit

F64 = npt.NDArray[np.float64]


class RvState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The last ``window`` log returns (a ring, oldest at ``head`` once full) and their sums."""

    window: int
    ring: tuple[float, ...] = ()
    head: int = 0
    count: int = 0  # returns seen, capped at window
    total: float = 0.0
    total_sq: float = 0.0
    since_resync: int = 0
    prev_close: float | None = None


@njit(cache=True)
def log_returns(close: F64) -> F64:
    """Return ln(close[t] / close[t-1]) for t ≥ 1 (length n - 1)."""
    out = np.empty(max(close.shape[0] - 1, 0))
    for i in range(1, close.shape[0]):
        out[i - 1] = np.log(close[i] / close[i - 1])
    return out


@njit(cache=True, inline="always")
def _rv_push(
    ring: F64, head: int, count: int, total: float, total_sq: float, since: int, r: float
) -> tuple[int, int, float, float, int]:
    w = ring.shape[0]
    if count < w:
        ring[(head + count) % w] = r
        count += 1
        total += r
        total_sq += r * r
    else:
        old = ring[head]
        ring[head] = r
        head = (head + 1) % w
        total += r - old
        total_sq += r * r - old * old
    since += 1
    if since >= w:  # exact resync from the ring, oldest first
        total = 0.0
        total_sq = 0.0
        for k in range(count):
            v = ring[(head + k) % w]
            total += v
            total_sq += v * v
        since = 0
    return head, count, total, total_sq, since


@njit(cache=True, inline="always")
def _rv_value(count: int, w: int, total: float, total_sq: float, scale: float) -> float:
    if count < w or w < 2:
        return np.nan
    var = (total_sq - total * total / w) / (w - 1)
    if var < 0.0:  # rounding on a flat window
        var = 0.0
    sd: float = np.sqrt(var)
    return sd * scale


@njit(cache=True)
def _rv_batch(returns: F64, window: int, scale: float) -> F64:
    ring = np.zeros(window)
    out = np.full(returns.shape[0], np.nan)
    head, count, total, total_sq, since = 0, 0, 0.0, 0.0, 0
    for i in range(returns.shape[0]):
        head, count, total, total_sq, since = _rv_push(
            ring, head, count, total, total_sq, since, returns[i]
        )
        out[i] = _rv_value(count, window, total, total_sq, scale)
    return out


@njit(cache=True)
def _rv_step(
    ring: F64, head: int, count: int, total: float, total_sq: float, since: int,
    close: float, prev_close: float, scale: float,
) -> tuple[int, int, float, float, int, float, float]:  # fmt: skip
    r = np.log(close / prev_close)  # the same expression as log_returns, so bit-identical
    head, count, total, total_sq, since = _rv_push(ring, head, count, total, total_sq, since, r)
    rv = _rv_value(count, ring.shape[0], total, total_sq, scale)
    return head, count, total, total_sq, since, r, rv


def rolling_rv(close: F64, window: int, periods_per_year: float = 525_600.0) -> F64:
    """Return the annualised RV at every close (NaN until ``window`` returns; index 0 is NaN)."""
    if window < 2:
        raise ValueError(f"window must be at least 2, got {window}")
    returns = log_returns(np.ascontiguousarray(close, dtype=np.float64))
    out = np.full(max(len(close), 0), np.nan)
    if len(close) > 1:
        out[1:] = _rv_batch(returns, window, math.sqrt(periods_per_year))
    return out


def rv_update(
    state: RvState, close: float, periods_per_year: float = 525_600.0
) -> tuple[RvState, float, float]:
    """Add one close; return (new state, the log return or NaN for the first close, the RV)."""
    if state.prev_close is None:
        return msgspec.structs.replace(state, prev_close=close), math.nan, math.nan
    ring = np.zeros(state.window)
    ring[: len(state.ring)] = state.ring
    head, count, total, total_sq, since, r, rv = _rv_step(
        ring, state.head, state.count, state.total, state.total_sq, state.since_resync,
        close, state.prev_close, math.sqrt(periods_per_year),
    )  # fmt: skip
    new = RvState(
        state.window, tuple(ring[: min(count, state.window)].tolist()), head, count, total,
        total_sq, since, close,
    )  # fmt: skip
    return new, r, rv


def sigma_per_bar(state: RvState) -> float:
    """Return the per-bar sigma of the window's returns (NaN until full), for outlier checks."""
    return float(_rv_value(state.count, state.window, state.total, state.total_sq, 1.0))
