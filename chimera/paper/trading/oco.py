"""Spot OCO order lists: ``POST /api/v3/orderList/oco`` and the legacy ``/api/v3/order/oco``.

Both legs are validated before anything is stored. The list locks its funds once (on one leg);
when a leg starts working (its stop fires or it gets a fill) it takes the list's locked funds and
the other leg expires, as on Binance; cancelling either leg cancels the list.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from chimera.paper.trading import errors, spot_views
from chimera.paper.trading.matching import crosses, queue_at
from chimera.paper.trading.model import Order, OrderList, Side
from chimera.paper.trading.requests import OrderRequest, Params
from chimera.paper.trading.spot import LIMIT_TYPES, STOP_TYPES, SpotEngine

ABOVE_SELL = frozenset({"LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
BELOW_SELL = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT"})


class OcoRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A validated OCO: its two legs and the list's client id."""

    symbol: str
    side: Side
    legs: tuple[OrderRequest, OrderRequest]
    list_client_order_id: str | None

    @classmethod
    def parse(cls, params: Params) -> OcoRequest:
        """Read ``orderList/oco`` parameters (above*/below* legs)."""
        symbol = params.text("symbol").upper()
        side = params.side()
        qty = params.decimal("quantity")
        legs = []
        for leg in ("above", "below"):
            legs.append(
                OrderRequest(
                    symbol=symbol,
                    side=side,
                    type=params.text(f"{leg}Type").upper(),
                    quantity=qty,
                    price=params.opt_decimal(f"{leg}Price"),
                    stop_price=params.opt_decimal(f"{leg}StopPrice"),
                    time_in_force=(params.opt_text(f"{leg}TimeInForce") or "").upper() or None,
                    client_order_id=params.opt_text(f"{leg}ClientOrderId"),
                )
            )
        above, below = legs
        allowed_above, allowed_below = (
            (ABOVE_SELL, BELOW_SELL) if side == "SELL" else (BELOW_SELL, ABOVE_SELL)
        )
        if above.type not in allowed_above or below.type not in allowed_below:
            raise errors.TradingError(-1014, "Unsupported order combination.")
        return cls(
            symbol=symbol,
            side=side,
            legs=(above, below),
            list_client_order_id=params.opt_text("listClientOrderId"),
        )

    @classmethod
    def parse_legacy(cls, params: Params) -> OcoRequest:
        """Read legacy ``order/oco`` parameters (a LIMIT_MAKER leg and a stop leg)."""
        symbol = params.text("symbol").upper()
        side = params.side()
        qty = params.decimal("quantity")
        stop_limit = params.opt_decimal("stopLimitPrice")
        limit_leg = OrderRequest(
            symbol=symbol,
            side=side,
            type="LIMIT_MAKER",
            quantity=qty,
            price=params.decimal("price"),
            client_order_id=params.opt_text("limitClientOrderId"),
        )
        stop_leg = OrderRequest(
            symbol=symbol,
            side=side,
            type="STOP_LOSS_LIMIT" if stop_limit is not None else "STOP_LOSS",
            quantity=qty,
            price=stop_limit,
            stop_price=params.decimal("stopPrice"),
            time_in_force=(params.opt_text("stopLimitTimeInForce") or "").upper() or None,
            client_order_id=params.opt_text("stopClientOrderId"),
        )
        legs = (limit_leg, stop_leg) if side == "SELL" else (stop_leg, limit_leg)
        return cls(
            symbol=symbol,
            side=side,
            legs=legs,
            list_client_order_id=params.opt_text("listClientOrderId"),
        )


def place_oco(engine: SpotEngine, req: OcoRequest) -> tuple[OrderList, list[Order]]:
    """Validate both legs, lock the list's funds once, rest both legs."""
    spec = engine.spec(req.symbol)
    open_ids = {o.client_order_id for o in engine.open_orders(spec.symbol)}
    for leg in req.legs:
        if leg.client_order_id and leg.client_order_id in open_ids:
            raise errors.spot_duplicate_order()
    list_id = engine.counters.next("order_list")
    orders = [engine.new_order(spec, leg, list_id) for leg in req.legs]
    book = engine.market.book("spot", spec.symbol)
    last = engine.reference_price(spec.symbol)
    for order in orders:
        if order.type == "LIMIT_MAKER" and crosses(book, order.is_buy, order.price):
            raise errors.spot_would_take()
        if order.type in STOP_TYPES and last is not None and engine.stop_fires(order, last):
            raise errors.spot_stop_would_trigger()
    basis = max(orders, key=lambda o: o.price or o.stop_price)
    engine.lock_funds(basis, spec, _basis_price(basis))
    now = engine.now()
    entry = OrderList(
        order_list_id=list_id,
        list_client_order_id=req.list_client_order_id or f"paper-list-{list_id}",
        symbol=spec.symbol,
        order_ids=[o.order_id for o in orders],
        time_ms=now,
    )
    engine.state.order_lists[list_id] = entry
    for order in orders:
        if order.type in LIMIT_TYPES:
            order.working_ms = now
            order.queue_ahead = queue_at(book, order.is_buy, order.price)
        engine.rest(order)
        engine.report(order, None, "NEW")
    engine.sink.emit("spot", spot_views.list_status(entry, orders, now))
    return entry, orders


def _basis_price(order: Order) -> Decimal:
    return order.price or order.stop_price


def open_lists(engine: SpotEngine) -> list[OrderList]:
    return [e for e in engine.state.order_lists.values() if e.list_order_status != "ALL_DONE"]


def cancel_list(
    engine: SpotEngine, symbol: str, list_id: int | None, client_id: str | None
) -> OrderList:
    """Cancel a whole OCO (``DELETE /api/v3/orderList``)."""
    engine.spec(symbol)
    entry = None
    for candidate in engine.state.order_lists.values():
        if candidate.symbol == symbol and (
            candidate.order_list_id == list_id
            or (list_id is None and candidate.list_client_order_id == client_id)
        ):
            entry = candidate
    if entry is None or entry.list_order_status == "ALL_DONE":
        raise errors.TradingError(-2011, "Order list does not exist.")
    for leg in engine.list_legs(entry.order_list_id):
        if leg.is_open:
            engine.finish(leg, "CANCELED")
    engine.close_list(entry.order_list_id)
    return entry
