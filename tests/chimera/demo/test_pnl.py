"""The demo's PnL: average cost over the fills, exact in Decimal, realized net of fees."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import asyncpg
from hypothesis import given, settings
from hypothesis import strategies as st

from chimera.demo.pnl import FillRow, ledger, load_fills, totals
from chimera.domain.orders import Side
from chimera.venues.positions import VenuePosition

D = Decimal


def fill(side: Side, price: str, qty: str, fee: str = "0", market: str = "FUT") -> FillRow:
    return FillRow(market=market, symbol="BTCUSDT", side=side, price=D(price), qty=D(qty),  # type: ignore[arg-type]
                   fee=D(fee))  # fmt: skip


def test_average_cost_adds_reduces_and_flips() -> None:
    books = ledger(
        [
            fill("buy", "100", "1", "0.1"),
            fill("buy", "110", "3", "0.3"),  # entry (100 + 330) / 4 = 107.5
            fill("sell", "120", "2", "0.2"),  # realizes (120 - 107.5) x 2 = 25
            fill("sell", "100", "3", "0.3"),  # closes 2: (100 - 107.5) x 2 = -15; short 1 at 100
        ]
    )
    book = books[("FUT", "BTCUSDT")]
    assert book.qty == D("-1") and book.entry_price == D("100")
    assert book.fees == D("0.9")
    assert book.realized == D("25") - D("15") - D("0.9")
    assert book.fills == 4
    book.apply(fill("buy", "90", "1"))  # the short closes: +10
    assert book.qty == 0 and book.entry_price == 0 and book.realized == D("19.1")


def test_markets_and_symbols_are_kept_apart() -> None:
    books = ledger([fill("buy", "100", "1"), fill("sell", "100", "1", market="SPOT")])
    assert books[("FUT", "BTCUSDT")].qty == D("1")
    assert books[("SPOT", "BTCUSDT")].qty == D("-1")


def test_totals_add_unrealized_from_positions_and_say_na_when_unknown() -> None:
    books = ledger([fill("buy", "100", "2", "0.5"), fill("sell", "101", "1", "0.25")])
    long = VenuePosition("FUT", "BTCUSDT", "long", D("1"), D("100"), D("103"), D("3"))
    t = totals(books, [long])
    assert (t.realized, t.fees, t.unrealized, t.total, t.fills) == (
        D("0.25"), D("0.75"), D("3"), D("3.25"), 2,
    )  # fmt: skip
    assert totals(books, [long, VenuePosition("SPOT", "ETHUSDT", "long", D("1"))]).total is None
    assert totals(books, None).unrealized is None
    nothing = totals(None, [])
    assert nothing.realized is None and nothing.unrealized == 0 and nothing.total is None


prices = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)
qtys = st.decimals(min_value=D("0.001"), max_value=D("1000"), places=3)
fees = st.decimals(min_value=D("0"), max_value=D("50"), places=8)


@settings(max_examples=200, deadline=None)
@given(
    buy=prices, sell=prices, qty=qtys, buy_fee=fees, sell_fee=fees, short_first=st.booleans(),
    slices=st.integers(1, 4),
)  # fmt: skip
def test_property_a_round_trip_realizes_price_difference_times_qty_minus_fees(
    buy: Decimal,
    sell: Decimal,
    qty: Decimal,
    buy_fee: Decimal,
    sell_fee: Decimal,
    short_first: bool,
    slices: int,
) -> None:
    # The exit may come in several fills (the last takes the remainder); the result is exact.
    step = (qty / slices).quantize(D("0.001"), rounding=ROUND_DOWN)
    exits = [step] * (slices - 1) + [qty - step * (slices - 1)]
    opening = fill("sell" if short_first else "buy", str(sell if short_first else buy), str(qty),
                   str(sell_fee if short_first else buy_fee))  # fmt: skip
    closing_side: Side = "buy" if short_first else "sell"
    closing_price = buy if short_first else sell
    closing = [
        fill(closing_side, str(closing_price), str(q), str(buy_fee if short_first else sell_fee)
             if i == len(exits) - 1 else "0")
        for i, q in enumerate(exits)
        if q > 0
    ]  # fmt: skip
    book = ledger([opening, *closing])[("FUT", "BTCUSDT")]
    assert book.qty == 0
    assert book.realized == (sell - buy) * qty - buy_fee - sell_fee
    assert book.fees == buy_fee + sell_fee


async def test_load_fills_reads_the_fills_table_with_each_order_market(
    pool: asyncpg.Pool,
) -> None:
    for coid, market, side, ts in (("o1", "FUT", "buy", 1), ("o2", "SPOT", "sell", 2)):
        await pool.execute(
            "INSERT INTO orders (client_order_id, intent_id, market, symbol, side, order_type,"
            " purpose, status, qty, created_ts_ms, updated_ts_ms)"
            " VALUES ($1, 'i', $2, 'BTCUSDT', $3, 'MARKET', 'ENTRY', 'FILLED', 1, $4, $4)",
            coid, market, side, ts,
        )  # fmt: skip
        await pool.execute(
            "INSERT INTO fills (trade_id, symbol, client_order_id, intent_id, side, price, qty,"
            " fee, fee_asset, is_maker, ts_ms)"
            " VALUES ($1, 'BTCUSDT', $2, 'i', $3, 60000.5, 0.002, 0.0480004, 'USDT', false, $4)",
            f"t{ts}", coid, side, ts,
        )  # fmt: skip
    rows = await load_fills(pool, 5.0)
    assert [(r.market, r.side, r.price, r.qty, r.fee, r.trade_id) for r in rows] == [
        ("FUT", "buy", D("60000.5"), D("0.002"), D("0.0480004"), "t1"),
        ("SPOT", "sell", D("60000.5"), D("0.002"), D("0.0480004"), "t2"),
    ]
