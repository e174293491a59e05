"""The trading engine on a tiny hand-driven market: matching, fees, funding, triggers, OCO."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from chimera.paper.trading.errors import TradingError
from chimera.paper.trading.oco import OcoRequest, place_oco
from chimera.paper.trading.persistence import load_state, save_state
from chimera.paper.trading.requests import AlgoOrderRequest, OrderRequest, Params
from tests.chimera.paper.trading.tiny_market import make_venue


def order(symbol: str = "BTCUSDT", **fields: object) -> OrderRequest:
    return OrderRequest(symbol=symbol, **fields)  # type: ignore[arg-type]


def algo(**fields: object) -> AlgoOrderRequest:
    base: dict[str, object] = dict(
        symbol="BTCUSDT",
        quantity=None,
        price=None,
        working_type="CONTRACT_PRICE",
        time_in_force="GTC",
        reduce_only=True,
        close_position=False,
        price_protect=False,
        client_algo_id=None,
    )
    base.update(fields)
    return AlgoOrderRequest(**base)  # type: ignore[arg-type]


def test_spot_market_order_walks_a_thin_book_and_expires_the_rest() -> None:
    venue, _, _ = make_venue(usdt="100000")
    placed, fills = venue.spot.place(order(side="BUY", type="MARKET", quantity=D("0.6")))
    assert [(f.price, f.qty) for f in fills] == [
        (D("60001.00"), D("0.2")),
        (D("60002.00"), D("0.3")),
    ]
    assert placed.status == "EXPIRED" and placed.executed_qty == D("0.5")
    cost = D("60001.00") * D("0.2") + D("60002.00") * D("0.3")
    assert placed.cum_quote == cost
    assert venue.state.spot.balances["USDT"].free == D("100000") - cost * D("1.001")
    assert venue.state.spot.balances["BTC"].free == D("1.5")


def test_spot_market_by_quote_amount() -> None:
    venue, _, _ = make_venue(usdt="100000")
    placed, fills = venue.spot.place(order(side="BUY", type="MARKET", quote_order_qty=D("6000.1")))
    assert placed.status == "FILLED" and placed.executed_qty == D("0.1")
    assert fills[0].price == D("60001.00")


def test_perp_market_order_partial_on_thin_book() -> None:
    venue, _, _ = make_venue()
    placed = venue.futures.place(order(side="BUY", type="MARKET", quantity=D("0.1")))
    assert placed.status == "FILLED" and placed.avg_price == D("60001.0")
    venue.futures.set_leverage("BTCUSDT", 50)
    thin = venue.futures.place(order(side="BUY", type="MARKET", quantity=D("4")))
    assert thin.status == "EXPIRED" and thin.executed_qty == D("3")
    assert venue.futures.position("BTCUSDT").amount == D("3.1")


def test_resting_limit_fills_only_when_trades_print_through_it() -> None:
    venue, market, _ = make_venue(usdt="100000")
    resting, fills = venue.spot.place(
        order(side="BUY", type="LIMIT", quantity=D("0.3"), price=D("59999.00"), time_in_force="GTC")
    )
    assert fills == [] and resting.queue_ahead == D("0.5")
    market.print_trade("spot", "BTCUSDT", "60001.00", "5", False)  # buys lift the ask: not us
    market.print_trade("spot", "BTCUSDT", "59999.00", "0.4", True)  # at our level, queue first
    assert resting.executed_qty == 0 and resting.queue_ahead == D("0.1")
    market.print_trade("spot", "BTCUSDT", "59999.00", "0.2", True)  # 0.1 queue, 0.1 to us
    assert resting.executed_qty == D("0.1") and resting.status == "PARTIALLY_FILLED"
    market.print_trade("spot", "BTCUSDT", "59998.00", "0.01", True)  # through: the rest
    assert resting.status == "FILLED" and resting.executed_qty == D("0.3")
    fill = venue.state.spot.fills[-1]
    assert fill.maker and fill.commission == D("59999.00") * D("0.2") * D("0.001")


def test_queue_shrinks_with_the_level() -> None:
    venue, market, _ = make_venue(usdt="100000")
    resting, _ = venue.spot.place(
        order(side="BUY", type="LIMIT", quantity=D("0.1"), price=D("59999.00"), time_in_force="GTC")
    )
    market.set_book("spot", "BTCUSDT", [("59999.00", "0.2")], [("60001.00", "1")])
    assert resting.queue_ahead == D("0.2")


def test_post_only_that_would_cross_is_rejected() -> None:
    venue, _, _ = make_venue()
    with pytest.raises(TradingError) as spot_err:
        venue.spot.place(
            order(side="BUY", type="LIMIT_MAKER", quantity=D("0.01"), price=D("60001.00"))
        )
    assert (spot_err.value.code, spot_err.value.msg) == (
        -2010,
        "Order would immediately match and take.",
    )
    with pytest.raises(TradingError) as perp_err:
        venue.futures.place(
            order(
                side="SELL",
                type="LIMIT",
                quantity=D("0.01"),
                price=D("59999.0"),
                time_in_force="GTX",
            )
        )
    assert perp_err.value.code == -5022
    assert venue.state.spot.orders == {} and venue.state.futures.orders == {}


def test_duplicate_client_order_id_among_open_orders() -> None:
    venue, _, _ = make_venue()
    req = order(
        side="BUY",
        type="LIMIT",
        quantity=D("0.01"),
        price=D("50000.00"),
        time_in_force="GTC",
        client_order_id="dup",
    )
    venue.spot.place(req)
    with pytest.raises(TradingError, match="Duplicate order sent"):
        venue.spot.place(req)
    venue.spot.cancel("BTCUSDT", None, "dup")
    venue.spot.place(req)  # a closed order's id may be reused, as on Binance


def test_filters_use_binance_codes() -> None:
    venue, _, _ = make_venue()
    cases = [
        (
            order(
                side="BUY",
                type="LIMIT",
                quantity=D("0.01"),
                price=D("50000.001"),
                time_in_force="GTC",
            ),
            -1013,
            "Filter failure: PRICE_FILTER",
        ),
        (
            order(
                side="BUY",
                type="LIMIT",
                quantity=D("0.000001"),
                price=D("50000"),
                time_in_force="GTC",
            ),
            -1013,
            "Filter failure: LOT_SIZE",
        ),
        (
            order(
                side="BUY",
                type="LIMIT",
                quantity=D("0.00001"),
                price=D("50000"),
                time_in_force="GTC",
            ),
            -1013,
            "Filter failure: NOTIONAL",
        ),
    ]
    for req, code, msg in cases:
        with pytest.raises(TradingError) as err:
            venue.spot.place(req)
        assert (err.value.code, err.value.msg) == (code, msg)
    with pytest.raises(TradingError) as err:
        venue.futures.place(
            order(
                side="BUY",
                type="LIMIT",
                quantity=D("0.001"),
                price=D("50000.0"),
                time_in_force="GTC",
            )
        )
    assert err.value.code == -4164


def test_reduce_only_never_grows_a_position() -> None:
    venue, _, _ = make_venue()
    with pytest.raises(TradingError) as err:
        venue.futures.place(order(side="SELL", type="MARKET", quantity=D("0.1"), reduce_only=True))
    assert (err.value.code, err.value.msg) == (-2022, "ReduceOnly Order is rejected.")
    venue.futures.place(order(side="BUY", type="MARKET", quantity=D("0.5")))
    closing = venue.futures.place(
        order(side="SELL", type="MARKET", quantity=D("0.8"), reduce_only=True)
    )
    assert closing.executed_qty == D("0.5") and venue.futures.position("BTCUSDT").amount == 0


def test_fees_and_realized_pnl_are_booked_exactly() -> None:
    venue, market, _ = make_venue(futures="10000")
    venue.futures.place(order(side="BUY", type="MARKET", quantity=D("0.5")))
    market.set_book("perp", "BTCUSDT", [("61000.0", "2")], [("61001.0", "2")])
    venue.futures.place(order(side="SELL", type="MARKET", quantity=D("0.5")))
    open_fee = D("60001.0") * D("0.5") * D("0.0005")
    close_fee = D("61000.0") * D("0.5") * D("0.0005")
    pnl = (D("61000.0") - D("60001.0")) * D("0.5")
    assert venue.futures.wallet == D("10000") + pnl - open_fee - close_fee
    kinds = [(i.income_type, i.income) for i in venue.state.futures.income]
    assert kinds == [("COMMISSION", -open_fee), ("REALIZED_PNL", pnl), ("COMMISSION", -close_fee)]


def test_funding_is_settled_exactly() -> None:
    venue, market, _ = make_venue(futures="10000")
    venue.futures.place(order(side="SELL", type="MARKET", quantity=D("0.3")))
    wallet = venue.futures.wallet
    market.settle_funding("BTCUSDT", "0.000125", "60012.34")
    payment = D("-0.3") * D("60012.34") * D("0.000125")  # a short receives positive funding
    assert venue.futures.wallet == wallet - payment
    funding = venue.state.futures.income[-1]
    assert funding.income_type == "FUNDING_FEE" and funding.income == -payment == D("2.25046275")


def test_algo_stop_fires_off_last_or_mark_and_closes_the_position() -> None:
    venue, market, _ = make_venue()
    venue.futures.place(order(side="BUY", type="MARKET", quantity=D("0.5")))
    by_last = venue.algos.place(
        algo(side="SELL", order_type="STOP_MARKET", close_position=True, trigger_price=D("59000"))
    )
    by_mark = venue.algos.place(
        algo(
            side="SELL",
            order_type="TAKE_PROFIT_MARKET",
            quantity=D("0.5"),
            trigger_price=D("62000"),
            working_type="MARK_PRICE",
        )
    )
    with pytest.raises(TradingError) as err:
        venue.algos.place(
            algo(side="SELL", order_type="STOP_MARKET", quantity=D("0.5"), trigger_price=D("60500"))
        )
    assert err.value.code == -2021
    market.print_trade("perp", "BTCUSDT", "62500.0", "1", False)  # last moves, mark does not
    assert by_mark.status == "NEW"
    market.print_trade("perp", "BTCUSDT", "58999.0", "1", True)
    assert by_last.status == "FINISHED" and venue.futures.position("BTCUSDT").amount == 0
    market.marks["BTCUSDT"] = D("62000")
    market.set_book("perp", "BTCUSDT", [("61999.0", "2")], [("62001.0", "2")])
    assert by_mark.status == "REJECTED"  # reduce-only with no position left


def test_spot_stop_loss_triggers_into_a_market_sell() -> None:
    venue, market, _ = make_venue()
    stop, _ = venue.spot.place(
        order(side="SELL", type="STOP_LOSS", quantity=D("0.1"), stop_price=D("59000.00"))
    )
    assert venue.state.spot.balances["BTC"].locked == D("0.1")
    market.print_trade("spot", "BTCUSDT", "58990.00", "1", True)
    assert stop.status == "FILLED" and stop.avg_price == D("59999.00")
    assert venue.state.spot.balances["BTC"].locked == 0


def test_oco_leg_fill_expires_the_other_leg() -> None:
    venue, market, _ = make_venue()
    params = Params(
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "quantity": "0.1",
            "aboveType": "LIMIT_MAKER",
            "abovePrice": "61000.00",
            "belowType": "STOP_LOSS_LIMIT",
            "belowStopPrice": "59000.00",
            "belowPrice": "58900.00",
            "belowTimeInForce": "GTC",
        }
    )
    entry, (above, below) = place_oco(venue.spot, OcoRequest.parse(params))
    assert venue.state.spot.balances["BTC"].locked == D("0.1")
    market.print_trade("spot", "BTCUSDT", "61001.00", "1", False)
    assert above.status == "FILLED" and below.status == "EXPIRED"
    assert entry.list_order_status == "ALL_DONE"
    balances = venue.state.spot.balances
    assert balances["BTC"].locked == 0 and balances["BTC"].free == D("0.9")


def test_state_round_trips_through_json(tmp_path: Path) -> None:
    venue, _, _ = make_venue()
    venue.spot.place(
        order(
            side="BUY", type="LIMIT", quantity=D("0.01"), price=D("50000.00"), time_in_force="GTC"
        )
    )
    venue.futures.place(order(side="BUY", type="MARKET", quantity=D("0.1")))
    path = tmp_path / "state.json"
    save_state(path, venue.state)
    assert load_state(path) == venue.state
