"""Read the signed history endpoints' common parameters: ``limit``, the time window, id floors."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from chimera.paper.trading import errors
from chimera.paper.trading.model import Fill, Order
from chimera.paper.trading.requests import Params

Item = TypeVar("Item")


def history_limit(params: Params, default: int, maximum: int) -> int:
    """Return ``limit``: ``default`` when absent or 0, capped at ``maximum``; refuse one < 0."""
    limit = params.opt_int("limit") or default
    if limit < 1:
        raise errors.TradingError(-1130, "Invalid limit.")
    return min(limit, maximum)


def in_window(params: Params, items: list[Item], time_of: Callable[[Item], int]) -> list[Item]:
    """Keep the items whose time lies within ``startTime`` .. ``endTime`` (both optional)."""
    start, end = params.opt_int("startTime"), params.opt_int("endTime")
    if start is not None:
        items = [i for i in items if time_of(i) >= start]
    if end is not None:
        items = [i for i in items if time_of(i) <= end]
    return items


def symbol_orders(params: Params, orders: Iterable[Order], symbol: str) -> list[Order]:
    """Return ``symbol``'s orders from ``orderId`` on, within the time window, by order id."""
    from_id = params.opt_int("orderId") or 0
    found = [o for o in orders if o.symbol == symbol and o.order_id >= from_id]
    found = in_window(params, found, lambda o: o.time_ms)
    found.sort(key=lambda o: o.order_id)
    return found


def symbol_fills(params: Params, fills: Iterable[Fill], symbol: str) -> list[Fill]:
    """Return ``symbol``'s fills from ``fromId`` on (of ``orderId`` if given), within the window."""
    order_id, from_id = params.opt_int("orderId"), params.opt_int("fromId") or 0
    found = [
        f
        for f in fills
        if f.symbol == symbol
        and f.trade_id >= from_id
        and (order_id is None or f.order_id == order_id)
    ]
    return in_window(params, found, lambda f: f.time_ms)
