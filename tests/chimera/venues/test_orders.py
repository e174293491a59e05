"""``chimera.venues.orders`` on the paper venue: both order books, lookups by client id, legs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest

from chimera.paper.trading.plugin import make_plugin
from chimera.paper.venue import PaperVenue
from chimera.venues import orders
from tests.chimera.paper.venue_fixtures import ccxt_exchange, running_venue, venue_config

SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"


@pytest.fixture(scope="module")
async def venue(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PaperVenue]:
    state: Path = tmp_path_factory.mktemp("orders-venue")
    async with running_venue(venue_config(state_dir=str(state)), make_plugin) as running:
        yield running


@pytest.fixture
async def perp(venue: PaperVenue) -> AsyncIterator[Any]:
    async with ccxt_exchange(venue, "perp") as exchange:
        await exchange.load_markets()
        yield exchange


@pytest.fixture
async def spot(venue: PaperVenue) -> AsyncIterator[Any]:
    async with ccxt_exchange(venue, "spot") as exchange:
        await exchange.load_markets()
        yield exchange


async def _touch(exchange: Any, symbol: str) -> tuple[Decimal, Decimal]:
    book = await exchange.fetch_order_book(symbol, 5)
    return Decimal(str(book["bids"][0][0])), Decimal(str(book["asks"][0][0]))


async def test_market_order_parses_exactly_and_is_found_by_client_id(perp: Any) -> None:
    placed = await orders.place_market(perp, PERP, "buy", Decimal("0.003"), "t-orders-m1")
    assert placed.status == "FILLED" and placed.filled_qty == Decimal("0.003")
    assert isinstance(placed.avg_price, Decimal) and placed.avg_price > 0
    found = await orders.find_order(perp, PERP, "t-orders-m1")
    assert found is not None and found.venue_order_id == placed.venue_order_id
    fills = await orders.fetch_fills(perp, PERP, placed.venue_order_id)
    assert sum(f.qty for f in fills) == Decimal("0.003") and not fills[0].is_maker
    assert await orders.find_order(perp, PERP, "t-orders-absent") is None
    closed = await orders.place_market(
        perp, PERP, "sell", Decimal("0.003"), "t-orders-m2", reduce_only=True
    )
    assert closed.reduce_only and closed.status == "FILLED"


async def test_conditional_legs_are_listed_found_and_cancelled_with_the_rest(perp: Any) -> None:
    await orders.place_market(perp, PERP, "buy", Decimal("0.004"), "t-orders-entry")
    bid, ask = await _touch(perp, PERP)
    stop = await orders.place_conditional(
        perp,
        PERP,
        "STOP_MARKET",
        "sell",
        Decimal("0.004"),
        (bid * Decimal("0.8")).quantize(Decimal("0.1")),
        "t-orders-sl",
    )
    take = await orders.place_conditional(
        perp,
        PERP,
        "TAKE_PROFIT_MARKET",
        "sell",
        Decimal("0.004"),
        (ask * Decimal("1.2")).quantize(Decimal("0.1")),
        "t-orders-tp",
    )
    await orders.place_post_only(
        perp,
        PERP,
        "buy",
        Decimal("0.004"),
        (bid * Decimal("0.9")).quantize(Decimal("0.1")),
        "t-orders-rest",
    )
    assert stop.conditional and stop.reduce_only and stop.order_type == "STOP_MARKET"
    assert take.trigger_price == (ask * Decimal("1.2")).quantize(Decimal("0.1"))
    listed = {o.client_order_id: o for o in await orders.open_orders(perp, PERP)}
    assert {"t-orders-sl", "t-orders-tp", "t-orders-rest"} <= set(listed)
    assert listed["t-orders-rest"].order_type == "LIMIT" and not listed["t-orders-rest"].conditional
    found = await orders.find_order(perp, PERP, "t-orders-sl")
    assert found is not None and found.conditional and found.status == "NEW"
    assert await orders.find_order(perp, PERP, "t-orders-sl", conditional=False) is None
    cancelled = await orders.cancel_order(perp, PERP, "t-orders-tp", conditional=True)
    assert cancelled is not None and cancelled.status == "CANCELED"
    assert await orders.cancel_order(perp, PERP, "t-orders-tp", conditional=True) is None
    await orders.cancel_all(perp, PERP)
    assert await orders.open_orders(perp, PERP) == []
    await orders.place_market(
        perp, PERP, "sell", Decimal("0.004"), "t-orders-exit", reduce_only=True
    )


async def test_spot_post_only_and_crossing(spot: Any) -> None:
    bid, ask = await _touch(spot, SPOT)
    maker = await orders.place_post_only(spot, SPOT, "buy", Decimal("0.001"), bid, "t-orders-lm")
    assert maker.order_type == "LIMIT_MAKER" and maker.status == "NEW" and maker.price == bid
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        await orders.place_post_only(
            spot, SPOT, "buy", Decimal("0.001"), ask * Decimal("1.01"), "t-orders-x"
        )
    assert [o.client_order_id for o in await orders.open_orders(spot, SPOT)] == ["t-orders-lm"]
    bought = await orders.place_market(spot, SPOT, "buy", Decimal("0.001"), "t-orders-sm")
    assert bought.fills and sum(f.qty for f in bought.fills) == Decimal("0.001")
    assert bought.avg_price == bought.fills[0].price
    await orders.cancel_all(spot, SPOT)
    found = await orders.find_order(spot, SPOT, "t-orders-lm")
    assert found is not None and found.status == "CANCELED"
    with pytest.raises(ValueError, match="spot exchange"):
        await orders.place_conditional(
            spot, SPOT, "STOP_MARKET", "sell", Decimal("0.001"), bid, "t-orders-bad"
        )
