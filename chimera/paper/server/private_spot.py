"""Signed spot endpoints (``/api/v3``), exactly as ccxt's ``binance`` calls them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from chimera.paper.server.account_history import history_limit, symbol_fills, symbol_orders
from chimera.paper.server.auth import signed
from chimera.paper.server.listen_keys import METHODS, listen_key_handler
from chimera.paper.trading import errors, filters, oco, spot_views
from chimera.paper.trading.requests import OrderRequest, Params

if TYPE_CHECKING:
    from chimera.paper.trading.plugin import PaperTrading

DEFAULT_LIMIT, MAX_LIMIT = 500, 1000


def _limit(params: Params) -> int:
    return history_limit(params, DEFAULT_LIMIT, MAX_LIMIT)


def add_routes(app: web.Application, trading: PaperTrading) -> None:
    """Register the signed spot REST routes."""
    venue = trading.venue
    spot = venue.spot

    def new_order(p: Params) -> dict[str, Any]:
        req = OrderRequest.parse(p, futures=False)
        order, fills = spot.place(req)
        default = "FULL" if req.type in ("MARKET", "LIMIT") else "ACK"
        resp_type = p.opt_text("newOrderRespType") or default
        return spot_views.order_ack(order, fills, resp_type.upper())

    def test_order(p: Params) -> dict[str, Any]:
        req = OrderRequest.parse(p, futures=False)
        spec = spot.spec(req.symbol)
        if req.quantity is not None:
            filters.check_quantity(spec, req.quantity)
        if req.price is not None:
            filters.check_price(spec, req.price)
        return {}

    def _lookup(p: Params) -> tuple[str, int | None, str | None]:
        return p.text("symbol").upper(), p.opt_int("orderId"), p.opt_text("origClientOrderId")

    def query_order(p: Params) -> dict[str, Any]:
        order = spot.find(*_lookup(p))
        if order is None:
            raise errors.order_does_not_exist()
        return spot_views.order_query(order)

    def cancel_order(p: Params) -> dict[str, Any]:
        order = spot.cancel(*_lookup(p))
        return spot_views.order_canceled(
            order, p.opt_text("newClientOrderId") or order.client_order_id
        )

    def open_orders(p: Params) -> list[dict[str, Any]]:
        symbol = p.opt_text("symbol")
        return [
            spot_views.order_query(o) for o in spot.open_orders(symbol.upper() if symbol else None)
        ]

    def cancel_open(p: Params) -> list[dict[str, Any]]:
        canceled = spot.cancel_all(p.text("symbol").upper())
        if not canceled:
            raise errors.unknown_order_cancel()
        return [spot_views.order_canceled(o, o.client_order_id) for o in canceled]

    def all_orders(p: Params) -> list[dict[str, Any]]:
        symbol = p.text("symbol").upper()
        spot.spec(symbol)
        orders = symbol_orders(p, spot.state.orders.values(), symbol)
        return [spot_views.order_query(o) for o in orders[: _limit(p)]]

    def my_trades(p: Params) -> list[dict[str, Any]]:
        symbol = p.text("symbol").upper()
        spot.spec(symbol)
        fills = symbol_fills(p, spot.state.fills, symbol)
        return [spot_views.my_trade(f) for f in fills[: _limit(p)]]

    def account(p: Params) -> dict[str, Any]:
        return spot_views.account(spot.state.balances, venue.now(), 10)

    def new_oco(p: Params) -> dict[str, Any]:
        entry, orders = oco.place_oco(spot, oco.OcoRequest.parse(p))
        return spot_views.order_list(entry, orders, True, venue.now())

    def new_legacy_oco(p: Params) -> dict[str, Any]:
        entry, orders = oco.place_oco(spot, oco.OcoRequest.parse_legacy(p))
        return spot_views.order_list(entry, orders, True, venue.now())

    def open_order_lists(p: Params) -> list[dict[str, Any]]:
        return [
            spot_views.order_list(e, spot.list_legs(e.order_list_id), False, venue.now())
            for e in oco.open_lists(spot)
        ]

    def query_order_list(p: Params) -> dict[str, Any]:
        list_id = p.opt_int("orderListId")
        client_id = p.opt_text("origClientOrderId")
        for entry in spot.state.order_lists.values():
            if entry.order_list_id == list_id or (
                list_id is None and entry.list_client_order_id == client_id
            ):
                return spot_views.order_list(
                    entry, spot.list_legs(entry.order_list_id), False, venue.now()
                )
        raise errors.TradingError(-2011, "Order list does not exist.")

    def cancel_order_list(p: Params) -> dict[str, Any]:
        symbol = p.text("symbol").upper()
        entry = oco.cancel_list(
            spot, symbol, p.opt_int("orderListId"), p.opt_text("listClientOrderId")
        )
        legs = spot.list_legs(entry.order_list_id)
        body = spot_views.order_list(entry, legs, False, venue.now())
        body["orderReports"] = [spot_views.order_canceled(o, o.client_order_id) for o in legs]
        return body

    key, secret, wait = trading.config.api_key, trading.config.secret, trading.latency.wait
    r = app.router
    r.add_post("/api/v3/order", signed(key, secret, new_order, wait))
    r.add_post("/api/v3/order/test", signed(key, secret, test_order, wait))
    r.add_get("/api/v3/order", signed(key, secret, query_order))
    r.add_delete("/api/v3/order", signed(key, secret, cancel_order, wait))
    r.add_get("/api/v3/openOrders", signed(key, secret, open_orders))
    r.add_delete("/api/v3/openOrders", signed(key, secret, cancel_open, wait))
    r.add_get("/api/v3/allOrders", signed(key, secret, all_orders))
    r.add_get("/api/v3/myTrades", signed(key, secret, my_trades))
    r.add_get("/api/v3/account", signed(key, secret, account))
    r.add_post("/api/v3/orderList/oco", signed(key, secret, new_oco, wait))
    r.add_post("/api/v3/order/oco", signed(key, secret, new_legacy_oco, wait))
    r.add_get("/api/v3/openOrderList", signed(key, secret, open_order_lists))
    r.add_get("/api/v3/orderList", signed(key, secret, query_order_list))
    r.add_delete("/api/v3/orderList", signed(key, secret, cancel_order_list, wait))

    user_data_stream = listen_key_handler(trading, key, "spot", named=True)
    for method in METHODS:
        r.add_route(method, "/api/v3/userDataStream", user_data_stream)
