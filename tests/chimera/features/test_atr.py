"""ATR / NATR: equal to TA-Lib's within 1e-9 (recorded and synthetic bars); incremental = batch."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from chimera.features import AtrState, atr, atr_update, natr, natr_of
from tests.chimera.features.series import recorded_bars, synthetic_bars


def _assert_matches_talib(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int):
    ours, theirs = atr(high, low, close, period), talib.ATR(high, low, close, period)
    assert np.array_equal(np.isnan(ours), np.isnan(theirs))
    assert np.nanmax(np.abs(ours - theirs)) <= 1e-9
    if period == 1:
        # TA-Lib's NATR with period 1 returns the raw true range (not divided by the close);
        # ours stays a percentage of the close for every period.
        assert np.allclose(natr(high, low, close, 1)[1:], (ours / close * 100)[1:], rtol=1e-15)
        return
    ours_n, theirs_n = natr(high, low, close, period), talib.NATR(high, low, close, period)
    assert np.array_equal(np.isnan(ours_n), np.isnan(theirs_n))
    assert np.nanmax(np.abs(ours_n - theirs_n)) <= 1e-9


@pytest.mark.parametrize("period", [1, 2, 14, 100])
def test_atr_and_natr_equal_talib_on_a_synthetic_series(period: int) -> None:
    _assert_matches_talib(*synthetic_bars(), period)


@pytest.mark.parametrize("period", [14, 50])
def test_atr_and_natr_equal_talib_on_recorded_btc_bars(period: int) -> None:
    high, low, close = recorded_bars()
    assert len(close) > 40_000
    _assert_matches_talib(high, low, close, period)


def test_incremental_atr_equals_batch_bit_for_bit() -> None:
    high, low, close = synthetic_bars(2_000)
    batch, batch_n = atr(high, low, close, 14), natr(high, low, close, 14)
    state = AtrState(14)
    for i in range(len(close)):
        state = atr_update(state, float(high[i]), float(low[i]), float(close[i]))
        if math.isnan(batch[i]):
            assert state.atr is None
        else:
            assert state.atr == batch[i]
            assert natr_of(state) == batch_n[i]


def test_atr_state_round_trips_through_json_mid_stream() -> None:
    high, low, close = synthetic_bars(40)
    state = AtrState(14)
    decoder = msgspec.json.Decoder(AtrState)
    for i in range(len(close)):
        state = decoder.decode(msgspec.json.encode(state))
        state = atr_update(state, float(high[i]), float(low[i]), float(close[i]))
    assert state.atr == atr(high, low, close, 14)[-1]


def test_bad_inputs_are_refused() -> None:
    high, low, close = synthetic_bars(10)
    with pytest.raises(ValueError, match="period"):
        atr(high, low, close, 0)
    with pytest.raises(ValueError, match="one length"):
        atr(high, low[:-1], close, 3)


@settings(max_examples=60, deadline=None)
@given(
    bars=st.lists(
        st.tuples(st.floats(1.0, 1e5), st.floats(0.0, 0.1), st.floats(0.0, 1.0)),
        min_size=1,
        max_size=80,
    ),
    period=st.integers(1, 20),
)
def test_property_incremental_atr_equals_batch_and_talib(
    bars: list[tuple[float, float, float]], period: int
) -> None:
    close = np.array([c for c, _, _ in bars])
    high = close * (1 + np.array([r for _, r, _ in bars]))
    low = high - (high - close * (1 - np.array([r for _, r, _ in bars]))) * 1.0
    low = np.minimum(low, close)
    batch = atr(high, low, close, period)
    theirs = talib.ATR(high, low, close, period)
    assert np.array_equal(np.isnan(batch), np.isnan(theirs))
    assert np.nanmax(np.abs(batch - theirs), initial=0.0) <= 1e-9 * max(1.0, float(close.max()))
    state = AtrState(period)
    for i in range(len(close)):
        state = atr_update(state, float(high[i]), float(low[i]), float(close[i]))
        assert state.value == batch[i] or (math.isnan(batch[i]) and state.atr is None)
        assert state.atr is None or state.atr >= 0.0
