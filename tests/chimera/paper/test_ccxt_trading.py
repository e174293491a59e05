"""ccxt's own exchange tests and Binance's error semantics, through ccxt, on the paper venue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
from ccxt.test.exchange.base import test_order as validate_order

from chimera.paper.faults import FaultRule
from chimera.paper.trading.plugin import make_plugin
from chimera.paper.venue import PaperVenue
from tests.chimera.paper.ccxt_suite import ccxt_test, create_order_suite
from tests.chimera.paper.venue_fixtures import ccxt_exchange, running_venue, venue_config

SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"


@pytest.fixture(scope="module")
async def venue(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PaperVenue]:
    state_dir = tmp_path_factory.mktemp("paper-state")
    async with running_venue(venue_config(state_dir=str(state_dir)), make_plugin) as running:
        yield running


@pytest.fixture
async def spot(venue: PaperVenue) -> AsyncIterator[Any]:
    async with ccxt_exchange(venue, "spot") as exchange:
        await exchange.load_markets()
        yield exchange


@pytest.fixture
async def perp(venue: PaperVenue) -> AsyncIterator[Any]:
    async with ccxt_exchange(venue, "perp") as exchange:
        await exchange.load_markets()
        yield exchange


async def _far_limit(exchange: Any, symbol: str, side: str = "buy") -> Any:
    book = await exchange.fetch_order_book(symbol)
    price = book["bids"][0][0] * 0.9 if side == "buy" else book["asks"][0][0] * 1.1
    amount = exchange.market(symbol)["limits"]["cost"]["min"] * 1.5 / price
    amount = (
        float(exchange.amount_to_precision(symbol, amount))
        + exchange.market(symbol)["precision"]["amount"]
    )
    return await exchange.create_order(symbol, "limit", side, amount, price)


# --- ccxt's own tests -------------------------------------------------------------------------
async def test_ccxt_spot_suite(spot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    await create_order_suite(spot, SPOT, monkeypatch)
    await ccxt_test("fetch_balance")(spot, {})
    resting = await _far_limit(spot, SPOT)
    await ccxt_test("fetch_open_orders")(spot, {}, SPOT)
    await ccxt_test("fetch_my_trades")(spot, {}, SPOT)
    await ccxt_test("fetch_orders")(spot, {}, SPOT)
    await ccxt_test("fetch_closed_orders")(spot, {}, SPOT)
    await spot.cancel_order(resting["id"], SPOT)


async def test_ccxt_perp_suite(perp: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    await create_order_suite(perp, PERP, monkeypatch)
    await ccxt_test("fetch_balance")(perp, {})
    resting = await _far_limit(perp, PERP)
    await ccxt_test("fetch_open_orders")(perp, {}, PERP)
    await ccxt_test("fetch_my_trades")(perp, {}, PERP)
    await ccxt_test("fetch_orders")(perp, {}, PERP)
    await ccxt_test("fetch_closed_orders")(perp, {}, PERP)
    await perp.cancel_order(resting["id"], PERP)
    opened = await perp.create_order(PERP, "market", "buy", 0.002)
    assert opened["status"] == "closed"
    await ccxt_test("fetch_positions")(perp, {}, PERP)
    closed = await perp.create_order(PERP, "market", "sell", 0.002, None, {"reduceOnly": True})
    assert closed["filled"] == 0.002


# --- conditional (algo) orders ----------------------------------------------------------------
async def test_conditional_orders_via_algo_endpoint(perp: Any) -> None:
    await perp.create_order(PERP, "market", "buy", 0.003)
    mark = (await perp.fetch_positions([PERP]))[0]["markPrice"]
    now = int(time.time() * 1000)
    stop = await perp.create_order(
        PERP,
        "market",
        "sell",
        0.003,
        None,
        {"stopLossPrice": round(mark * 0.8, 1), "reduceOnly": True},
    )
    take = await perp.create_order(
        PERP,
        "market",
        "sell",
        0.003,
        None,
        {"takeProfitPrice": round(mark * 1.2, 1), "reduceOnly": True},
    )
    for order in (stop, take):
        validate_order(perp, {}, "createOrder", order, PERP, now)
        assert order["status"] == "open" and order["reduceOnly"] is True
    assert take["takeProfitPrice"] == round(mark * 1.2, 1)
    listed = await perp.fetch_open_orders(PERP, params={"trigger": True})
    assert {o["id"] for o in listed} >= {stop["id"], take["id"]}
    for order in listed:
        validate_order(perp, {}, "fetchOpenOrders", order, PERP, now)
    plain = await perp.fetch_open_orders(PERP)
    assert stop["id"] not in {o["id"] for o in plain}
    fetched = await perp.fetch_order(stop["id"], PERP, {"trigger": True})
    assert fetched["triggerPrice"] == round(mark * 0.8, 1) and fetched["status"] == "open"
    await perp.cancel_order(stop["id"], PERP, {"trigger": True})
    assert (await perp.fetch_order(stop["id"], PERP, {"trigger": True}))["status"] == "canceled"
    await perp.cancel_all_orders(PERP, {"trigger": True})
    assert await perp.fetch_open_orders(PERP, params={"trigger": True}) == []
    with pytest.raises(ccxt.OrderNotFound):
        await perp.cancel_order(take["id"], PERP, {"trigger": True})
    await perp.create_order(PERP, "market", "sell", 0.003, None, {"reduceOnly": True})


async def test_stop_that_would_trigger_now_is_refused(perp: Any) -> None:
    mark = (await perp.fetch_positions([PERP]) or [{"markPrice": None}])[0]["markPrice"]
    book = await perp.fetch_order_book(PERP)
    below = round(book["bids"][0][0] * 0.9, 1)
    with pytest.raises(ccxt.OrderImmediatelyFillable, match="-2021"):
        await perp.create_order(
            PERP,
            "market",
            "buy",
            0.003,
            None,
            {"stopLossPrice": below, "workingType": "MARK_PRICE"},
        )
    assert mark is None or mark > 0


async def test_spot_oco_one_leg_cancels_the_other(spot: Any) -> None:
    book = await spot.fetch_order_book(SPOT)
    bid, ask = book["bids"][0][0], book["asks"][0][0]
    response = await spot.privatePostOrderListOco(
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "quantity": "0.001",
            "aboveType": "LIMIT_MAKER",
            "abovePrice": spot.price_to_precision(SPOT, ask * 1.2),
            "belowType": "STOP_LOSS_LIMIT",
            "belowStopPrice": spot.price_to_precision(SPOT, bid * 0.8),
            "belowPrice": spot.price_to_precision(SPOT, bid * 0.79),
            "belowTimeInForce": "GTC",
        }
    )
    assert response["contingencyType"] == "OCO" and len(response["orderReports"]) == 2
    lists = await spot.privateGetOpenOrderList({})
    assert response["orderListId"] in [entry["orderListId"] for entry in lists]
    opened = await spot.fetch_open_orders(SPOT)
    leg_ids = {str(o["orderId"]) for o in response["orders"]}
    assert leg_ids <= {o["id"] for o in opened}
    # Cancelling one leg cancels the list.
    await spot.cancel_order(str(response["orders"][0]["orderId"]), SPOT)
    remaining = {o["id"] for o in await spot.fetch_open_orders(SPOT)}
    assert not leg_ids & remaining
    lists = await spot.privateGetOpenOrderList({})
    assert response["orderListId"] not in [entry["orderListId"] for entry in lists]


# --- Binance's errors, as ccxt surfaces them --------------------------------------------------
async def test_duplicate_client_order_id(spot: Any, perp: Any) -> None:
    first = await _far_limit(spot, SPOT)
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        await spot.create_order(
            SPOT,
            "limit",
            "buy",
            first["amount"],
            first["price"],
            {"clientOrderId": first["clientOrderId"]},
        )
    await spot.cancel_order(first["id"], SPOT)
    first = await _far_limit(perp, PERP)
    with pytest.raises(ccxt.InvalidOrder, match="-4116"):
        await perp.create_order(
            PERP,
            "limit",
            "buy",
            first["amount"],
            first["price"],
            {"clientOrderId": first["clientOrderId"]},
        )
    await perp.cancel_order(first["id"], PERP)


async def test_post_only_crossing_is_rejected(spot: Any, perp: Any) -> None:
    book = await spot.fetch_order_book(SPOT)
    with pytest.raises(ccxt.OrderImmediatelyFillable, match="immediately match and take"):
        await spot.create_order(
            SPOT, "limit", "buy", 0.001, book["asks"][0][0] * 1.01, {"postOnly": True}
        )
    book = await perp.fetch_order_book(PERP)
    with pytest.raises(ccxt.OrderNotFillable, match="-5022"):
        await perp.create_order(
            PERP, "limit", "buy", 0.003, book["asks"][0][0] * 1.01, {"postOnly": True}
        )


async def test_reduce_only_never_opens_a_position(perp: Any) -> None:
    for position in await perp.fetch_positions([PERP]):
        close_side = "sell" if position["side"] == "long" else "buy"
        await perp.create_order(
            PERP, "market", close_side, position["contracts"], None, {"reduceOnly": True}
        )
    assert await perp.fetch_positions([PERP]) == []
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):
        await perp.create_order(PERP, "market", "sell", 0.003, None, {"reduceOnly": True})


async def test_unknown_orders(spot: Any, perp: Any) -> None:
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        await spot.cancel_order("987654321", SPOT)
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        await spot.fetch_order("987654321", SPOT)
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        await perp.fetch_order("987654321", PERP)


async def test_filters_and_balance(spot: Any, perp: Any) -> None:
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):
        await spot.create_order(SPOT, "limit", "buy", 0.00001, 50000)
    with pytest.raises(ccxt.InsufficientFunds):
        await spot.create_order(SPOT, "market", "buy", 50)
    with pytest.raises(ccxt.InvalidOrder, match="-4164"):
        await perp.create_order(PERP, "limit", "buy", 0.001, 50000)
    spot.options["createOrder"] = {"priceToPrecision": False}
    with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
        await spot.privatePostOrder(
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.001",
                "price": "50000.001",
            }
        )


async def test_bad_credentials(venue: PaperVenue) -> None:
    async with ccxt_exchange(venue, "spot") as exchange:
        exchange.secret = "not-the-secret"
        with pytest.raises(ccxt.AuthenticationError, match="-1022"):
            await exchange.fetch_balance()
        exchange.apiKey = "not-the-key"
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            await exchange.fetch_balance()


async def test_transfer_spot_to_futures(spot: Any, perp: Any) -> None:
    before_spot = (await spot.fetch_balance())["USDT"]["free"]
    before_perp = (await perp.fetch_balance())["USDT"]["total"]
    transfer = await spot.transfer("USDT", 250, "spot", "swap")
    assert transfer["id"]
    assert (await spot.fetch_balance())["USDT"]["free"] == pytest.approx(before_spot - 250)
    assert (await perp.fetch_balance())["USDT"]["total"] == pytest.approx(before_perp + 250)
    with pytest.raises(ccxt.InsufficientFunds):
        await spot.transfer("USDT", 10**9, "spot", "swap")
    await spot.transfer("USDT", 250, "swap", "spot")


# --- fault switches ---------------------------------------------------------------------------
async def test_fault_switches_surface_as_binance_errors(venue: PaperVenue, spot: Any) -> None:
    book = await spot.fetch_order_book(SPOT)
    price = spot.price_to_precision(SPOT, book["bids"][0][0] * 0.9)
    order_path = "/api/v3/order"
    cases: list[tuple[FaultRule, type[Exception]]] = [
        (FaultRule(kind="http_5xx", path_prefix=order_path), ccxt.ExchangeNotAvailable),
        (FaultRule(kind="http_429", path_prefix=order_path), ccxt.DDoSProtection),
        (FaultRule(kind="reject", path_prefix=order_path), ccxt.InsufficientFunds),
        (
            FaultRule(
                kind="reject", path_prefix=order_path, code=-1013, msg="Filter failure: LOT_SIZE"
            ),
            ccxt.InvalidOrder,
        ),
        (FaultRule(kind="timeout_before_accept", path_prefix=order_path), ccxt.RequestTimeout),
    ]
    spot.timeout = 400
    for rule, expected in cases:
        venue.faults.arm(rule)
        opened_before = len(await spot.fetch_open_orders(SPOT))
        with pytest.raises(expected):
            await spot.create_order(SPOT, "limit", "buy", 0.001, price)
        assert len(await spot.fetch_open_orders(SPOT)) == opened_before, rule.kind
    # Accepted, then no answer: the order exists although the client timed out.
    venue.faults.arm(FaultRule(kind="timeout_after_accept", path_prefix=order_path))
    with pytest.raises(ccxt.RequestTimeout):
        await spot.create_order(SPOT, "limit", "buy", 0.001, price, {"clientOrderId": "after-1"})
    found = await spot.fetch_order(None, SPOT, {"clientOrderId": "after-1"})
    assert found["status"] == "open"
    await spot.cancel_order(found["id"], SPOT)
    venue.faults.arm(FaultRule(kind="latency", path_prefix="/api/v3/account", latency_ms=150))
    started = time.perf_counter()
    await spot.fetch_balance()
    assert time.perf_counter() - started >= 0.15
    assert venue.faults.armed() == []


# --- persistence ------------------------------------------------------------------------------
async def test_state_survives_a_restart(tmp_path: Path) -> None:
    config = venue_config(state_dir=str(tmp_path))
    async with running_venue(config, make_plugin) as first, ccxt_exchange(first, "spot") as ex:
        order = await _far_limit(ex, SPOT)
        await ex.create_order(SPOT, "market", "buy", 0.001)
        balance = (await ex.fetch_balance())["total"]
    assert (tmp_path / "trading_state.json").exists()
    async with running_venue(config, make_plugin) as second, ccxt_exchange(second, "spot") as ex:
        assert [o["id"] for o in await ex.fetch_open_orders(SPOT)] == [order["id"]]
        assert (await ex.fetch_balance())["total"] == balance
        assert len(await ex.fetch_my_trades(SPOT)) >= 1
        fresh = await ex.create_order(SPOT, "market", "buy", 0.001)
        assert int(fresh["id"]) > int(order["id"])


async def test_user_data_stream_pushes_futures_events(venue: PaperVenue, perp: Any) -> None:
    watcher = asyncio.create_task(perp.watch_orders(PERP))
    await asyncio.sleep(0.3)
    placed = await _far_limit(perp, PERP)
    orders = await asyncio.wait_for(watcher, 5)
    assert placed["id"] in {o["id"] for o in orders}
    await perp.cancel_order(placed["id"], PERP)
    assert Decimal(str(placed["price"])) > 0
