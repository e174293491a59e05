"""Signed USDⓈ-M endpoints (``/fapi/v1..v3``), exactly as ccxt's ``binanceusdm`` calls them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from chimera.paper.server.account_history import (
    history_limit,
    in_window,
    symbol_fills,
    symbol_orders,
)
from chimera.paper.server.auth import signed
from chimera.paper.server.listen_keys import METHODS, listen_key_handler
from chimera.paper.trading import errors, futures_views
from chimera.paper.trading.model import ZERO
from chimera.paper.trading.requests import AlgoOrderRequest, OrderRequest, Params

if TYPE_CHECKING:
    from chimera.paper.trading.plugin import PaperTrading

CANCEL_ALL_DONE = {"code": 200, "msg": "The operation of cancel all open order is done."}


def add_routes(app: web.Application, trading: PaperTrading) -> None:
    """Register the signed futures REST routes (orders, algo orders, account, settings)."""
    venue = trading.venue
    fut = venue.futures
    algos = venue.algos

    def symbol_of(p: Params) -> str:
        symbol = p.text("symbol").upper()
        fut.spec(symbol)
        return symbol

    def new_order(p: Params) -> dict[str, Any]:
        return futures_views.order(fut.place(OrderRequest.parse(p, futures=True)))

    def lookup(p: Params) -> tuple[str, int | None, str | None]:
        return symbol_of(p), p.opt_int("orderId"), p.opt_text("origClientOrderId")

    def query_order(p: Params) -> dict[str, Any]:
        order = fut.find(*lookup(p))
        if order is None:
            raise errors.order_does_not_exist()
        return futures_views.order(order)

    def query_open_order(p: Params) -> dict[str, Any]:
        order = fut.find(*lookup(p))
        if order is None or not order.is_open:
            raise errors.TradingError(-2013, "Order does not exist.")
        return futures_views.order(order)

    def cancel_order(p: Params) -> dict[str, Any]:
        return futures_views.order(fut.cancel(*lookup(p)))

    def cancel_all(p: Params) -> dict[str, Any]:
        fut.cancel_all(symbol_of(p))
        return CANCEL_ALL_DONE

    def open_orders(p: Params) -> list[dict[str, Any]]:
        symbol = p.opt_text("symbol")
        return [futures_views.order(o) for o in fut.open_orders(symbol.upper() if symbol else None)]

    def all_orders(p: Params) -> list[dict[str, Any]]:
        orders = symbol_orders(p, fut.state.orders.values(), symbol_of(p))
        return [futures_views.order(o) for o in orders[-history_limit(p, 500, 1000) :]]

    def user_trades(p: Params) -> list[dict[str, Any]]:
        fills = symbol_fills(p, fut.state.fills, symbol_of(p))
        return [futures_views.user_trade(f) for f in fills[-history_limit(p, 500, 1000) :]]

    def account(v2: bool) -> Any:
        return lambda p: futures_views.account(fut, v2=v2)

    def balance(p: Params) -> list[dict[str, Any]]:
        return futures_views.balances(fut)

    def position_risk(v2: bool) -> Any:
        def handler(p: Params) -> list[dict[str, Any]]:
            symbol = p.opt_text("symbol")
            symbols = [symbol.upper()] if symbol else sorted(fut.markets)
            for s in symbols:
                fut.spec(s)
            return [
                futures_views.position_risk(fut, s, v2=v2)
                for s in symbols
                if v2 or fut.position(s).amount != ZERO or fut.open_orders(s)
            ]

        return handler

    def leverage(p: Params) -> dict[str, Any]:
        lev = p.opt_int("leverage")
        if lev is None:
            raise errors.mandatory("leverage")
        pos = fut.set_leverage(symbol_of(p), lev)
        return {
            "leverage": pos.leverage,
            "maxNotionalValue": futures_views.MAX_NOTIONAL,
            "symbol": pos.symbol,
        }

    def margin_type(p: Params) -> dict[str, Any]:
        fut.set_margin_type(symbol_of(p), p.text("marginType"))
        return {"code": 200, "msg": "success"}

    def get_dual(p: Params) -> dict[str, Any]:
        return {"dualSidePosition": False}

    def set_dual(p: Params) -> dict[str, Any]:
        if p.flag("dualSidePosition"):
            raise errors.TradingError(-4061, "Hedge mode is not supported by the paper venue.")
        raise errors.TradingError(-4059, "No need to change position side.")

    def income(p: Params) -> list[dict[str, Any]]:
        symbol = p.opt_text("symbol")
        kind = p.opt_text("incomeType")
        entries = [
            e
            for e in fut.state.income
            if (symbol is None or e.symbol == symbol.upper())
            and (kind is None or e.income_type == kind.upper())
        ]
        entries = in_window(p, entries, lambda e: e.time_ms)
        return [futures_views.income(e) for e in entries[: history_limit(p, 100, 1000)]]

    def commission_rate(p: Params) -> dict[str, Any]:
        spec = fut.spec(symbol_of(p))
        return {
            "symbol": spec.symbol,
            "makerCommissionRate": str(spec.maker_fee),
            "takerCommissionRate": str(spec.taker_fee),
        }

    def brackets(p: Params) -> list[dict[str, Any]]:
        return futures_views.leverage_brackets(fut)

    # --- algo (conditional) orders -------------------------------------------------------------
    def new_algo(p: Params) -> dict[str, Any]:
        return futures_views.algo(algos.place(AlgoOrderRequest.parse(p)))

    def query_algo(p: Params) -> dict[str, Any]:
        algo = algos.find(p.opt_int("algoId"), p.opt_text("clientAlgoId"))
        if algo is None:
            raise errors.order_does_not_exist()
        return futures_views.algo(algo)

    def cancel_algo(p: Params) -> dict[str, Any]:
        algo = algos.cancel(p.opt_int("algoId"), p.opt_text("clientAlgoId"))
        return {
            "algoId": algo.algo_id,
            "clientAlgoId": algo.client_algo_id,
            "code": "200",
            "msg": "success",
        }

    def open_algos(p: Params) -> list[dict[str, Any]]:
        symbol = p.opt_text("symbol")
        return [
            futures_views.algo(a) for a in algos.open_orders(symbol.upper() if symbol else None)
        ]

    def all_algos(p: Params) -> list[dict[str, Any]]:
        found = in_window(p, algos.all_orders(symbol_of(p)), lambda a: a.create_ms)
        return [futures_views.algo(a) for a in found[-history_limit(p, 500, 1000) :]]

    def cancel_all_algos(p: Params) -> dict[str, Any]:
        algos.cancel_all(symbol_of(p))
        return CANCEL_ALL_DONE

    key, secret, wait = trading.config.api_key, trading.config.secret, trading.latency.wait
    r = app.router
    r.add_post("/fapi/v1/order", signed(key, secret, new_order, wait))
    r.add_get("/fapi/v1/order", signed(key, secret, query_order))
    r.add_delete("/fapi/v1/order", signed(key, secret, cancel_order, wait))
    r.add_get("/fapi/v1/openOrder", signed(key, secret, query_open_order))
    r.add_get("/fapi/v1/openOrders", signed(key, secret, open_orders))
    r.add_delete("/fapi/v1/allOpenOrders", signed(key, secret, cancel_all, wait))
    r.add_get("/fapi/v1/allOrders", signed(key, secret, all_orders))
    r.add_get("/fapi/v1/userTrades", signed(key, secret, user_trades))
    for version in ("v2", "v3"):
        r.add_get(f"/fapi/{version}/account", signed(key, secret, account(version == "v2")))
        r.add_get(f"/fapi/{version}/balance", signed(key, secret, balance))
        r.add_get(
            f"/fapi/{version}/positionRisk", signed(key, secret, position_risk(version == "v2"))
        )
    r.add_post("/fapi/v1/leverage", signed(key, secret, leverage))
    r.add_post("/fapi/v1/marginType", signed(key, secret, margin_type))
    r.add_get("/fapi/v1/positionSide/dual", signed(key, secret, get_dual))
    r.add_post("/fapi/v1/positionSide/dual", signed(key, secret, set_dual))
    r.add_get("/fapi/v1/income", signed(key, secret, income))
    r.add_get("/fapi/v1/commissionRate", signed(key, secret, commission_rate))
    r.add_get("/fapi/v1/leverageBracket", signed(key, secret, brackets))
    r.add_post("/fapi/v1/algoOrder", signed(key, secret, new_algo, wait))
    r.add_get("/fapi/v1/algoOrder", signed(key, secret, query_algo))
    r.add_delete("/fapi/v1/algoOrder", signed(key, secret, cancel_algo, wait))
    r.add_get("/fapi/v1/openAlgoOrders", signed(key, secret, open_algos))
    r.add_get("/fapi/v1/allAlgoOrders", signed(key, secret, all_algos))
    r.add_delete("/fapi/v1/algoOpenOrders", signed(key, secret, cancel_all_algos, wait))

    listen_key = listen_key_handler(trading, key, "perp", named=False)
    for method in METHODS:
        r.add_route(method, "/fapi/v1/listenKey", listen_key)
