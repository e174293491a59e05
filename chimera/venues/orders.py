"""Order operations every service needs on a ccxt Binance exchange (spot or USDⓈ-M), exactly.

Binance keeps futures stop / take-profit orders on a separate algo-order endpoint, so "the open
orders of a symbol" are two lists on ``binanceusdm``; ``open_orders``, ``cancel_all`` and
``find_order`` always cover both. Orders come back as ``VenueOrder``: parsed from Binance's own
response strings (``info``) into ``Decimal``, never from ccxt's float fields.

``find_order`` is how an uncertain send is resolved: it looks the order up by client order id
and returns ``None`` only when the venue says no such order exists (ccxt's ``OrderNotFound``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import ccxt
import msgspec

from chimera.domain.orders import OrderStatus, Side
from chimera.venues.ccxt_factory import Exchange

ConditionalKind = Literal["STOP_MARKET", "TAKE_PROFIT_MARKET"]
ZERO = Decimal(0)

# Binance order statuses → ours; algo-order statuses (NEW, TRIGGERED, FINISHED, ...) included.
_STATUS: dict[str, OrderStatus] = {
    "NEW": "NEW",
    "PARTIALLY_FILLED": "PARTIALLY_FILLED",
    "FILLED": "FILLED",
    "CANCELED": "CANCELED",
    "CANCELLED": "CANCELED",
    "PENDING_CANCEL": "NEW",
    "REJECTED": "REJECTED",
    "EXPIRED": "EXPIRED",
    "EXPIRED_IN_MATCH": "EXPIRED",
    # An algo order that triggered has become a regular order (actualOrderId); the leg is done.
    "TRIGGERED": "FILLED",
    "FINISHED": "FILLED",
}


class VenueFill(msgspec.Struct, frozen=True):
    """One execution of an order, as the venue reports it."""

    trade_id: str
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    is_maker: bool
    ts_ms: int


class VenueOrder(msgspec.Struct, frozen=True):
    """An order as the venue last reported it (regular or conditional)."""

    venue_order_id: str
    client_order_id: str
    symbol: str  # the venue's id, e.g. BTCUSDT
    side: Side
    order_type: str  # Binance's type: MARKET, LIMIT, LIMIT_MAKER, STOP_MARKET, ...
    status: OrderStatus
    qty: Decimal
    filled_qty: Decimal
    avg_price: Decimal | None
    price: Decimal | None
    trigger_price: Decimal | None
    reduce_only: bool
    conditional: bool
    ts_ms: int
    fills: tuple[VenueFill, ...] = ()  # present when the response carried them (spot FULL)
    # A triggered conditional (algo) order: the regular order it became, which holds the fills.
    actual_order_id: str | None = None

    @property
    def is_open(self) -> bool:
        """Return whether the order can still fill (or trigger)."""
        return self.status in ("NEW", "PARTIALLY_FILLED")


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))


def _positive(value: Any) -> Decimal | None:
    number = _dec(value)
    return number if number is not None and number > 0 else None


def _side(raw: Any) -> Side:
    return "buy" if str(raw).upper() == "BUY" else "sell"


def _ts(info: dict[str, Any]) -> int:
    for key in ("updateTime", "transactTime", "time", "createTime", "workingTime"):
        if info.get(key):
            return int(info[key])
    return 0


def parse_fill(info: dict[str, Any], *, is_maker: bool = False, ts_ms: int = 0) -> VenueFill:
    """Parse one fill of a spot order response or one ``myTrades`` / ``userTrades`` row."""
    maker = info.get("isMaker", info.get("maker", is_maker))
    return VenueFill(
        trade_id=str(info.get("tradeId", info.get("id"))),
        price=Decimal(str(info["price"])),
        qty=Decimal(str(info["qty"])),
        fee=Decimal(str(info.get("commission", "0"))),
        fee_asset=str(info.get("commissionAsset", "")),
        is_maker=bool(maker),
        ts_ms=int(info.get("time", ts_ms) or ts_ms),
    )


def _parse_algo(info: dict[str, Any]) -> VenueOrder:
    return VenueOrder(
        venue_order_id=str(info["algoId"]),
        client_order_id=str(info.get("clientAlgoId", "")),
        symbol=str(info["symbol"]),
        side=_side(info["side"]),
        order_type=str(info.get("orderType", "")),
        status=_STATUS.get(str(info.get("algoStatus", "")).upper(), "NEW"),
        qty=_dec(info.get("quantity")) or ZERO,
        filled_qty=ZERO,
        avg_price=_positive(info.get("actualPrice")),
        price=_positive(info.get("price")),
        trigger_price=_positive(info.get("triggerPrice")),
        reduce_only=bool(info.get("reduceOnly", False)),
        conditional=True,
        ts_ms=_ts(info),
        actual_order_id=str(info["actualOrderId"]) if info.get("actualOrderId") else None,
    )


def parse_order(order: dict[str, Any]) -> VenueOrder:
    """Parse a ccxt order (spot, futures or algo) from Binance's raw ``info``."""
    info: dict[str, Any] = order["info"]
    if "algoId" in info:
        return _parse_algo(info)
    filled = _dec(info.get("executedQty")) or ZERO
    avg = _positive(info.get("avgPrice"))
    quote = _dec(info.get("cummulativeQuoteQty", info.get("cumQuote")))
    if avg is None and filled > 0 and quote is not None:
        avg = quote / filled
    ts = _ts(info)
    fills = tuple(parse_fill(f, ts_ms=ts) for f in info.get("fills") or ())
    return VenueOrder(
        venue_order_id=str(info["orderId"]),
        client_order_id=str(info.get("origClientOrderId") or info.get("clientOrderId", "")),
        symbol=str(info["symbol"]),
        side=_side(info["side"]),
        order_type=str(info.get("type", "")),
        status=_STATUS.get(str(info.get("status", "")).upper(), "NEW"),
        qty=_dec(info.get("origQty")) or ZERO,
        filled_qty=filled,
        avg_price=avg,
        price=_positive(info.get("price")),
        trigger_price=_positive(info.get("stopPrice")),
        reduce_only=bool(info.get("reduceOnly", False)),
        conditional=False,
        ts_ms=ts,
        fills=fills,
    )


def has_conditional_book(exchange: Exchange) -> bool:
    """Return whether the exchange keeps conditional orders apart (binanceusdm's algo orders)."""
    return bool(exchange.options.get("defaultType") in ("swap", "future"))


async def open_orders(exchange: Exchange, symbol: str) -> list[VenueOrder]:
    """Return every open order of ``symbol`` (a ccxt symbol), conditional ones included."""
    orders = [parse_order(o) for o in await exchange.fetch_open_orders(symbol)]
    if has_conditional_book(exchange):
        triggers = await exchange.fetch_open_orders(symbol, params={"trigger": True})
        orders.extend(parse_order(o) for o in triggers)
    return orders


async def cancel_all(exchange: Exchange, symbol: str) -> None:
    """Cancel every open order of ``symbol``, conditional ones included."""
    await exchange.cancel_all_orders(symbol)
    if has_conditional_book(exchange):
        await exchange.cancel_all_orders(symbol, {"trigger": True})


async def find_order(
    exchange: Exchange, symbol: str, client_order_id: str, *, conditional: bool | None = None
) -> VenueOrder | None:
    """Look an order up by client order id; None when the venue says it does not exist.

    ``conditional`` None searches both books on futures (regular first); True / False only one.
    Any other error (timeout, 5xx) propagates: "unknown" is not "absent".
    """
    books = [False, True] if conditional is None else [conditional]
    if not has_conditional_book(exchange):
        books = [False]
    for trigger in books:
        params: dict[str, Any] = {"clientOrderId": client_order_id}
        if trigger:
            params["trigger"] = True
        try:
            return parse_order(await exchange.fetch_order(None, symbol, params))
        except ccxt.OrderNotFound:
            continue
    return None


async def fetch_order_by_id(
    exchange: Exchange, symbol: str, venue_order_id: str
) -> VenueOrder | None:
    """Look a regular order up by the venue's id; None when the venue says it does not exist."""
    try:
        return parse_order(await exchange.fetch_order(venue_order_id, symbol))
    except ccxt.OrderNotFound:
        return None


async def open_conditional_ids(exchange: Exchange, symbol: str) -> set[str]:
    """Return the client order ids of the symbol's open conditional (algo) orders."""
    if not has_conditional_book(exchange):
        return set()
    orders = await exchange.fetch_open_orders(symbol, params={"trigger": True})
    return {parse_order(o).client_order_id for o in orders}


async def fetch_fills(exchange: Exchange, symbol: str, venue_order_id: str) -> list[VenueFill]:
    """Return the executions of one regular order."""
    trades = await exchange.fetch_my_trades(symbol, params={"orderId": venue_order_id})
    return [parse_fill(t["info"]) for t in trades]


async def place_market(
    exchange: Exchange,
    symbol: str,
    side: Side,
    qty: Decimal,
    client_order_id: str,
    *,
    reduce_only: bool = False,
) -> VenueOrder:
    """Send a market order; ``reduce_only`` only on futures (spot has no such flag)."""
    params: dict[str, Any] = {"clientOrderId": client_order_id}
    if reduce_only and has_conditional_book(exchange):
        params["reduceOnly"] = True
    order = await exchange.create_order(symbol, "market", side, str(qty), None, params)
    return parse_order(order)


async def place_post_only(
    exchange: Exchange, symbol: str, side: Side, qty: Decimal, price: Decimal, client_order_id: str
) -> VenueOrder:
    """Send a post-only limit order (spot LIMIT_MAKER, futures GTX).

    A price that would cross raises ccxt's ``OrderImmediatelyFillable`` (spot) or
    ``OrderNotFillable`` (futures).
    """
    params = {"clientOrderId": client_order_id, "postOnly": True}
    order = await exchange.create_order(symbol, "limit", side, str(qty), str(price), params)
    return parse_order(order)


async def place_conditional(
    exchange: Exchange,
    symbol: str,
    kind: ConditionalKind,
    side: Side,
    qty: Decimal,
    trigger_price: Decimal,
    client_order_id: str,
) -> VenueOrder:
    """Place a reduce-only STOP_MARKET / TAKE_PROFIT_MARKET leg on futures (an algo order).

    ccxt routes ``stopLossPrice`` / ``takeProfitPrice`` to Binance's algo endpoint, where the
    client order id is ``clientAlgoId``. A trigger that would fire at once raises ccxt's
    ``OrderImmediatelyFillable`` (-2021).
    """
    if not has_conditional_book(exchange):
        raise ValueError(f"{kind} legs are futures orders; {exchange.id} is a spot exchange")
    price_key = "stopLossPrice" if kind == "STOP_MARKET" else "takeProfitPrice"
    params = {
        "clientOrderId": client_order_id,
        price_key: str(trigger_price),
        "reduceOnly": True,
    }
    order = await exchange.create_order(symbol, "market", side, str(qty), None, params)
    return parse_order(order)


class OcoLeg(msgspec.Struct, frozen=True):
    """One leg of a spot OCO: LIMIT_MAKER (``price``) or STOP_LOSS_LIMIT (``stop_price`` and a
    limit ``price``)."""

    order_type: Literal["LIMIT_MAKER", "STOP_LOSS_LIMIT"]
    price: Decimal
    client_order_id: str
    stop_price: Decimal | None = None


async def place_oco(
    exchange: Exchange,
    market_id: str,
    side: Side,
    qty: Decimal,
    above: OcoLeg,
    below: OcoLeg,
    list_client_order_id: str,
) -> tuple[str, list[VenueOrder]]:
    """Place a native spot OCO (``POST /api/v3/orderList/oco``); return (list id, legs).

    ``market_id`` is the venue's symbol (``BTCUSDT``). For a sell, ``above`` is the take-profit
    (LIMIT_MAKER) and ``below`` the stop; for a buy the other way round. A leg that would take or
    trigger at once raises ccxt's ``OrderImmediatelyFillable``; a reused client id
    ``InvalidOrder`` ("Duplicate order sent.").
    """
    request: dict[str, Any] = {
        "symbol": market_id,
        "side": side.upper(),
        "quantity": str(qty),
        "listClientOrderId": list_client_order_id,
        "newOrderRespType": "RESULT",
    }
    for name, leg in (("above", above), ("below", below)):
        request[f"{name}Type"] = leg.order_type
        request[f"{name}Price"] = str(leg.price)
        request[f"{name}ClientOrderId"] = leg.client_order_id
        if leg.stop_price is not None:
            request[f"{name}StopPrice"] = str(leg.stop_price)
        if leg.order_type == "STOP_LOSS_LIMIT":
            request[f"{name}TimeInForce"] = "GTC"
    response = await exchange.privatePostOrderListOco(request)
    reports = response.get("orderReports") or []
    return str(response["orderListId"]), [parse_order({"info": report}) for report in reports]


async def cancel_order(
    exchange: Exchange, symbol: str, client_order_id: str, *, conditional: bool = False
) -> VenueOrder | None:
    """Cancel one order by client order id; None when the venue does not know it as open.

    Binance answers an algo-order cancel with ids only, so a conditional order is read back.
    """
    params: dict[str, Any] = {"clientOrderId": client_order_id}
    if conditional:
        params["trigger"] = True
    try:
        cancelled = await exchange.cancel_order(None, symbol, params)
    except ccxt.OrderNotFound:
        return None
    if conditional:
        return await find_order(exchange, symbol, client_order_id, conditional=True)
    return parse_order(cancelled)


__all__ = [
    "ConditionalKind",
    "OcoLeg",
    "VenueFill",
    "VenueOrder",
    "cancel_all",
    "cancel_order",
    "fetch_fills",
    "find_order",
    "has_conditional_book",
    "open_orders",
    "parse_fill",
    "parse_order",
    "place_conditional",
    "place_market",
    "place_oco",
    "place_post_only",
]
