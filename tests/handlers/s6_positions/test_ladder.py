"""B3's arithmetic: properties of the lock ladder, the take-profit steps and the add-on rule."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chimera.config.manage import ManageConfig
from chimera.domain.orders import Side
from handlers.s6_positions import ladder
from handlers.s6_positions.position import Position

CONFIG = ManageConfig()
prices = st.decimals(min_value="10", max_value="100000", places=1)
moves = st.decimals(min_value="-5", max_value="10", places=2)
sides = st.sampled_from(["buy", "sell"])
qtys = st.decimals(min_value="0.001", max_value="10", places=3)


def position(side: Side, entry: Decimal, qty: Decimal = Decimal(1), closed: Decimal = Decimal(0)):  # type: ignore[no-untyped-def]
    return Position(
        pos_id="p:entry",
        symbol="BTCUSDT",
        side=side,
        signal_id="p",
        entry_qty=qty,
        entry_price=entry,
        added_qty=Decimal(0),
        avg_price=entry,
        closed_qty=closed,
        opened_ts_ms=0,
        working=False,
    )


@given(side=sides, entry=prices, path=st.lists(moves, min_size=1, max_size=20))
def test_the_stop_only_ever_tightens(side: Side, entry: Decimal, path: list[Decimal]) -> None:
    pos = position(side, entry)
    r = entry / 100
    level, stop = 0, None
    for move in path:
        new_level = ladder.earned_level(CONFIG, move, level)
        assert new_level >= level
        if new_level > level:
            new_stop = ladder.stop_price(pos, CONFIG, new_level, r, -1)
            if stop is not None:
                # Tighter = closer to the price the position profits from.
                assert (new_stop - stop) * pos.sign > 0
            stop = new_stop
        level = new_level


@given(side=sides, entry=prices, move=moves)
def test_a_new_stop_is_on_the_safe_side_of_the_price_that_earned_it(
    side: Side, entry: Decimal, move: Decimal
) -> None:
    pos = position(side, entry)
    r = entry / 100
    level = ladder.earned_level(CONFIG, move, 0)
    if level == 0:
        return
    price = entry + pos.sign * move * r
    stop = ladder.stop_price(pos, CONFIG, level, r, -1)
    # The stop never sits at or through the market that earned it (it would trigger at once).
    assert (price - stop) * pos.sign > 0


@given(side=sides, qty=qtys, done=st.integers(0, 2), move=moves)
def test_take_profit_steps_never_close_more_than_is_open(
    side: Side, qty: Decimal, done: int, move: Decimal
) -> None:
    pos = position(side, Decimal(100), qty)
    total = Decimal(0)
    for step in ladder.take_profit_steps_due(CONFIG, move, done):
        assert step >= done
        piece = ladder.take_profit_qty(CONFIG, step, pos)
        assert 0 < piece <= pos.open_qty
        total += piece
        pos = msgspec.structs.replace(pos, closed_qty=pos.closed_qty + piece)
    assert total <= qty


@given(move=moves, adds=st.integers(0, 3), level=st.integers(0, 3))
def test_an_add_on_needs_a_stop_locked_at_breakeven_or_better(
    move: Decimal, adds: int, level: int
) -> None:
    if ladder.add_on_due(CONFIG, move, adds, level):
        assert level >= 1 and CONFIG.stop_ladder[level - 1].lock_r >= 0
        assert adds < CONFIG.add_ons.max_adds


def test_stop_prices_round_away_from_the_market() -> None:
    long = position("buy", Decimal("100.0"))
    short = position("sell", Decimal("100.0"))
    r = Decimal("0.33")
    # level 2 locks +1 R: 100.33 for the long (rounded down), 99.67 for the short (rounded up).
    assert ladder.stop_price(long, CONFIG, 2, r, -1) == Decimal("100.3")
    assert ladder.stop_price(short, CONFIG, 2, r, -1) == Decimal("99.7")


def test_move_in_r_is_side_aware() -> None:
    assert ladder.move_in_r(position("buy", Decimal(100)), Decimal(102), Decimal(1)) == 2
    assert ladder.move_in_r(position("sell", Decimal(100)), Decimal(102), Decimal(1)) == -2


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"stop_ladder": [["1", "1"]]}, "triggers it"),
        ({"stop_ladder": [["2", "0"], ["1", "0.5"]]}, "strictly increasing"),
        ({"take_profit_ladder": [["1", "0.6"], ["2", "0.5"]]}, "add up to"),
        ({"add_ons": {"max_adds": 2, "at_r": ["1"]}}, "one level per add-on"),
        ({"health_size_mult": {"RED": "2"}}, "RED must be within"),
    ],
)
def test_bad_manage_configs_are_refused_with_the_reason(raw: object, message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.convert(raw, ManageConfig)


def test_liquidation_distance_and_roe() -> None:
    pos = position("buy", Decimal(100))
    assert ladder.liquidation_distance(Decimal(100), Decimal(80)) == Decimal("0.2")
    assert ladder.liquidation_distance(Decimal(100), None) is None
    assert ladder.roe(pos, Decimal(101), Decimal(5)) == Decimal("0.05")
