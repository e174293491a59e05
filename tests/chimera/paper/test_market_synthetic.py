"""The synthetic market: deterministic for a seed, Binance-consistent sequencing and books."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal

from chimera.paper.book import L2Book
from chimera.paper.market.synthetic import SyntheticMarket
from chimera.paper.markets import DEFAULT_MARKETS

START = 1_700_000_000_000


def _take(seed: int, n: int) -> list[bytes]:
    market = SyntheticMarket(DEFAULT_MARKETS, seed, START)
    return [e.data for e in itertools.islice(market.events(), n)]


def test_same_seed_same_messages_other_seed_other_messages() -> None:
    assert _take(42, 3000) == _take(42, 3000)
    assert _take(42, 3000) != _take(43, 3000)


def test_sequencing_trade_ids_and_books_are_consistent() -> None:
    market = SyntheticMarket(DEFAULT_MARKETS, 5, START)
    last_u: dict[tuple[str, str], int] = {}
    last_trade: dict[tuple[str, str], int] = {}
    books = {(m.kind, m.symbol): L2Book(m.symbol) for m in DEFAULT_MARKETS}
    kinds_seen = set()
    last_ts = 0
    for event in itertools.islice(market.events(), 30_000):
        key = (event.kind, event.symbol)
        msg = json.loads(event.data)
        assert event.ts_ms >= last_ts
        last_ts = event.ts_ms
        kinds_seen.add((event.kind, event.channel))
        if event.channel == "depth":
            assert msg["e"] == "depthUpdate" and msg["U"] <= msg["u"]
            if key in last_u:
                assert msg["U"] == last_u[key] + 1
                if event.kind == "perp":
                    assert msg["pu"] == last_u[key]
            else:
                assert ("pu" in msg) == (event.kind == "perp")
            last_u[key] = msg["u"]
            levels = [[(Decimal(p), Decimal(q)) for p, q in msg[s]] for s in ("b", "a")]
            books[key].apply(levels[0], levels[1], msg["u"])
            assert not books[key].is_crossed()
        elif event.channel == "trade":
            assert msg["t"] > last_trade.get(key, 0)
            last_trade[key] = msg["t"]
            assert Decimal(msg["q"]) > 0
        elif event.channel == "bookTicker":
            book = books[key]
            assert msg["u"] == book.last_update_id
            assert (Decimal(msg["b"]), Decimal(msg["B"])) == book.best_bid()
            assert (Decimal(msg["a"]), Decimal(msg["A"])) == book.best_ask()
        elif event.channel == "markPrice":
            assert event.kind == "perp" and msg["T"] > msg["E"]
            assert abs(Decimal(msg["r"])) <= Decimal("0.003")
    assert {
        ("spot", "depth"),
        ("perp", "depth"),
        ("spot", "trade"),
        ("perp", "markPrice"),
    } <= kinds_seen
    assert len(last_u) == len(DEFAULT_MARKETS)


def test_prices_sit_on_the_tick_grid_and_regimes_switch() -> None:
    market = SyntheticMarket(DEFAULT_MARKETS, 9, START)
    specs = {(m.kind, m.symbol): m for m in DEFAULT_MARKETS}
    regimes = set()
    for event in itertools.islice(market.events(), 60_000):
        regimes.add(market._unders[event.symbol].regime)
        if event.channel == "trade":
            spec = specs[(event.kind, event.symbol)]
            msg = json.loads(event.data)
            assert Decimal(msg["p"]) % spec.tick_size == 0
            assert Decimal(msg["q"]) % spec.step_size == 0
    assert len(regimes) >= 2


def test_funding_history_is_deterministic_and_8_hourly() -> None:
    a = SyntheticMarket(DEFAULT_MARKETS, 3, START).funding_history()
    b = SyntheticMarket(DEFAULT_MARKETS, 3, START).funding_history()
    assert a == b and set(a) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    times = [f.funding_time_ms for f in a["BTCUSDT"]]
    assert all(t2 - t1 == 8 * 3600 * 1000 for t1, t2 in itertools.pairwise(times))
    assert all(t % (8 * 3600 * 1000) == 0 and t < START for t in times)
