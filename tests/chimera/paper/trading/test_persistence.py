"""The venue's state on disk: a small snapshot plus an append-only history, crash-consistent."""

from __future__ import annotations

import asyncio
import tempfile
from decimal import Decimal as D
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chimera.paper.trading.errors import TradingError
from chimera.paper.trading.history import HistoryRecord, OrderDone
from chimera.paper.trading.oco import OcoRequest, place_oco
from chimera.paper.trading.persistence import (
    Snapshot,
    StateSaver,
    history_path,
    load_state,
    save_state,
)
from chimera.paper.trading.requests import AlgoOrderRequest, OrderRequest, Params
from chimera.paper.trading.venue import TradingVenue
from chimera_workers.errors import ConfigError
from tests.chimera.paper.trading.tiny_market import TinyMarket, make_venue


def order(**fields: object) -> OrderRequest:
    return OrderRequest(symbol="BTCUSDT", **fields)  # type: ignore[arg-type]


def stop_market(trigger: str) -> AlgoOrderRequest:
    return AlgoOrderRequest(
        symbol="BTCUSDT", side="SELL", order_type="STOP_MARKET", quantity=None, price=None,
        trigger_price=D(trigger), working_type="CONTRACT_PRICE", time_in_force="GTC",
        reduce_only=True, close_position=True, price_protect=False, client_algo_id=None,
    )  # fmt: skip


def trade_everything(venue: TradingVenue, market: TinyMarket) -> None:
    """Leave some of everything the state holds, final and still open."""
    limit = order(
        side="BUY", type="LIMIT", quantity=D("0.01"), price=D("50000.00"), time_in_force="GTC"
    )
    venue.spot.place(limit)
    venue.spot.place(order(side="BUY", type="MARKET", quantity=D("0.1")))
    venue.futures.place(order(side="BUY", type="MARKET", quantity=D("0.1")))
    venue.algos.place(stop_market("59000"))
    fired = venue.algos.place(stop_market("59500"))
    oco = Params(
        {
            "symbol": "BTCUSDT", "side": "SELL", "quantity": "0.1",
            "aboveType": "LIMIT_MAKER", "abovePrice": "61000.00",
            "belowType": "STOP_LOSS_LIMIT", "belowStopPrice": "59000.00",
            "belowPrice": "58900.00", "belowTimeInForce": "GTC",
        }
    )  # fmt: skip
    place_oco(venue.spot, OcoRequest.parse(oco))
    market.print_trade("spot", "BTCUSDT", "61001.00", "1", False)  # the OCO's maker leg fills
    market.print_trade("perp", "BTCUSDT", "59499.0", "1", True)  # the 59500 stop fires
    assert fired.status != "NEW"
    venue.transfer("MAIN_UMFUTURE", "USDT", D("100"))


def history_lines(path: Path) -> list[HistoryRecord]:
    data = history_path(path).read_bytes()
    decoder = msgspec.json.Decoder(HistoryRecord)
    return [decoder.decode(line) for line in data.splitlines()]


def snapshot_of(path: Path) -> Snapshot:
    return msgspec.json.decode(path.read_bytes(), type=Snapshot)


def test_state_round_trips_through_snapshot_and_history(tmp_path: Path) -> None:
    venue, market, _ = make_venue(usdt="100000")
    trade_everything(venue, market)
    path = tmp_path / "state.json"
    save_state(path, venue.state)
    assert load_state(path) == venue.state
    open_part = snapshot_of(path).state
    # The snapshot holds only what can still change; the rest is history.
    assert all(o.is_open for o in open_part.spot.orders.values())
    assert all(o.is_open for o in open_part.futures.orders.values())
    assert open_part.spot.fills == open_part.futures.fills == open_part.futures.income == []
    assert open_part.transfers == []
    assert open_part.spot.orders and history_lines(path)


def test_each_save_appends_only_what_became_history(tmp_path: Path) -> None:
    venue, _, _ = make_venue(usdt="1000000", futures="1000000")
    path = tmp_path / "state.json"
    saver = StateSaver(path, venue.state, 0)
    snapshot_sizes = []
    for n in range(40):
        side = "BUY" if n % 2 == 0 else "SELL"
        venue.futures.place(order(side=side, type="MARKET", quantity=D("0.01")))
        saver.save_now()
        snapshot_sizes.append(path.stat().st_size)
        assert load_state(path) == venue.state
    # Every final order, fill and income record is written once, and the snapshot stays flat.
    state = venue.state
    assert len(history_lines(path)) == 40 + len(state.futures.fills) + len(state.futures.income)
    assert snapshot_sizes[-1] <= snapshot_sizes[0] + 64


def test_an_order_still_open_is_journaled_when_it_ends(tmp_path: Path) -> None:
    venue, market, _ = make_venue()
    path = tmp_path / "state.json"
    saver = StateSaver(path, venue.state, 0)
    resting, _ = venue.spot.place(
        order(side="BUY", type="LIMIT", quantity=D("0.1"), price=D("60000.00"), time_in_force="GTC")
    )
    saver.save_now()
    assert resting.order_id in snapshot_of(path).state.spot.orders
    market.print_trade("spot", "BTCUSDT", "60000.00", "0.04", True)  # first in its queue
    assert resting.status == "PARTIALLY_FILLED"
    saver.save_now()  # still changing: stays in the snapshot, not in the history
    assert resting.order_id in snapshot_of(path).state.spot.orders
    assert load_state(path) == venue.state
    market.print_trade("spot", "BTCUSDT", "59998.00", "1", True)  # through it: the rest
    assert resting.status == "FILLED"
    saver.save_now()
    assert resting.order_id not in snapshot_of(path).state.spot.orders
    assert load_state(path) == venue.state
    journaled = [r for r in history_lines(path) if isinstance(r, OrderDone)]
    assert [r.order.order_id for r in journaled] == [resting.order_id]


def test_history_no_snapshot_covers_is_dropped(tmp_path: Path) -> None:
    """A crash between appending history and writing the snapshot leaves the last saved state."""
    venue, _, _ = make_venue(usdt="100000")
    path = tmp_path / "state.json"
    saver = StateSaver(path, venue.state, 0)
    venue.spot.place(order(side="BUY", type="MARKET", quantity=D("0.1")))
    saver.save_now()
    saved = load_state(path)
    covered = history_path(path).stat().st_size
    with history_path(path).open("ab") as handle:
        handle.write(b'{"type":"fill","market":"spot","fill":{"trade_id":')  # torn append
    assert load_state(path) == saved
    assert history_path(path).stat().st_size == covered  # and new appends start clean


def test_history_shorter_than_the_snapshot_says_is_refused(tmp_path: Path) -> None:
    venue, _, _ = make_venue(usdt="100000")
    venue.spot.place(order(side="BUY", type="MARKET", quantity=D("0.1")))
    path = tmp_path / "state.json"
    save_state(path, venue.state)
    history = history_path(path)
    history.write_bytes(history.read_bytes()[:10])
    with pytest.raises(ConfigError) as caught:
        load_state(path)
    assert history.name in caught.value.message and caught.value.hint


def test_corrupt_snapshot_is_refused_with_both_file_names(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"{not json")
    with pytest.raises(ConfigError) as caught:
        load_state(path)
    assert "state.json" in caught.value.message
    assert caught.value.hint is not None and history_path(path).name in caught.value.hint


def test_a_damaged_snapshot_is_not_read_as_an_empty_account(tmp_path: Path) -> None:
    venue, _, _ = make_venue(usdt="100000")
    venue.spot.place(order(side="BUY", type="MARKET", quantity=D("0.1")))
    path = tmp_path / "state.json"
    save_state(path, venue.state)
    history = history_path(path).read_bytes()
    path.write_bytes(path.read_bytes().replace(b'"balances":{', b'"balances":{"X":5,', 1))
    with pytest.raises(ConfigError, match=r"state\.json"):
        load_state(path)
    assert history_path(path).read_bytes() == history  # nothing written over it


def test_the_old_single_file_form_is_converted(tmp_path: Path) -> None:
    venue, market, _ = make_venue(usdt="100000")
    trade_everything(venue, market)
    path = tmp_path / "state.json"
    path.write_bytes(msgspec.json.Encoder(decimal_format="string").encode(venue.state))
    assert load_state(path) == venue.state
    assert history_lines(path)  # split into snapshot + history
    assert load_state(path) == venue.state


def test_history_without_a_snapshot_is_not_state(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    history_path(path).write_bytes(b'{"type":"transfer"}\n')
    assert load_state(path) is None
    assert not history_path(path).exists()


async def test_debounced_saver_keeps_up_with_changes_during_a_save(tmp_path: Path) -> None:
    venue, _, _ = make_venue(usdt="1000000", futures="1000000")
    path = tmp_path / "state.json"
    saver = StateSaver(path, venue.state, 5)
    for n in range(30):
        side = "BUY" if n % 2 == 0 else "SELL"
        venue.futures.place(order(side=side, type="MARKET", quantity=D("0.01")))
        saver.changed()
        await asyncio.sleep(0.002)
    for _ in range(200):  # the last change is saved without another one to prompt it
        await asyncio.sleep(0.01)
        if saver.saves and load_state(path) == venue.state:
            break
    assert load_state(path) == venue.state
    await saver.stop()
    assert load_state(path) == venue.state


# Whole prices and 0.001 steps: valid on both the spot and the perp market's filters.
# Mostly inside the tiny book's spread, where a limit order rests first in its queue and a
# smaller trade print fills it partially (an order that changes after it was first saved).
prices = st.one_of(
    st.sampled_from([D(60_000)] * 4 + [D(59_999), D(60_001)]),
    st.integers(min_value=59_990, max_value=60_010).map(D),
)
qtys = st.integers(min_value=1, max_value=300).map(lambda q: D(q) / 1_000)
steps = st.tuples(
    st.sampled_from(["limit", "market", "trade", "cancel", "save"]),
    st.sampled_from(["spot", "perp"]),
    st.booleans(),
    prices,
    qtys,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(steps, min_size=1, max_size=40))
def test_any_history_of_saves_loads_as_the_live_state(actions: list[tuple]) -> None:
    """Whatever happens between saves, each save loads back as the account at that moment,
    and every final order is journaled exactly once."""
    venue, market, _ = make_venue(usdt="50000", btc="1", futures="50000")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.json"
        saver = StateSaver(path, venue.state, 0)
        for kind, where, buy, price, qty in actions:
            engine = venue.spot if where == "spot" else venue.futures
            side = "BUY" if buy else "SELL"
            try:
                if kind == "limit":
                    engine.place(
                        order(
                            side=side, type="LIMIT", quantity=qty, price=price, time_in_force="GTC"
                        )
                    )
                elif kind == "market":
                    engine.place(order(side=side, type="MARKET", quantity=qty))
                elif kind == "trade":
                    market.print_trade(where, "BTCUSDT", str(price), str(qty), buy)
                elif kind == "cancel" and engine.open_orders("BTCUSDT"):
                    engine.cancel("BTCUSDT", engine.open_orders("BTCUSDT")[0].order_id, None)
                elif kind == "save":
                    saver.save_now()
                    assert load_state(path) == venue.state
            except TradingError:
                pass
        saver.save_now()
        assert load_state(path) == venue.state
        journaled = [r.order.order_id for r in history_lines(path) if isinstance(r, OrderDone)]
        state = venue.state
        final = [o for o in (*state.spot.orders.values(), *state.futures.orders.values())]
        assert sorted(journaled) == sorted(o.order_id for o in final if not o.is_open)
