"""Run ccxt's own exchange tests (shipped in the installed ccxt package) against the venue.

``test_fetch_balance``, ``test_fetch_open_orders``, ``test_fetch_positions``,
``test_fetch_my_trades``, ``test_fetch_orders``, ``test_fetch_closed_orders`` run as shipped.
``test_create_order`` is ccxt's generated Python, which cannot run as shipped (upstream gates it
behind ``--fundedTests``): it uses ``math``/``time``/``Error`` without importing them, joins floats
to strings and indexes the exchange like a dict in debug messages, awaits two synchronous helpers
of ``test_shared_methods`` that call the exchange without ``await``, and asks ccxt's Python
``decimal_to_precision`` for ROUND_UP, which that port does not implement. ``create_order_suite``
runs its scenarios (``tco_create_unfillable_order`` / ``tco_create_fillable_order`` with all their
assertions) with exactly those defects patched: the missing names provided, ``tco_debug`` silent,
the two helpers replaced by awaiting ports, ``tco_create_order_safe`` without its debug line, and
``tco_get_minimum_amount_for_limit_price`` rounding up to the amount step itself.
"""

from __future__ import annotations

import importlib
import math
import time
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest
from ccxt.test.exchange.base import test_order as validate_order
from ccxt.test.exchange.base import test_shared_methods

SAFETY = 1.045  # ccxt's limit_price_safety_multiplier_from_median


def ccxt_test(name: str) -> Any:
    """Return ccxt's ``test_<name>`` coroutine function from its installed test package."""
    module = importlib.import_module(f"ccxt.test.exchange.async.test_{name}")
    return getattr(module, f"test_{name}")


class _AwaitingShared:
    """``test_shared_methods`` with its two exchange-calling helpers awaiting the exchange."""

    def __getattr__(self, name: str) -> Any:
        return getattr(test_shared_methods, name)

    @staticmethod
    async def fetch_best_bid_ask(exchange: Any, method: str, symbol: str) -> list[float]:
        book = await exchange.fetch_order_book(symbol)
        return [book["bids"][0][0], book["asks"][0][0]]

    @staticmethod
    async def fetch_order(exchange: Any, symbol: str, order_id: str, skipped: Any) -> Any:
        order = await exchange.fetch_order(order_id, symbol)
        return order if order["id"] == order_id else None


def _patched_create_order_module(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = importlib.import_module("ccxt.test.exchange.async.test_create_order")
    monkeypatch.setattr(module, "test_shared_methods", _AwaitingShared())
    monkeypatch.setattr(module, "math", math, raising=False)
    monkeypatch.setattr(module, "time", time, raising=False)
    monkeypatch.setattr(module, "Error", Exception, raising=False)

    async def create_order_safe(
        exchange: Any,
        symbol: str,
        order_type: str,
        side: str,
        amount: float,
        price: float | None = None,
        params: Any = None,
        skipped: Any = None,
    ) -> Any:
        skipped = skipped or {}
        order = await exchange.create_order(symbol, order_type, side, amount, price, params or {})
        try:
            validate_order(exchange, skipped, "createOrder", order, symbol, int(time.time() * 1000))
        except Exception:
            if order_type != "market":
                await module.tco_try_cancel_order(exchange, symbol, order, skipped)
            raise
        return order

    def minimum_amount(exchange: Any, market: Any, price: float, predefined: Any = None) -> float:
        amount = module.tco_mininum_amount(exchange, market)
        cost = module.tco_mininum_cost(exchange, market)
        if cost is not None and amount * price < cost:
            amount = cost / price
        if predefined is not None:
            amount = max(amount, predefined)
        step = market["precision"]["amount"]
        amount = (amount + step) * 1.1
        steps = math.ceil(Decimal(str(amount)) / Decimal(str(step)))
        return float(steps * Decimal(str(step)))

    monkeypatch.setattr(module, "tco_create_order_safe", create_order_safe)
    monkeypatch.setattr(module, "tco_debug", lambda exchange, symbol, message: True)
    monkeypatch.setattr(module, "tco_get_minimum_amount_for_limit_price", minimum_amount)
    return module


async def create_order_suite(
    exchange: Any, symbol: str, monkeypatch: pytest.MonkeyPatch, skipped: Any = None
) -> None:
    """Run ccxt's ``test_create_order`` scenarios 1 (unfillable) and 2 (fillable + close)."""
    skipped = skipped or {}
    module = _patched_create_order_module(monkeypatch)
    market = exchange.market(symbol)
    balance = await exchange.fetch_balance()
    assert balance[market["quote"]]["free"] is not None
    best_bid, best_ask = await _AwaitingShared.fetch_best_bid_ask(exchange, "createOrder", symbol)
    prefix = test_shared_methods.log_template(exchange, "createOrder", [symbol])
    sides = ["buy", "sell"] if market["swap"] else ["buy"]
    for side in sides:
        await module.tco_create_unfillable_order(
            exchange, market, prefix, skipped, best_bid, best_ask, SAFETY, side
        )
    for side in sides:
        await module.tco_create_fillable_order(
            exchange, market, prefix, skipped, best_bid, best_ask, SAFETY, side
        )
