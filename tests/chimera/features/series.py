"""Bar series for the kernel tests: a seeded synthetic walk and the recorded BTC perp bars."""

from __future__ import annotations

import csv

import numpy as np
import numpy.typing as npt
import pytest

from tests.conftest import ROOT

F64 = npt.NDArray[np.float64]
BARS_CSV = ROOT.parent / "shared" / "data" / "bars" / "btc-perp-20211231-20220201_1m.csv"


def synthetic_bars(n: int = 5_000, seed: int = 7) -> tuple[F64, F64, F64]:
    """Return (high, low, close) of a seeded log-normal walk with intrabar ranges."""
    rng = np.random.default_rng(seed)
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    opens = np.concatenate(([close[0]], close[:-1]))
    top = np.maximum(opens, close) * (1 + np.abs(rng.normal(0, 4e-4, n)))
    bottom = np.minimum(opens, close) * (1 - np.abs(rng.normal(0, 4e-4, n)))
    return top, bottom, close


def recorded_bars() -> tuple[F64, F64, F64]:
    """Return (high, low, close) of the recorded BTC perpetual 1-minute bars, or skip."""
    if not BARS_CSV.exists():
        pytest.skip(f"recorded bars not available at {BARS_CSV}")
    with BARS_CSV.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    high = np.array([float(r["high"]) for r in rows])
    low = np.array([float(r["low"]) for r in rows])
    close = np.array([float(r["close"]) for r in rows])
    return high, low, close
