"""Sizing against the venue's filters: valid quantities, or a skip that says which filter."""

from __future__ import annotations

from decimal import Decimal

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from chimera.config.strategy import SizingConfig
from chimera.domain.signals import BELOW_MIN_NOTIONAL, BELOW_MIN_QTY, SIZE_TOO_SMALL
from chimera.venues.instruments import Instrument
from handlers.s3_strategy.sizing import min_valid_qty, size_entry

BTC_FUT = Instrument(
    "FUT", "BTCUSDT", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal("100"),
    Decimal("1000"),
)  # fmt: skip
SOL_SPOT = Instrument(
    "SPOT", "SOLUSDT", Decimal("0.01"), Decimal("0.001"), Decimal("0.001"), Decimal("5"),
    Decimal("9000"),
)  # fmt: skip


def sizing(**fields: object) -> SizingConfig:
    return msgspec.convert({**msgspec.to_builtins(SizingConfig()), **fields}, SizingConfig)


def decimals(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(Decimal(low), Decimal(high), places=places, allow_nan=False)


steps = st.sampled_from(["1", "0.1", "0.01", "0.001", "0.0001", "0.00001"]).map(Decimal)


@st.composite
def instruments(draw: st.DrawFn) -> Instrument:
    step = draw(steps)
    min_qty = step * draw(st.integers(0, 50))
    max_qty = draw(st.one_of(st.none(), st.integers(1, 100_000).map(lambda n: step * n)))
    return Instrument(
        market=draw(st.sampled_from(["FUT", "SPOT"])),
        symbol="XUSDT",
        tick_size=Decimal("0.01"),
        step_size=step,
        min_qty=min_qty,
        min_notional=draw(st.sampled_from(["0", "1", "5", "20", "100"]).map(Decimal)),
        max_qty=max_qty,
    )


@settings(max_examples=400, deadline=None)
@given(
    instrument=instruments(),
    price=decimals("0.0001", "200000", 4).filter(lambda p: p > 0),
    size_mult=decimals("0", "3", 4),
    notional=decimals("1", "2000", 2),
    max_size_mult=decimals("0", "10", 2),
    bump=st.booleans(),
    buffer_pct=st.sampled_from(["0", "0.5", "2"]).map(Decimal),
)
def test_a_sized_entry_meets_every_filter_or_is_a_skip_with_the_reason(
    instrument: Instrument,
    price: Decimal,
    size_mult: Decimal,
    notional: Decimal,
    max_size_mult: Decimal,
    bump: bool,
    buffer_pct: Decimal,
) -> None:
    config = sizing(
        notional_usdt=str(notional),
        max_size_mult=str(max_size_mult),
        bump_to_min=bump,
        min_notional_buffer_pct=str(buffer_pct),
    )
    size_mult = min(size_mult, max_size_mult)  # the engine caps size_mult before sizing
    sized = size_entry("XUSDT", price, size_mult, config, instrument)
    least = min_valid_qty(instrument, price, buffer_pct)
    cap = notional * max_size_mult
    fits = (
        size_mult > 0
        and least * price <= cap
        and (instrument.max_qty is None or least <= instrument.max_qty)
    )
    if sized.reason is None:
        qty = sized.qty
        assert qty > 0 and qty % instrument.step_size == 0
        assert qty >= instrument.min_qty
        assert qty * price >= instrument.min_notional
        assert instrument.max_qty is None or qty <= instrument.max_qty
        assert qty * price <= cap  # never more than max_size_mult x notional
        if sized.bumped:
            assert bump and qty == least
        else:
            assert qty * price <= notional * size_mult
            if qty != instrument.max_qty:  # rounded down, by less than one step
                assert qty * price > notional * size_mult - instrument.step_size * price
        assert "E" not in str(qty)  # plain notation for S4 and the venue
    else:
        assert sized.reason in (BELOW_MIN_QTY, BELOW_MIN_NOTIONAL, SIZE_TOO_SMALL)
        assert not (bump and fits)  # a bump that fits the cap is always taken
        if sized.reason == BELOW_MIN_NOTIONAL:
            floor = instrument.min_notional * (1 + buffer_pct / 100)
            assert sized.qty * price < floor


@settings(max_examples=200, deadline=None)
@given(instrument=instruments(), price=decimals("0.0001", "200000", 4).filter(lambda p: p > 0))
def test_the_minimum_is_the_smallest_valid_multiple_of_the_step(
    instrument: Instrument, price: Decimal
) -> None:
    least = min_valid_qty(instrument, price, Decimal("0.5"))
    floor = instrument.min_notional * Decimal("1.005")
    assert least % instrument.step_size == 0 and least >= instrument.min_qty
    assert least * price >= floor
    smaller = least - instrument.step_size
    assert smaller <= 0 or smaller < instrument.min_qty or smaller * price < floor


def test_a_small_btc_entry_is_raised_to_the_venue_minimum() -> None:
    # 50 USDT x 1.5 at 60000 = 0.00125 BTC → 0.001 (60 USDT) is under FUT's 100 USDT minimum;
    # 0.002 (120 USDT) fits 3 x 50 = 150.
    config = sizing(notional_usdt="50")
    sized = size_entry("BTCUSDT", Decimal("60000"), Decimal("1.5"), config, BTC_FUT)
    assert (sized.qty, sized.reason, sized.bumped) == (Decimal("0.002"), None, True)


def test_a_bump_beyond_max_size_mult_skips_below_min_notional() -> None:
    config = sizing(notional_usdt="20")  # cap 3 x 20 = 60 < 100.5
    sized = size_entry("BTCUSDT", Decimal("60000"), Decimal("1.5"), config, BTC_FUT)
    assert (sized.qty, sized.reason) == (Decimal("0"), BELOW_MIN_NOTIONAL)


def test_without_bump_to_min_a_small_entry_skips() -> None:
    config = sizing(notional_usdt="50", bump_to_min=False)
    sized = size_entry("BTCUSDT", Decimal("60000"), Decimal("1.5"), config, BTC_FUT)
    assert (sized.qty, sized.reason) == (Decimal("0.001"), BELOW_MIN_NOTIONAL)


def test_below_min_qty_is_named_when_the_notional_is_met() -> None:
    coarse = msgspec.structs.replace(SOL_SPOT, min_qty=Decimal("1"), min_notional=Decimal("5"))
    config = sizing(notional_usdt="100", max_size_mult="1", bump_to_min=False)
    sized = size_entry("SOLUSDT", Decimal("150"), Decimal("1"), config, coarse)
    assert (sized.qty, sized.reason) == (Decimal("0.666"), BELOW_MIN_QTY)


def test_a_valid_entry_rounds_down_to_the_venue_step_not_the_config_step() -> None:
    config = sizing(qty_step={"SOLUSDT": "1"})
    sized = size_entry("SOLUSDT", Decimal("150"), Decimal("1.5"), config, SOL_SPOT)
    assert (sized.qty, sized.reason, sized.bumped) == (Decimal("1"), None, False)
    sized = size_entry("SOLUSDT", Decimal("149.99"), Decimal("1.5"), config, SOL_SPOT)
    assert sized.qty == Decimal("1.000")  # 150 / 149.99 = 1.000066.. → 1.000


def test_zero_size_mult_is_never_raised() -> None:
    sized = size_entry("BTCUSDT", Decimal("60000"), Decimal("0"), sizing(), BTC_FUT)
    assert (sized.qty, sized.reason) == (Decimal(0), SIZE_TOO_SMALL)


def test_without_filters_sizing_is_the_config_step_as_before() -> None:
    sized = size_entry("BTCUSDT", Decimal("50000"), Decimal("1.5"), sizing(), None)
    assert (sized.qty, sized.reason) == (Decimal("0.003"), None)
    sized = size_entry("BTCUSDT", Decimal("500000"), Decimal("0.1"), sizing(), None)
    assert (sized.qty, sized.reason) == (Decimal(0), SIZE_TOO_SMALL)
