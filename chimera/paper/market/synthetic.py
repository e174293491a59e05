"""A seeded synthetic market in Binance's message format, for every listed spot and perp market.

Per symbol one underlying price follows a GARCH(1,1)-like process whose level switches between
regimes (calm, trend, volatile); the perpetual trades at a mean-reverting basis to it. Each book
(spot and perp) holds integer-tick price levels around the mid: the spread and the level churn
follow the regime, trades print at the best bid/ask and take liquidity from it. Every 100 ms of
venue time each book emits its trades, one ``depthUpdate`` with the changed levels (``U``/``u``,
and ``pu`` on futures, consume one id per change), a ``bookTicker`` when the top changed, and
every second the perpetual's ``markPriceUpdate`` (funding rate ``r``, next funding ``T``).
All randomness comes from numpy Generators seeded from ``seed``: same seed, same messages.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import msgspec
import numpy as np

from chimera.paper.feed import FundingSettlement
from chimera.paper.market.events import (
    BookTickerMsg,
    DepthUpdate,
    MarketEvent,
    MarkPriceMsg,
    TradeMsg,
)
from chimera.paper.market.hub import FUNDING_INTERVAL_MS, next_funding_ms
from chimera.paper.markets import MarketSpec

TICK_MS = 100
LEVELS = 25  # price levels kept per side
_encode = msgspec.json.Encoder().encode

# Regime: (per-tick volatility, drift per tick, mean spread in extra ticks, trades per second,
# probability per tick of leaving the regime).
_REGIMES = (
    ("calm", 2.5e-5, 0.0, 0.3, 3.0, 1 / 3000),
    ("trend", 3.5e-5, 2.0e-6, 0.8, 6.0, 1 / 2000),
    ("volatile", 9.0e-5, 0.0, 3.0, 14.0, 1 / 1000),
)
_GARCH_A, _GARCH_B = 0.05, 0.93


class _Underlying:
    """The fair price of one symbol and its regime; the perp's basis to it."""

    def __init__(self, start_price: Decimal, rng: np.random.Generator) -> None:
        self.rng = rng
        self.log_price = math.log(float(start_price))
        self.regime = 0
        self.trend_sign = 1.0
        self.var = _REGIMES[0][1] ** 2
        self.ret = 0.0
        self.basis = 0.0

    def step(self) -> None:
        _, sigma, drift, _, _, leave = _REGIMES[self.regime]
        if self.rng.random() < leave:
            self.regime = int(self.rng.choice([r for r in range(3) if r != self.regime]))
            self.trend_sign = 1.0 if self.rng.random() < 0.5 else -1.0
            sigma = _REGIMES[self.regime][1]
        omega = sigma**2 * (1 - _GARCH_A - _GARCH_B)
        self.var = omega + _GARCH_A * self.ret**2 + _GARCH_B * self.var
        self.ret = drift * self.trend_sign + math.sqrt(self.var) * float(self.rng.standard_normal())
        self.log_price += self.ret
        self.basis += -0.001 * self.basis + 2e-5 * float(self.rng.standard_normal())


class _SimBook:
    """One synthetic order book: integer ticks -> integer lot steps."""

    def __init__(self, spec: MarketSpec, under: _Underlying, rng: np.random.Generator, n: int):
        self.spec = spec
        self.under = under
        self.rng = rng
        self.perp = spec.kind == "perp"
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.last_u = 1_000_000_000 * (n + 1)
        self.next_trade_id = 100_000_000 * (n + 1)
        self.top: tuple[int, int, int, int] | None = None
        price_dp = 8 if spec.kind == "spot" else -spec.tick_size.as_tuple().exponent  # type: ignore[operator]
        qty_dp = 8 if spec.kind == "spot" else -spec.step_size.as_tuple().exponent  # type: ignore[operator]
        self._pq = Decimal(1).scaleb(-price_dp)
        self._qq = Decimal(1).scaleb(-qty_dp)
        self.lower = spec.symbol.lower()

    def price(self, ticks: int) -> Decimal:
        return (self.spec.tick_size * ticks).quantize(self._pq)

    def qty(self, steps: int) -> Decimal:
        return (self.spec.step_size * steps).quantize(self._qq)

    def mid_price(self) -> float:
        fair = math.exp(self.under.log_price)
        return fair * (1 + self.under.basis) if self.perp else fair

    def _draw_steps(self, distance: int) -> int:
        px = self.mid_price()
        notional = 3000.0 * (1 + 0.15 * distance) * float(self.rng.lognormal(0.0, 0.8))
        steps = int(notional / px / float(self.spec.step_size))
        return max(steps, int(self.spec.min_qty / self.spec.step_size))


def _fmt_levels(book: _SimBook, changes: dict[int, int]) -> tuple[list[Any], list[Any]]:
    raw, parsed = [], []
    for ticks in sorted(changes):
        p, q = book.price(ticks), book.qty(changes[ticks])
        raw.append([format(p, "f"), format(q, "f")])
        parsed.append((p, q))
    return raw, parsed


class SyntheticMarket:
    """An endless, deterministic stream of Binance market messages for ``markets``."""

    def __init__(self, markets: tuple[MarketSpec, ...], seed: int, start_ms: int) -> None:
        self.start_ms = start_ms - start_ms % TICK_MS
        self.seed = seed
        self._unders: dict[str, _Underlying] = {}
        self._books: list[_SimBook] = []
        for n, spec in enumerate(markets):
            under = self._unders.get(spec.symbol)
            if under is None:
                index = sorted({m.symbol for m in markets}).index(spec.symbol)
                rng = np.random.default_rng([seed, 0, index])
                under = self._unders[spec.symbol] = _Underlying(spec.start_price, rng)
            book = _SimBook(spec, under, np.random.default_rng([seed, 1, n]), n)
            self._books.append(book)

    def funding_history(self, count: int = 21) -> dict[str, list[FundingSettlement]]:
        """Return ``count`` past 8-hourly settlements per perpetual, ending before the start."""
        out: dict[str, list[FundingSettlement]] = {}
        first = next_funding_ms(self.start_ms) - FUNDING_INTERVAL_MS * count
        for n, book in enumerate(self._books):
            if not book.perp:
                continue
            rng = np.random.default_rng([self.seed, 2, n])
            history = []
            for i in range(count):
                rate = Decimal(round(0.0001 + 0.00005 * float(rng.standard_normal()), 8))
                rate = rate.quantize(Decimal("0.00000001"))
                ts = first + i * FUNDING_INTERVAL_MS
                history.append(FundingSettlement(book.spec.symbol, rate, book.spec.start_price, ts))
            out[book.spec.symbol] = history
        return out

    def events(self) -> Iterator[MarketEvent]:
        """Yield the market's messages in venue-time order, forever."""
        t = self.start_ms
        while True:
            t += TICK_MS
            for under in self._unders.values():
                under.step()
            batch: list[MarketEvent] = []
            for book in self._books:
                batch.extend(self._tick(book, t))
            batch.sort(key=lambda e: e.ts_ms)
            yield from batch

    def _tick(self, book: _SimBook, t: int) -> list[MarketEvent]:
        events: list[MarketEvent] = []
        bid_changes: dict[int, int] = {}
        ask_changes: dict[int, int] = {}
        self._trades(book, t, events, bid_changes, ask_changes)
        self._refill(book, bid_changes, ask_changes)
        self._churn(book, bid_changes, ask_changes)
        if bid_changes or ask_changes:
            events.append(self._depth_event(book, t, bid_changes, ask_changes))
        top = self._top(book)
        if top != book.top:
            book.top = top
            events.append(self._book_ticker(book, t, top))
        if book.perp and t % 1000 == 0:
            events.append(self._mark_price(book, t))
        return events

    def _trades(
        self, book: _SimBook, t: int, out: list[MarketEvent], bc: dict[int, int], ac: dict[int, int]
    ) -> None:
        rng = book.rng
        regime = _REGIMES[book.under.regime]
        count = int(rng.poisson(regime[4] * TICK_MS / 1000))
        if count == 0:
            return
        offsets = sorted(int(x) for x in rng.integers(1, TICK_MS, size=count))
        buy_bias = 0.5 + (0.2 if book.under.ret > 0 else -0.2)
        for offset in offsets:
            buy = bool(rng.random() < buy_bias)
            side, changes = (book.asks, ac) if buy else (book.bids, bc)
            if not side:
                continue
            level = min(side) if buy else max(side)
            take = min(side[level], book._draw_steps(0) // 4 + 1)
            side[level] -= take
            changes[level] = side[level]
            if side[level] == 0:
                del side[level]
            ts = t - TICK_MS + offset
            book.next_trade_id += 1
            price, qty = book.price(level), book.qty(take)
            msg: dict[str, Any] = {"e": "trade", "E": ts}
            if book.perp:
                msg["T"] = ts
            msg.update(
                s=book.spec.symbol, t=book.next_trade_id, p=format(price, "f"), q=format(qty, "f")
            )
            if book.perp:
                msg.update(X="MARKET", m=not buy)
            else:
                msg.update(T=ts, m=not buy, M=True)
            parsed = TradeMsg(book.spec.symbol, book.next_trade_id, price, qty, not buy, ts, ts)
            stream = f"{book.lower}@trade"
            out.append(
                MarketEvent(
                    ts, book.spec.kind, book.spec.symbol, "trade", stream, _encode(msg), parsed
                )
            )

    def _refill(self, book: _SimBook, bc: dict[int, int], ac: dict[int, int]) -> None:
        rng = book.rng
        tick = float(book.spec.tick_size)
        mid = book.mid_price() / tick
        gap = max(1, round(book.mid_price() * 2e-5 / tick))
        spread = 1 + int(rng.poisson(_REGIMES[book.under.regime][3]))
        best_bid = math.floor(mid - spread / 2)
        best_ask = best_bid + spread
        for side, changes, inside in ((book.bids, bc, best_bid), (book.asks, ac, best_ask)):
            is_bid = side is book.bids
            for level in [p for p in side if (p > inside if is_bid else p < inside)]:
                del side[level]
                changes[level] = 0
            if inside not in side:
                side[inside] = changes[inside] = book._draw_steps(0)
            edge = min(side) if is_bid else max(side)
            while len(side) < LEVELS:
                edge += (-1 if is_bid else 1) * gap * int(rng.integers(1, 3))
                side[edge] = changes[edge] = book._draw_steps(len(side))
            while len(side) > LEVELS + 5:
                far = min(side) if is_bid else max(side)
                del side[far]
                changes[far] = 0

    def _churn(self, book: _SimBook, bc: dict[int, int], ac: dict[int, int]) -> None:
        rng = book.rng
        for side, changes in ((book.bids, bc), (book.asks, ac)):
            levels = sorted(side)
            for index in rng.integers(0, len(levels), size=3):
                level = levels[int(index)]
                steps = max(1, int(side[level] * float(rng.lognormal(0.0, 0.3))))
                side[level] = changes[level] = steps

    def _depth_event(
        self, book: _SimBook, t: int, bc: dict[int, int], ac: dict[int, int]
    ) -> MarketEvent:
        b_raw, b = _fmt_levels(book, bc)
        a_raw, a = _fmt_levels(book, ac)
        first, pu = book.last_u + 1, book.last_u
        book.last_u += len(bc) + len(ac)
        spec = book.spec
        if book.perp:
            msg: dict[str, Any] = {
                "e": "depthUpdate",
                "E": t,
                "T": t,
                "s": spec.symbol,
                "U": first,
                "u": book.last_u,
                "pu": pu,
                "b": b_raw,
                "a": a_raw,
            }
            parsed = DepthUpdate(spec.symbol, first, book.last_u, b, a, t, t, pu)
            stream = f"{book.lower}@depth@0ms"
        else:
            msg = {
                "e": "depthUpdate",
                "E": t,
                "s": spec.symbol,
                "U": first,
                "u": book.last_u,
                "b": b_raw,
                "a": a_raw,
            }
            parsed = DepthUpdate(spec.symbol, first, book.last_u, b, a, t)
            stream = f"{book.lower}@depth@100ms"
        return MarketEvent(t, spec.kind, spec.symbol, "depth", stream, _encode(msg), parsed)

    @staticmethod
    def _top(book: _SimBook) -> tuple[int, int, int, int]:
        bid, ask = max(book.bids), min(book.asks)
        return bid, book.bids[bid], ask, book.asks[ask]

    def _book_ticker(self, book: _SimBook, t: int, top: tuple[int, int, int, int]) -> MarketEvent:
        spec = book.spec
        b, bq, a, aq = book.price(top[0]), book.qty(top[1]), book.price(top[2]), book.qty(top[3])
        msg: dict[str, Any] = {}
        if book.perp:
            msg["e"] = "bookTicker"
        msg.update(
            u=book.last_u,
            s=spec.symbol,
            b=format(b, "f"),
            B=format(bq, "f"),
            a=format(a, "f"),
            A=format(aq, "f"),
        )
        if book.perp:
            msg.update(T=t, E=t)
        parsed = BookTickerMsg(spec.symbol, book.last_u, b, bq, a, aq, t, t)
        return MarketEvent(
            t,
            spec.kind,
            spec.symbol,
            "bookTicker",
            f"{book.lower}@bookTicker",
            _encode(msg),
            parsed,
        )

    def _mark_price(self, book: _SimBook, t: int) -> MarketEvent:
        spec = book.spec
        eight = Decimal("0.00000001")
        mark = Decimal(repr(book.mid_price())).quantize(eight)
        index = Decimal(repr(math.exp(book.under.log_price))).quantize(eight)
        rate = Decimal(repr(max(-0.003, min(0.003, 0.0001 + 0.3 * book.under.basis))))
        rate = rate.quantize(eight)
        due = next_funding_ms(t)
        msg = {
            "e": "markPriceUpdate",
            "E": t,
            "s": spec.symbol,
            "p": format(mark, "f"),
            "i": format(index, "f"),
            "P": format(mark, "f"),
            "r": format(rate, "f"),
            "T": due,
        }
        parsed = MarkPriceMsg(spec.symbol, mark, rate, due, t, index, mark)
        return MarketEvent(
            t,
            spec.kind,
            spec.symbol,
            "markPrice",
            f"{book.lower}@markPrice@1s",
            _encode(msg),
            parsed,
        )
