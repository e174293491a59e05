"""Pearson correlation rho of two return series over a rolling window.

``rho = (n Σxy - Σx Σy) / √((n Σx² - (Σx)²)(n Σy² - (Σy)²))`` over the last ``w`` pairs; NaN
until ``w`` pairs exist or when either side is flat. Like the RV window, the running sums are
recomputed exactly from the rings once every ``w`` steps, in both forms.
"""

from __future__ import annotations

import msgspec
import numpy as np
import numpy.typing as npt
from numba import njit

F64 = npt.NDArray[np.float64]


class CorrState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The last ``window`` (x, y) pairs (rings, oldest at ``head`` once full) and their sums."""

    window: int
    xs: tuple[float, ...] = ()
    ys: tuple[float, ...] = ()
    head: int = 0
    count: int = 0
    sx: float = 0.0
    sy: float = 0.0
    sxx: float = 0.0
    syy: float = 0.0
    sxy: float = 0.0
    since_resync: int = 0


@njit(cache=True, inline="always")
def _rho(n: int, sx: float, sy: float, sxx: float, syy: float, sxy: float) -> float:
    vx = n * sxx - sx * sx
    vy = n * syy - sy * sy
    if vx <= 0.0 or vy <= 0.0:
        return np.nan
    rho: float = (n * sxy - sx * sy) / np.sqrt(vx * vy)
    return min(1.0, max(-1.0, rho))


@njit(cache=True)
def pearson(x: F64, y: F64) -> float:
    """Return rho of two equal-length arrays (NaN when fewer than 2 pairs or a side is flat)."""
    n = x.shape[0]
    if n < 2:
        return np.nan
    sx = sy = sxx = syy = sxy = 0.0
    for i in range(n):
        sx += x[i]
        sy += y[i]
        sxx += x[i] * x[i]
        syy += y[i] * y[i]
        sxy += x[i] * y[i]
    return _rho(n, sx, sy, sxx, syy, sxy)


@njit(cache=True, inline="always")
def _corr_push(
    xs: F64, ys: F64, head: int, count: int, sums: F64, since: int, x: float, y: float
) -> tuple[int, int, int]:
    w = xs.shape[0]
    if count < w:
        k = (head + count) % w
        xs[k] = x
        ys[k] = y
        count += 1
        sums[0] += x
        sums[1] += y
        sums[2] += x * x
        sums[3] += y * y
        sums[4] += x * y
    else:
        ox = xs[head]
        oy = ys[head]
        xs[head] = x
        ys[head] = y
        head = (head + 1) % w
        sums[0] += x - ox
        sums[1] += y - oy
        sums[2] += x * x - ox * ox
        sums[3] += y * y - oy * oy
        sums[4] += x * y - ox * oy
    since += 1
    if since >= w:
        sums[:] = 0.0
        for j in range(count):
            k = (head + j) % w
            sums[0] += xs[k]
            sums[1] += ys[k]
            sums[2] += xs[k] * xs[k]
            sums[3] += ys[k] * ys[k]
            sums[4] += xs[k] * ys[k]
        since = 0
    return head, count, since


@njit(cache=True, inline="always")
def _corr_value(count: int, w: int, sums: F64) -> float:
    if count < w:
        return np.nan
    return _rho(count, sums[0], sums[1], sums[2], sums[3], sums[4])


@njit(cache=True)
def _corr_batch(x: F64, y: F64, window: int) -> F64:
    xs = np.zeros(window)
    ys = np.zeros(window)
    sums = np.zeros(5)
    out = np.full(x.shape[0], np.nan)
    head, count, since = 0, 0, 0
    for i in range(x.shape[0]):
        head, count, since = _corr_push(xs, ys, head, count, sums, since, x[i], y[i])
        out[i] = _corr_value(count, window, sums)
    return out


@njit(cache=True)
def _corr_step(
    xs: F64, ys: F64, head: int, count: int, sums: F64, since: int, x: float, y: float
) -> tuple[int, int, int, float]:
    head, count, since = _corr_push(xs, ys, head, count, sums, since, x, y)
    return head, count, since, _corr_value(count, xs.shape[0], sums)


def rolling_corr(x: F64, y: F64, window: int) -> F64:
    """Return rho of the last ``window`` pairs at every index (NaN until ``window`` pairs)."""
    if window < 2:
        raise ValueError(f"window must be at least 2, got {window}")
    xa = np.ascontiguousarray(x, dtype=np.float64)
    ya = np.ascontiguousarray(y, dtype=np.float64)
    if xa.shape != ya.shape or xa.ndim != 1:
        raise ValueError("x and y must be 1-D arrays of one length")
    return _corr_batch(xa, ya, window)


def corr_update(state: CorrState, x: float, y: float) -> tuple[CorrState, float]:
    """Add one (x, y) pair; return the new state and rho (NaN until ``window`` pairs)."""
    w = state.window
    xs = np.zeros(w)
    ys = np.zeros(w)
    xs[: len(state.xs)] = state.xs
    ys[: len(state.ys)] = state.ys
    sums = np.array([state.sx, state.sy, state.sxx, state.syy, state.sxy])
    head, count, since, rho = _corr_step(xs, ys, state.head, state.count, sums, state.since_resync,
                                         x, y)  # fmt: skip
    n = min(count, w)
    sx, sy, sxx, syy, sxy = (float(v) for v in sums)
    new = CorrState(
        w, tuple(xs[:n].tolist()), tuple(ys[:n].tolist()), head, count,
        sx, sy, sxx, syy, sxy, since,
    )  # fmt: skip
    return new, float(rho)
