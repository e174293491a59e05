"""S2's persisted state and payloads: JSON round-trips and the rule environment."""

from __future__ import annotations

from decimal import Decimal

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from chimera.config.features import FeaturesConfig
from chimera.domain.features import DqcFlags, FeatureEvent, FeatureSet
from chimera.domain.market import BookEvent
from handlers.s2_features.cache import decode_cache
from handlers.s2_features.state import apply_book, close_bar, new_cache
from tests.handlers.s2_features.support import T0, bar, book

CFG = FeaturesConfig(atr_period=2, rv_window=2, corr_min_pairs=2)


def test_a_mid_session_state_round_trips_through_json() -> None:
    cache = new_cache("BTCUSDT", CFG)
    for i in range(4):
        ev = book("BTCUSDT", T0 + i * 60_000 + 5, i + 1, "100.0", "100.2").event
        assert isinstance(ev, BookEvent)
        cache = apply_book(cache, ev, CFG)
        made = bar("BTCUSDT", T0 + i * 60_000, ("100", "101", "99", str(100 + i)), i * 5 + 1,
                   i * 5 + 5).event  # fmt: skip
        cache, _ = close_bar(cache, made, None, CFG)  # type: ignore[arg-type]
    late = book("BTCUSDT", T0 + 4 * 60_000 + 5, 9, "100.0", "100.2").event
    assert isinstance(late, BookEvent)
    cache = apply_book(cache, late, CFG)
    assert cache.atr.atr is not None and cache.minutes
    assert decode_cache(msgspec.json.encode(cache)) == cache


def test_the_rule_environment_is_flat() -> None:
    event = FeatureEvent(
        signal_id="BTCUSDT:1", symbol="BTCUSDT", t0=1, bar_open_time=0, price=Decimal("1.5"),
        features=FeatureSet(close=1.5, natr=0.4, dqc=DqcFlags(stale=True)), config_rev=2,
    )  # fmt: skip
    env = event.as_env()
    assert env["natr"] == 0.4 and env["atr"] is None and env["symbol"] == "BTCUSDT"
    assert env["dqc_stale"] is True and env["dqc_gap"] is False and env["dqc_ok"] is False
    assert msgspec.json.decode(msgspec.json.encode(event), type=FeatureEvent) == event


@settings(max_examples=50, deadline=None)
@given(
    quotes=st.lists(
        st.tuples(st.integers(100, 10**6), st.integers(-5, 50), st.integers(-3, 3)),
        min_size=1, max_size=40,
    ),
)  # fmt: skip
def test_property_any_book_sequence_keeps_the_state_valid(
    quotes: list[tuple[int, int, int]],
) -> None:
    cache = new_cache("BTCUSDT", CFG)
    for i, (bid_ticks, width, id_step) in enumerate(quotes):
        bid = Decimal(bid_ticks) / 10
        ev = book("BTCUSDT", T0 + i * 7_000, max(1, i + id_step), str(bid),
                  str(bid + Decimal(width) / 10)).event  # fmt: skip
        assert isinstance(ev, BookEvent)
        cache = apply_book(cache, ev, CFG)
    assert sum(m.book.count for m in cache.minutes) == len(quotes)
    assert all(-1.0 <= (m.book.imbalance_last or 0.0) <= 1.0 for m in cache.minutes)
    assert decode_cache(msgspec.json.encode(cache)) == cache
