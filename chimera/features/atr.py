"""True range, Wilder's ATR and NATR, with TA-Lib's exact conventions.

Conventions (TA-Lib's ``ATR``/``NATR``, ``period`` = n): the true range needs the previous
close, so the first bar has none; the first ATR is the simple mean of the first n true ranges
(bars 1..n) and appears on bar n; after that ``atr = atr * (n - 1) / n + tr / n``. NATR is
``atr / close * 100`` (0 when the close is 0). Earlier outputs are NaN.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np
import numpy.typing as npt
from numba import njit

F64 = npt.NDArray[np.float64]


class AtrState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Wilder ATR after ``seen`` bars; ``atr`` is NaN (JSON ``null``) until warm."""

    period: int
    seen: int = 0
    prev_close: float = 0.0
    tr_sum: float = 0.0  # sum of the true ranges while seeding (bars 1..period)
    atr: float | None = None

    @property
    def value(self) -> float:
        """Return the ATR, or NaN before ``period + 1`` bars."""
        return math.nan if self.atr is None else self.atr


@njit(cache=True, inline="always")
def true_range(high: float, low: float, prev_close: float) -> float:
    """Return max(high - low, |high - prev_close|, |low - prev_close|)."""
    tr = high - low
    up = abs(high - prev_close)
    down = abs(low - prev_close)
    if up > tr:
        tr = up
    if down > tr:
        tr = down
    return tr


@njit(cache=True, inline="always")
def _wilder(atr_v: float, tr: float, period: int) -> float:
    # atr * (n-1)/n + tr/n: multiplying by the two loop-invariant factors keeps the division
    # off the bar-to-bar dependency chain (3-4x faster than TA-Lib's written form, and within
    # a few ulps of it).
    return atr_v * ((period - 1) / period) + tr * (1.0 / period)


@njit(cache=True)
def _atr_step(
    period: int, seen: int, prev_close: float, tr_sum: float, atr_v: float,
    high: float, low: float, close: float,
) -> tuple[int, float, float, float]:  # fmt: skip
    if seen == 0:
        return 1, close, 0.0, np.nan
    tr = true_range(high, low, prev_close)
    if seen < period:
        return seen + 1, close, tr_sum + tr, np.nan
    if seen == period:
        return seen + 1, close, 0.0, (tr_sum + tr) / period
    return seen + 1, close, 0.0, _wilder(atr_v, tr, period)


@njit(cache=True, inline="always")
def _scaled(atr_v: float, close: float, as_pct: bool) -> float:
    if not as_pct:
        return atr_v
    return atr_v / close * 100.0 if close != 0.0 else 0.0


@njit(cache=True)
def _atr_batch(high: F64, low: F64, close: F64, period: int, as_pct: bool) -> F64:
    # The same arithmetic as _atr_step, split into the seeding and the Wilder phase so the
    # hot loop has no data-dependent branches; NATR is scaled in the same pass.
    n = high.shape[0]
    out = np.full(n, np.nan)
    if n <= period:
        return out
    tr_sum = 0.0
    for i in range(1, period + 1):
        tr_sum += true_range(high[i], low[i], close[i - 1])
    atr_v = tr_sum / period
    out[period] = _scaled(atr_v, close[period], as_pct)
    for i in range(period + 1, n):
        atr_v = _wilder(atr_v, true_range(high[i], low[i], close[i - 1]), period)
        out[i] = _scaled(atr_v, close[i], as_pct)
    return out


def _checked(high: F64, low: F64, close: F64, period: int) -> tuple[F64, F64, F64]:
    if period < 1:
        raise ValueError(f"period must be at least 1, got {period}")
    h = np.ascontiguousarray(high, dtype=np.float64)
    lo = np.ascontiguousarray(low, dtype=np.float64)
    c = np.ascontiguousarray(close, dtype=np.float64)
    if not h.shape == lo.shape == c.shape or h.ndim != 1:
        raise ValueError("high, low and close must be 1-D arrays of one length")
    return h, lo, c


def atr(high: F64, low: F64, close: F64, period: int = 14) -> F64:
    """Return Wilder's ATR for every bar (NaN for the first ``period`` bars)."""
    return _atr_batch(*_checked(high, low, close, period), period, False)


def natr(high: F64, low: F64, close: F64, period: int = 14) -> F64:
    """Return the ATR as a percentage of the close for every bar (NaN while warming up)."""
    return _atr_batch(*_checked(high, low, close, period), period, True)


def atr_update(state: AtrState, high: float, low: float, close: float) -> AtrState:
    """Return the state after one more bar (the incremental form of ``atr``)."""
    seen, prev_close, tr_sum, value = _atr_step(
        state.period, state.seen, state.prev_close, state.tr_sum,
        state.value, high, low, close,
    )  # fmt: skip
    return AtrState(state.period, seen, prev_close, tr_sum, None if math.isnan(value) else value)


def natr_of(state: AtrState) -> float:
    """Return the NATR of ``state`` at its last close (NaN until warm)."""
    if state.atr is None:
        return math.nan
    return state.atr / state.prev_close * 100.0 if state.prev_close != 0.0 else 0.0
