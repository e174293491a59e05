"""RV, rho and book features: batch against plain numpy, incremental = batch, JSON round-trips."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chimera.features import (
    BookStats,
    CorrState,
    RvState,
    book_update,
    corr_update,
    depth_imbalance,
    imbalance_of,
    log_returns,
    mean_spread,
    pearson,
    rolling_corr,
    rolling_rv,
    rv_update,
)
from tests.chimera.features.series import recorded_bars, synthetic_bars

YEAR = 525_600


def test_rolling_rv_matches_numpy_std_of_log_returns() -> None:
    _, _, close = synthetic_bars(3_000)
    rv = rolling_rv(close, 60, YEAR)
    returns = np.diff(np.log(close))
    for i in (60, 61, 500, 1_999, 2_999):
        expected = np.std(returns[i - 60 : i], ddof=1) * math.sqrt(YEAR)
        assert rv[i] == pytest.approx(expected, rel=1e-9)
    assert np.isnan(rv[:60]).all() and not np.isnan(rv[60:]).any()


def test_rolling_rv_stays_exact_over_the_recorded_month() -> None:
    _, _, close = recorded_bars()
    rv = rolling_rv(close, 60, YEAR)
    returns = np.diff(np.log(close))
    last = len(close) - 1
    expected = np.std(returns[last - 60 : last], ddof=1) * math.sqrt(YEAR)
    assert rv[last] == pytest.approx(expected, rel=1e-9)


def test_incremental_rv_equals_batch_bit_for_bit_through_json() -> None:
    _, _, close = synthetic_bars(500)
    batch = rolling_rv(close, 30, YEAR)
    returns = log_returns(close)
    state = RvState(30)
    decoder = msgspec.json.Decoder(RvState)
    for i, c in enumerate(close.tolist()):
        state = decoder.decode(msgspec.json.encode(state))
        state, r, rv = rv_update(state, c, YEAR)
        if i == 0:
            assert math.isnan(r) and math.isnan(rv)
            continue
        assert r == returns[i - 1]
        assert (math.isnan(rv) and math.isnan(batch[i])) or rv == batch[i]


def test_rolling_corr_matches_numpy_and_incremental_equals_batch() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1e-3, 400)
    y = 0.6 * x + rng.normal(0, 1e-3, 400)
    batch = rolling_corr(x, y, 50)
    assert batch[120] == pytest.approx(np.corrcoef(x[71:121], y[71:121])[0, 1], rel=1e-9)
    assert pearson(x[:50], y[:50]) == pytest.approx(batch[49], rel=1e-12)
    state = CorrState(50)
    decoder = msgspec.json.Decoder(CorrState)
    for i in range(400):
        state = decoder.decode(msgspec.json.encode(state))
        state, rho = corr_update(state, float(x[i]), float(y[i]))
        assert (math.isnan(rho) and math.isnan(batch[i])) or rho == batch[i]


def test_a_flat_side_has_no_correlation() -> None:
    assert math.isnan(pearson(np.ones(10), np.arange(10.0)))


def test_depth_imbalance_and_spread_batch_equal_the_incremental_stats() -> None:
    bids = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [5.0, 0.0, 0.0]])
    asks = np.array([[1.0, 1.0, 100.0], [0.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
    assert depth_imbalance(bids, asks, 2).tolist() == [0.2, 0.0, 0.0]
    spreads = np.array([1.5, 2.5, 0.25])
    stats = BookStats()
    for i, s in enumerate(spreads.tolist()):
        imbalance = imbalance_of(float(bids[i, :2].sum()), float(asks[i, :2].sum()))
        stats = book_update(stats, s, imbalance)
    assert stats.spread_mean == mean_spread(spreads)
    assert stats.imbalance_mean == pytest.approx(float(depth_imbalance(bids, asks, 2).mean()))
    assert msgspec.json.decode(msgspec.json.encode(stats), type=BookStats) == stats
    assert math.isnan(BookStats().spread_mean)


prices = st.floats(min_value=1.0, max_value=1e6, allow_nan=False, allow_infinity=False)
moves = st.lists(st.floats(min_value=-0.05, max_value=0.05), min_size=1, max_size=120)


@settings(max_examples=60, deadline=None)
@given(start=prices, steps=moves, window=st.integers(2, 20))
def test_property_incremental_rv_always_equals_batch(
    start: float, steps: list[float], window: int
) -> None:
    close = start * np.exp(np.cumsum(np.array([0.0, *steps])))
    batch = rolling_rv(close, window, YEAR)
    state = RvState(window)
    for i, c in enumerate(close.tolist()):
        state, _, rv = rv_update(state, c, YEAR)
        assert (math.isnan(rv) and math.isnan(batch[i])) or rv == batch[i]
        assert math.isnan(rv) or rv >= 0.0


@settings(max_examples=60, deadline=None)
@given(
    xs=st.lists(st.floats(-1.0, 1.0), min_size=2, max_size=80),
    noise=st.floats(-1.0, 1.0),
    window=st.integers(2, 15),
)
def test_property_rho_is_bounded_and_incremental_equals_batch(
    xs: list[float], noise: float, window: int
) -> None:
    x = np.array(xs)
    y = x * noise + np.sin(np.arange(len(xs)))
    batch = rolling_corr(x, y, window)
    state = CorrState(window)
    for i in range(len(xs)):
        state, rho = corr_update(state, float(x[i]), float(y[i]))
        assert (math.isnan(rho) and math.isnan(batch[i])) or rho == batch[i]
        assert math.isnan(rho) or -1.0 <= rho <= 1.0


@settings(max_examples=60, deadline=None)
@given(
    bids=st.lists(st.floats(0.0, 1e6), min_size=1, max_size=10),
    asks=st.lists(st.floats(0.0, 1e6), min_size=1, max_size=10),
    levels=st.integers(1, 12),
)
def test_property_depth_imbalance_is_in_range_and_matches_the_scalar_form(
    bids: list[float], asks: list[float], levels: int
) -> None:
    width = max(len(bids), len(asks))
    b = np.zeros((1, width))
    a = np.zeros((1, width))
    b[0, : len(bids)] = bids
    a[0, : len(asks)] = asks
    value = float(depth_imbalance(b, a, levels)[0])
    assert -1.0 <= value <= 1.0
    assert value == imbalance_of(sum(bids[:levels]), sum(asks[:levels]))
