"""Property tests: balances never go negative, fees are exact, the queue model is monotone."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from chimera.paper.trading.errors import TradingError
from chimera.paper.trading.matching import fill_from_trade
from chimera.paper.trading.model import ZERO
from chimera.paper.trading.requests import OrderRequest
from tests.chimera.paper.trading.tiny_market import make_venue

prices = st.integers(min_value=59_900, max_value=60_100).map(lambda p: D(p).quantize(D("0.01")))
qtys = st.integers(min_value=1, max_value=5_000).map(lambda q: D(q) / 10_000)

actions = st.one_of(
    st.tuples(st.just("limit"), st.sampled_from(["BUY", "SELL"]), prices, qtys),
    st.tuples(st.just("market"), st.sampled_from(["BUY", "SELL"]), prices, qtys),
    st.tuples(st.just("trade"), st.booleans(), prices, qtys),
    st.tuples(st.just("cancel"), st.booleans(), prices, qtys),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(actions, min_size=1, max_size=30))
def test_spot_balances_never_negative_and_fees_exact(steps: list[tuple]) -> None:
    venue, market, _ = make_venue(usdt="20000", btc="0.5")
    for kind, flag, price, qty in steps:
        try:
            if kind == "limit":
                venue.spot.place(
                    OrderRequest(
                        symbol="BTCUSDT",
                        side=flag,
                        type="LIMIT",
                        quantity=qty,
                        price=price,
                        time_in_force="GTC",
                    )
                )
            elif kind == "market":
                venue.spot.place(
                    OrderRequest(symbol="BTCUSDT", side=flag, type="MARKET", quantity=qty)
                )
            elif kind == "trade":
                market.print_trade("spot", "BTCUSDT", str(price), str(qty), flag)
            elif venue.spot.open_orders("BTCUSDT"):
                venue.spot.cancel("BTCUSDT", venue.spot.open_orders("BTCUSDT")[0].order_id, None)
        except TradingError:
            pass
        for balance in venue.state.spot.balances.values():
            assert balance.free >= ZERO and balance.locked >= ZERO
    fills = venue.state.spot.fills
    for fill in fills:
        rate = D("0.001")
        assert fill.commission == fill.price * fill.qty * rate
    spent = sum((f.quote_qty + f.commission for f in fills if f.side == "BUY"), ZERO)
    received = sum((f.quote_qty - f.commission for f in fills if f.side == "SELL"), ZERO)
    usdt = venue.state.spot.balances["USDT"]
    assert usdt.free + usdt.locked == D("20000") - spent + received
    bought = sum((f.qty for f in fills if f.side == "BUY"), ZERO)
    sold = sum((f.qty for f in fills if f.side == "SELL"), ZERO)
    btc = venue.state.spot.balances["BTC"]
    assert btc.free + btc.locked == D("0.5") + bought - sold
    locked_by_orders = sum((o.locked for o in venue.spot.open_orders() if o.is_buy), ZERO)
    assert usdt.locked == locked_by_orders


@given(
    queue=qtys,
    remaining=qtys,
    is_buy=st.booleans(),
    trades=st.lists(st.tuples(st.integers(-2, 2), qtys, st.booleans()), max_size=20),
)
def test_queue_model_fills_never_exceed_what_printed_beyond_the_queue(
    queue: D, remaining: D, is_buy: bool, trades: list[tuple[int, D, bool]]
) -> None:
    limit = D(100)
    ahead, left = queue, remaining
    at_level_volume = ZERO
    for offset, qty, buyer_is_maker in trades:
        price = limit + offset
        filled, new_ahead = fill_from_trade(
            is_buy=is_buy,
            limit=limit,
            queue_ahead=ahead,
            remaining=left,
            trade_price=price,
            trade_qty=qty,
            buyer_is_maker=buyer_is_maker,
        )
        through = price < limit if is_buy else price > limit
        assert ZERO <= filled <= left and ZERO <= new_ahead <= ahead
        if through:
            assert filled == left
        elif price == limit and (buyer_is_maker == is_buy):
            at_level_volume += qty
            assert filled <= max(ZERO, at_level_volume - queue)
        else:
            assert filled == ZERO
        left -= filled
        ahead = new_ahead
