"""Validated order requests, parsed from a signed request's parameters."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from chimera.paper.trading import errors
from chimera.paper.trading.model import Side
from chimera.paper.trading.numbers import parse_decimal


class Params:
    """Read typed values out of a request's flat string parameters, Binance's way."""

    def __init__(self, raw: dict[str, str]) -> None:
        self.raw = raw

    def text(self, name: str) -> str:
        value = self.raw.get(name, "")
        if not value:
            raise errors.mandatory(name)
        return value

    def opt_text(self, name: str) -> str | None:
        return self.raw.get(name) or None

    def decimal(self, name: str) -> Decimal:
        value = self.opt_decimal(name)
        if value is None:
            raise errors.mandatory(name)
        return value

    def opt_decimal(self, name: str) -> Decimal | None:
        text = self.raw.get(name)
        if text is None or text == "":
            return None
        value = parse_decimal(text)
        if value is None:
            raise errors.bad_value(name)
        return value

    def opt_int(self, name: str) -> int | None:
        text = self.raw.get(name)
        if text is None or text == "":
            return None
        try:
            return int(text)
        except ValueError as exc:
            raise errors.bad_value(name) from exc

    def flag(self, name: str) -> bool:
        text = self.raw.get(name, "false").lower()
        if text not in ("true", "false"):
            raise errors.bad_value(name)
        return text == "true"

    def side(self) -> Side:
        value = self.text("side").upper()
        if value not in ("BUY", "SELL"):
            raise errors.TradingError(-1117, "Invalid side.")
        return value  # type: ignore[return-value]


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A new spot or futures order (``POST /api/v3/order``, ``POST /fapi/v1/order``)."""

    symbol: str
    side: Side
    type: str
    quantity: Decimal | None = None
    quote_order_qty: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: str | None = None
    client_order_id: str | None = None
    resp_type: str = "FULL"
    reduce_only: bool = False
    close_position: bool = False
    working_type: str = "CONTRACT_PRICE"

    @classmethod
    def parse(cls, params: Params, *, futures: bool) -> OrderRequest:
        """Build the request from raw parameters (symbol, side, type are mandatory)."""
        return cls(
            symbol=params.text("symbol").upper(),
            side=params.side(),
            type=params.text("type").upper(),
            quantity=params.opt_decimal("quantity"),
            quote_order_qty=None if futures else params.opt_decimal("quoteOrderQty"),
            price=params.opt_decimal("price"),
            stop_price=params.opt_decimal("stopPrice"),
            time_in_force=(params.opt_text("timeInForce") or "").upper() or None,
            client_order_id=params.opt_text("newClientOrderId"),
            resp_type=(
                params.opt_text("newOrderRespType") or ("ACK" if futures else "FULL")
            ).upper(),
            reduce_only=params.flag("reduceOnly") if futures else False,
            close_position=params.flag("closePosition") if futures else False,
            working_type=(params.opt_text("workingType") or "CONTRACT_PRICE").upper(),
        )


class AlgoOrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A new USDⓈ-M conditional order (``POST /fapi/v1/algoOrder``, algoType CONDITIONAL)."""

    symbol: str
    side: Side
    order_type: str
    quantity: Decimal | None
    price: Decimal | None
    trigger_price: Decimal
    working_type: str
    time_in_force: str
    reduce_only: bool
    close_position: bool
    price_protect: bool
    client_algo_id: str | None

    @classmethod
    def parse(cls, params: Params) -> AlgoOrderRequest:
        """Build the request from raw parameters."""
        algo_type = params.text("algoType").upper()
        if algo_type != "CONDITIONAL":
            raise errors.TradingError(-4500, f"Invalid algoType {algo_type}.")
        return cls(
            symbol=params.text("symbol").upper(),
            side=params.side(),
            order_type=params.text("type").upper(),
            quantity=params.opt_decimal("quantity"),
            price=params.opt_decimal("price"),
            trigger_price=params.decimal("triggerPrice"),
            working_type=(params.opt_text("workingType") or "CONTRACT_PRICE").upper(),
            time_in_force=(params.opt_text("timeInForce") or "GTC").upper(),
            reduce_only=params.flag("reduceOnly"),
            close_position=params.flag("closePosition"),
            price_protect=params.flag("priceProtect"),
            client_algo_id=params.opt_text("clientAlgoId"),
        )
