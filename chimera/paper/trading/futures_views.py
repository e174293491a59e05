"""The JSON shapes of Binance's USDⓈ-M trading and account endpoints."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from chimera.paper.trading import margin
from chimera.paper.trading.futures import MARGIN_ASSET, FuturesEngine
from chimera.paper.trading.model import ZERO, AlgoOrder, Fill, Income, Order
from chimera.paper.trading.numbers import plain_str

MAX_NOTIONAL = "1000000"


def order(o: Order, *, with_time: bool = True) -> dict[str, Any]:
    """Return an order as ``/fapi/v1/order`` answers (RESULT) and lists it."""
    body: dict[str, Any] = {
        "orderId": o.order_id,
        "symbol": o.symbol,
        "status": o.status,
        "clientOrderId": o.client_order_id,
        "price": plain_str(o.price),
        "avgPrice": plain_str(o.avg_price),
        "origQty": plain_str(o.orig_qty),
        "executedQty": plain_str(o.executed_qty),
        "cumQty": plain_str(o.executed_qty),
        "cumQuote": plain_str(o.cum_quote),
        "timeInForce": o.time_in_force,
        "type": o.type,
        "reduceOnly": o.reduce_only,
        "closePosition": o.close_position,
        "side": o.side,
        "positionSide": "BOTH",
        "stopPrice": plain_str(o.stop_price),
        "workingType": o.working_type,
        "priceProtect": False,
        "origType": o.orig_type or o.type,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
        "updateTime": o.update_ms,
    }
    if with_time:
        body["time"] = o.time_ms
    return body


def order_ack(o: Order) -> dict[str, Any]:
    """Return ``POST /fapi/v1/order`` for newOrderRespType ACK (the status at acceptance)."""
    return order(o, with_time=False)


def algo(a: AlgoOrder) -> dict[str, Any]:
    """Return a conditional order as the algo-order endpoints do."""
    return {
        "algoId": a.algo_id,
        "clientAlgoId": a.client_algo_id,
        "algoType": "CONDITIONAL",
        "orderType": a.order_type,
        "symbol": a.symbol,
        "side": a.side,
        "positionSide": "BOTH",
        "timeInForce": a.time_in_force,
        "quantity": plain_str(a.quantity),
        "algoStatus": a.status,
        "actualOrderId": a.actual_order_id,
        "actualPrice": plain_str(a.avg_price),
        "triggerPrice": plain_str(a.trigger_price),
        "price": plain_str(a.price),
        "icebergQuantity": None,
        "tpTriggerPrice": "0",
        "tpPrice": "0",
        "slTriggerPrice": "0",
        "slPrice": "0",
        "tpOrderType": "",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "workingType": a.working_type,
        "priceMatch": "NONE",
        "closePosition": a.close_position,
        "priceProtect": a.price_protect,
        "reduceOnly": a.reduce_only,
        "createTime": a.create_ms,
        "updateTime": a.update_ms,
        "triggerTime": a.trigger_ms,
        "goodTillDate": 0,
    }


def user_trade(f: Fill) -> dict[str, Any]:
    """Return one ``/fapi/v1/userTrades`` entry."""
    return {
        "buyer": f.side == "BUY",
        "commission": plain_str(f.commission),
        "commissionAsset": f.commission_asset,
        "id": f.trade_id,
        "maker": f.maker,
        "orderId": f.order_id,
        "price": plain_str(f.price),
        "qty": plain_str(f.qty),
        "quoteQty": plain_str(f.quote_qty),
        "realizedPnl": plain_str(f.realized_pnl),
        "side": f.side,
        "positionSide": "BOTH",
        "symbol": f.symbol,
        "time": f.time_ms,
    }


def income(entry: Income) -> dict[str, Any]:
    return {
        "symbol": entry.symbol,
        "incomeType": entry.income_type,
        "income": plain_str(entry.income),
        "asset": entry.asset,
        "info": entry.info or entry.income_type,
        "time": entry.time_ms,
        "tranId": entry.tran_id,
        "tradeId": entry.trade_id,
    }


def _position_numbers(engine: FuturesEngine, symbol: str) -> dict[str, Decimal]:
    pos = engine.position(symbol)
    mark = engine.mark(symbol)
    return {
        "amount": pos.amount,
        "mark": mark,
        "notional": pos.amount * mark,
        "unrealized": margin.unrealized(pos, mark),
        "im": margin.initial_margin(pos, mark),
        "mm": margin.maint_margin(pos, mark),
        "open_im": engine.open_order_margin(symbol),
    }


def position_risk(engine: FuturesEngine, symbol: str, *, v2: bool) -> dict[str, Any]:
    """Return one ``positionRisk`` entry (v3 fields + leverage; v2 adds margin type)."""
    pos = engine.position(symbol)
    n = _position_numbers(engine, symbol)
    isolated = pos.margin_type == "isolated"
    iso_margin = n["im"] + n["unrealized"] if isolated and pos.amount else ZERO
    body: dict[str, Any] = {
        "symbol": symbol,
        "positionSide": "BOTH",
        "positionAmt": plain_str(pos.amount),
        "entryPrice": plain_str(pos.entry_price),
        "breakEvenPrice": plain_str(pos.entry_price),
        "markPrice": plain_str(n["mark"]),
        "unRealizedProfit": plain_str(n["unrealized"]),
        "liquidationPrice": plain_str(margin.liquidation_price(pos)),
        "isolatedMargin": plain_str(iso_margin),
        "notional": plain_str(n["notional"]),
        "marginAsset": MARGIN_ASSET,
        "isolatedWallet": plain_str(n["im"] if isolated and pos.amount else ZERO),
        "initialMargin": plain_str(n["im"] + n["open_im"]),
        "maintMargin": plain_str(n["mm"]),
        "positionInitialMargin": plain_str(n["im"]),
        "openOrderInitialMargin": plain_str(n["open_im"]),
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": pos.update_ms,
        # Not in Binance's v3 answer; kept so ccxt can report the position's leverage.
        "leverage": str(pos.leverage),
    }
    if v2:
        body.update(
            {
                "maxNotionalValue": MAX_NOTIONAL,
                "marginType": pos.margin_type,
                "isolated": isolated,
                "isAutoAddMargin": "false",
            }
        )
    return body


def _asset(engine: FuturesEngine) -> dict[str, Any]:
    wallet = engine.wallet
    upnl = engine.unrealized_total()
    pos_im = engine.position_margin_total()
    open_im = engine.open_order_margin()
    maint = sum(
        (margin.maint_margin(p, engine.mark(s)) for s, p in engine.state.positions.items()), ZERO
    )
    available = engine.available()
    return {
        "asset": MARGIN_ASSET,
        "walletBalance": plain_str(wallet),
        "unrealizedProfit": plain_str(upnl),
        "marginBalance": plain_str(wallet + upnl),
        "maintMargin": plain_str(maint),
        "initialMargin": plain_str(pos_im + open_im),
        "positionInitialMargin": plain_str(pos_im),
        "openOrderInitialMargin": plain_str(open_im),
        "crossWalletBalance": plain_str(wallet),
        "crossUnPnl": plain_str(upnl),
        "availableBalance": plain_str(available),
        "maxWithdrawAmount": plain_str(max(ZERO, min(available, wallet))),
        "marginAvailable": True,
        "updateTime": engine.state.update_ms or engine.now(),
    }


def account(engine: FuturesEngine, *, v2: bool) -> dict[str, Any]:
    """Return ``/fapi/v2/account`` or ``/fapi/v3/account``."""
    asset = _asset(engine)
    positions = []
    for symbol in sorted(engine.markets):
        pos = engine.position(symbol)
        if not v2 and pos.amount == ZERO and not engine.open_orders(symbol):
            continue
        n = _position_numbers(engine, symbol)
        entry: dict[str, Any] = {
            "symbol": symbol,
            "positionSide": "BOTH",
            "positionAmt": plain_str(pos.amount),
            "unrealizedProfit": plain_str(n["unrealized"]),
            "isolatedMargin": "0",
            "notional": plain_str(n["notional"]),
            "isolatedWallet": "0",
            "initialMargin": plain_str(n["im"] + n["open_im"]),
            "maintMargin": plain_str(n["mm"]),
            "updateTime": pos.update_ms,
        }
        if v2:
            entry.update(
                {
                    "positionInitialMargin": plain_str(n["im"]),
                    "openOrderInitialMargin": plain_str(n["open_im"]),
                    "leverage": str(pos.leverage),
                    "isolated": pos.margin_type == "isolated",
                    "entryPrice": plain_str(pos.entry_price),
                    "breakEvenPrice": plain_str(pos.entry_price),
                    "maxNotional": MAX_NOTIONAL,
                    "bidNotional": "0",
                    "askNotional": "0",
                }
            )
        positions.append(entry)
    totals = {
        "totalInitialMargin": asset["initialMargin"],
        "totalMaintMargin": asset["maintMargin"],
        "totalWalletBalance": asset["walletBalance"],
        "totalUnrealizedProfit": asset["unrealizedProfit"],
        "totalMarginBalance": asset["marginBalance"],
        "totalPositionInitialMargin": asset["positionInitialMargin"],
        "totalOpenOrderInitialMargin": asset["openOrderInitialMargin"],
        "totalCrossWalletBalance": asset["crossWalletBalance"],
        "totalCrossUnPnl": asset["crossUnPnl"],
        "availableBalance": asset["availableBalance"],
        "maxWithdrawAmount": asset["maxWithdrawAmount"],
    }
    body: dict[str, Any] = dict(totals)
    if v2:
        body.update(
            {
                "feeTier": 0,
                "canTrade": True,
                "canDeposit": True,
                "canWithdraw": True,
                "updateTime": 0,
                "multiAssetsMargin": False,
                "tradeGroupId": -1,
            }
        )
    body["assets"] = [asset]
    body["positions"] = positions
    return body


def balances(engine: FuturesEngine) -> list[dict[str, Any]]:
    """Return ``/fapi/v2/balance`` / ``/fapi/v3/balance``."""
    asset = _asset(engine)
    return [
        {
            "accountAlias": "paper",
            "asset": MARGIN_ASSET,
            "balance": asset["walletBalance"],
            "crossWalletBalance": asset["crossWalletBalance"],
            "crossUnPnl": asset["crossUnPnl"],
            "availableBalance": asset["availableBalance"],
            "maxWithdrawAmount": asset["maxWithdrawAmount"],
            "marginAvailable": True,
            "updateTime": asset["updateTime"],
        }
    ]


def leverage_brackets(engine: FuturesEngine) -> list[dict[str, Any]]:
    """Return ``/fapi/v1/leverageBracket``: one bracket per symbol."""
    return [
        {
            "symbol": symbol,
            "notionalCoef": 1.0,
            "brackets": [
                {
                    "bracket": 1,
                    "initialLeverage": 125,
                    "notionalCap": int(MAX_NOTIONAL),
                    "notionalFloor": 0,
                    "maintMarginRatio": float(margin.MAINT_RATE),
                    "cum": 0.0,
                }
            ],
        }
        for symbol in sorted(engine.markets)
    ]
