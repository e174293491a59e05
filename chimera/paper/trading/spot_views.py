"""The JSON shapes of Binance's spot trading endpoints and user-data events."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from chimera.paper.trading.model import Balance, Fill, Order, OrderList
from chimera.paper.trading.numbers import spot_str


def _common(order: Order) -> dict[str, Any]:
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": order.order_list_id,
        "clientOrderId": order.client_order_id,
        "price": spot_str(order.price),
        "origQty": spot_str(order.orig_qty),
        "executedQty": spot_str(order.executed_qty),
        "origQuoteOrderQty": spot_str(order.orig_quote_qty),
        "cummulativeQuoteQty": spot_str(order.cum_quote),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
    }


def _stop(order: Order, body: dict[str, Any]) -> dict[str, Any]:
    if order.stop_price:
        body["stopPrice"] = spot_str(order.stop_price)
    return body


def fill_entry(fill: Fill) -> dict[str, Any]:
    return {
        "price": spot_str(fill.price),
        "qty": spot_str(fill.qty),
        "commission": spot_str(fill.commission),
        "commissionAsset": fill.commission_asset,
        "tradeId": fill.trade_id,
    }


def order_ack(order: Order, fills: list[Fill], resp_type: str) -> dict[str, Any]:
    """Return ``POST /api/v3/order`` for ``newOrderRespType`` ACK, RESULT or FULL."""
    if resp_type == "ACK":
        return {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderListId": order.order_list_id,
            "clientOrderId": order.client_order_id,
            "transactTime": order.time_ms,
        }
    body = _common(order)
    body["transactTime"] = order.time_ms
    body["workingTime"] = order.working_ms
    body["selfTradePreventionMode"] = "EXPIRE_MAKER"
    _stop(order, body)
    if resp_type == "FULL":
        body["fills"] = [fill_entry(f) for f in fills]
    return body


def order_query(order: Order) -> dict[str, Any]:
    """Return one order as ``GET /api/v3/order`` / ``openOrders`` / ``allOrders`` do."""
    body = _common(order)
    body["stopPrice"] = spot_str(order.stop_price)
    body["icebergQty"] = "0.00000000"
    body["time"] = order.time_ms
    body["updateTime"] = order.update_ms
    body["isWorking"] = order.working_ms != -1
    body["workingTime"] = order.working_ms
    body["selfTradePreventionMode"] = "EXPIRE_MAKER"
    return body


def order_canceled(order: Order, cancel_client_id: str) -> dict[str, Any]:
    """Return ``DELETE /api/v3/order``: the order, with the cancel request's client id."""
    body = _common(order)
    body["origClientOrderId"] = order.client_order_id
    body["clientOrderId"] = cancel_client_id
    body["transactTime"] = order.update_ms
    body["selfTradePreventionMode"] = "EXPIRE_MAKER"
    return _stop(order, body)


def my_trade(fill: Fill) -> dict[str, Any]:
    """Return one ``GET /api/v3/myTrades`` entry."""
    return {
        "symbol": fill.symbol,
        "id": fill.trade_id,
        "orderId": fill.order_id,
        "orderListId": fill.order_list_id,
        "price": spot_str(fill.price),
        "qty": spot_str(fill.qty),
        "quoteQty": spot_str(fill.quote_qty),
        "commission": spot_str(fill.commission),
        "commissionAsset": fill.commission_asset,
        "time": fill.time_ms,
        "isBuyer": fill.side == "BUY",
        "isMaker": fill.maker,
        "isBestMatch": True,
    }


def account(balances: dict[str, Balance], update_ms: int, fee_bps: int) -> dict[str, Any]:
    """Return ``GET /api/v3/account``."""
    return {
        "makerCommission": fee_bps,
        "takerCommission": fee_bps,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": spot_str(Decimal(fee_bps) / 10000),
            "taker": spot_str(Decimal(fee_bps) / 10000),
            "buyer": "0.00000000",
            "seller": "0.00000000",
        },
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": update_ms,
        "accountType": "SPOT",
        "balances": [
            {"asset": asset, "free": spot_str(b.free), "locked": spot_str(b.locked)}
            for asset, b in sorted(balances.items())
        ],
        "permissions": ["SPOT"],
        "uid": 1,
    }


def order_list(entry: OrderList, orders: list[Order], reports: bool, now_ms: int) -> dict[str, Any]:
    """Return an OCO as ``POST /api/v3/orderList/oco`` (with reports) or ``openOrderList``."""
    body: dict[str, Any] = {
        "orderListId": entry.order_list_id,
        "contingencyType": "OCO",
        "listStatusType": entry.list_status_type,
        "listOrderStatus": entry.list_order_status,
        "listClientOrderId": entry.list_client_order_id,
        "transactionTime": now_ms,
        "symbol": entry.symbol,
        "orders": [
            {"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_order_id}
            for o in orders
        ],
    }
    if reports:
        body["orderReports"] = [order_ack(o, [], "RESULT") for o in orders]
    return body


def execution_report(
    order: Order, fill: Fill | None, exec_type: str, now_ms: int
) -> dict[str, Any]:
    """Return the user-data ``executionReport`` for one order change."""
    return {
        "e": "executionReport",
        "E": now_ms,
        "s": order.symbol,
        "c": order.client_order_id,
        "S": order.side,
        "o": order.type,
        "f": order.time_in_force,
        "q": spot_str(order.orig_qty),
        "p": spot_str(order.price),
        "P": spot_str(order.stop_price),
        "F": "0.00000000",
        "g": order.order_list_id,
        "C": "",
        "x": exec_type,
        "X": order.status,
        "r": "NONE",
        "i": order.order_id,
        "l": spot_str(fill.qty) if fill else "0.00000000",
        "z": spot_str(order.executed_qty),
        "L": spot_str(fill.price) if fill else "0.00000000",
        "n": spot_str(fill.commission) if fill else "0",
        "N": fill.commission_asset if fill else None,
        "T": fill.time_ms if fill else now_ms,
        "t": fill.trade_id if fill else -1,
        "w": order.is_open and order.working_ms != -1,
        "m": fill.maker if fill else False,
        "O": order.time_ms,
        "Z": spot_str(order.cum_quote),
        "Y": spot_str(fill.quote_qty) if fill else "0.00000000",
        "Q": spot_str(order.orig_quote_qty),
        "W": order.working_ms,
        "V": "EXPIRE_MAKER",
    }


def account_position(
    balances: dict[str, Balance], assets: list[str], now_ms: int
) -> dict[str, Any]:
    """Return the user-data ``outboundAccountPosition`` for the assets that changed."""
    return {
        "e": "outboundAccountPosition",
        "E": now_ms,
        "u": now_ms,
        "B": [
            {"a": a, "f": spot_str(balances[a].free), "l": spot_str(balances[a].locked)}
            for a in assets
            if a in balances
        ],
    }


def list_status(entry: OrderList, orders: list[Order], now_ms: int) -> dict[str, Any]:
    """Return the user-data ``listStatus`` event of an OCO."""
    return {
        "e": "listStatus",
        "E": now_ms,
        "s": entry.symbol,
        "g": entry.order_list_id,
        "c": "OCO",
        "l": entry.list_status_type,
        "L": entry.list_order_status,
        "r": "NONE",
        "C": entry.list_client_order_id,
        "T": now_ms,
        "O": [{"s": o.symbol, "i": o.order_id, "c": o.client_order_id} for o in orders],
    }
