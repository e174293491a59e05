"""USDⓈ-M conditional orders on Binance's algo-order endpoint (since 2025-12-09).

STOP_MARKET / TAKE_PROFIT_MARKET become MARKET orders and STOP / TAKE_PROFIT become LIMIT orders
when their trigger fires: off the mark price (``workingType`` MARK_PRICE) or the last trade price
(CONTRACT_PRICE, the default). A stop buys when the price rises to the trigger and sells when it
falls to it; a take-profit the other way round. ``closePosition`` closes whatever position exists
at trigger time. Status: NEW -> TRIGGERED (order placed and working) / FINISHED (order done), or
REJECTED when the triggered order is refused; CANCELED when cancelled.
"""

from __future__ import annotations

from decimal import Decimal

from chimera.paper.trading import errors, filters, futures_events
from chimera.paper.trading.futures import FuturesEngine
from chimera.paper.trading.model import ZERO, AlgoOrder
from chimera.paper.trading.requests import AlgoOrderRequest, OrderRequest

ALGO_TYPES = frozenset({"STOP_MARKET", "TAKE_PROFIT_MARKET", "STOP", "TAKE_PROFIT"})


class AlgoBook:
    """The account's conditional orders and their triggers."""

    def __init__(self, futures: FuturesEngine) -> None:
        self.futures = futures
        self.state = futures.state
        self.last_price: dict[str, Decimal] = {}

    def now(self) -> int:
        return self.futures.now()

    # --- requests -----------------------------------------------------------------------------
    def place(self, req: AlgoOrderRequest) -> AlgoOrder:
        """Validate and arm one conditional order."""
        spec = self.futures.spec(req.symbol)
        if req.order_type not in ALGO_TYPES:
            raise errors.TradingError(-1116, "Invalid orderType.")
        if req.client_algo_id and any(
            a.client_algo_id == req.client_algo_id and a.is_open
            for a in self.state.algo_orders.values()
        ):
            raise errors.futures_duplicate_order()
        if req.close_position:
            if req.quantity is not None:
                raise errors.TradingError(
                    -4137, "Quantity must be zero with closePosition equals true."
                )
        elif req.quantity is None:
            raise errors.mandatory("quantity")
        else:
            filters.check_quantity(spec, req.quantity)
        needs_price = req.order_type in ("STOP", "TAKE_PROFIT")
        if needs_price:
            if req.price is None:
                raise errors.mandatory("price")
            filters.check_price(spec, req.price)
        filters.check_price(spec, req.trigger_price)
        if req.working_type not in ("MARK_PRICE", "CONTRACT_PRICE"):
            raise errors.TradingError(-4031, "Invalid workingType.")
        algo_id = self.futures.counters.next("algo")
        now = self.now()
        algo = AlgoOrder(
            algo_id=algo_id,
            client_algo_id=req.client_algo_id or f"paper-algo-{algo_id}",
            symbol=spec.symbol,
            side=req.side,
            order_type=req.order_type,
            quantity=req.quantity or ZERO,
            price=req.price if needs_price and req.price is not None else ZERO,
            trigger_price=req.trigger_price,
            working_type=req.working_type,
            time_in_force=req.time_in_force,
            reduce_only=req.reduce_only,
            close_position=req.close_position,
            price_protect=req.price_protect,
            create_ms=now,
            update_ms=now,
        )
        reference = self._reference(algo)
        if reference is not None and self._fires(algo, reference):
            raise errors.futures_would_trigger()
        self.state.algo_orders[algo_id] = algo
        self._report(algo)
        return algo

    def find(self, algo_id: int | None, client_algo_id: str | None) -> AlgoOrder | None:
        if algo_id is not None:
            return self.state.algo_orders.get(algo_id)
        if client_algo_id is None:
            raise errors.mandatory("algoId")
        for algo in reversed(self.state.algo_orders.values()):
            if algo.client_algo_id == client_algo_id:
                return algo
        return None

    def cancel(self, algo_id: int | None, client_algo_id: str | None) -> AlgoOrder:
        algo = self.find(algo_id, client_algo_id)
        if algo is None or not algo.is_open:
            raise errors.unknown_order_cancel()
        algo.status = "CANCELED"
        algo.update_ms = self.now()
        self._report(algo)
        return algo

    def open_orders(self, symbol: str | None) -> list[AlgoOrder]:
        if symbol is not None:
            self.futures.spec(symbol)
        return [
            a
            for a in self.state.algo_orders.values()
            if a.is_open and (symbol is None or a.symbol == symbol)
        ]

    def all_orders(self, symbol: str) -> list[AlgoOrder]:
        self.futures.spec(symbol)
        return [a for a in self.state.algo_orders.values() if a.symbol == symbol]

    def cancel_all(self, symbol: str) -> None:
        for algo in self.open_orders(symbol):
            self.cancel(algo.algo_id, None)

    # --- triggers -----------------------------------------------------------------------------
    def on_price(self, symbol: str, last: Decimal | None = None) -> None:
        """Fire the conditional orders of ``symbol`` whose trigger the market reached."""
        if last is not None:
            self.last_price[symbol] = last
        for algo in list(self.state.algo_orders.values()):
            if algo.symbol != symbol or not algo.is_open:
                continue
            reference = self._reference(algo)
            if reference is not None and self._fires(algo, reference):
                self._trigger(algo)

    def _reference(self, algo: AlgoOrder) -> Decimal | None:
        if algo.working_type == "MARK_PRICE":
            return self.futures.mark(algo.symbol)
        last = self.last_price.get(algo.symbol)
        return last if last is not None else self.futures.market.book("perp", algo.symbol).mid()

    @staticmethod
    def _fires(algo: AlgoOrder, price: Decimal) -> bool:
        rises = algo.order_type.startswith("STOP") == (algo.side == "BUY")
        return price >= algo.trigger_price if rises else price <= algo.trigger_price

    def _trigger(self, algo: AlgoOrder) -> None:
        now = self.now()
        algo.trigger_ms = now
        algo.update_ms = now
        qty = algo.quantity
        if algo.close_position:
            qty = abs(self.futures.position(algo.symbol).amount)
        market = algo.order_type.endswith("_MARKET")
        req = OrderRequest(
            symbol=algo.symbol,
            side=algo.side,
            type="MARKET" if market else "LIMIT",
            quantity=qty,
            price=None if market else algo.price,
            time_in_force=None if market else algo.time_in_force,
            reduce_only=algo.reduce_only or algo.close_position,
            working_type=algo.working_type,
        )
        try:
            if qty <= ZERO:
                raise errors.futures_reduce_only_rejected()
            order = self.futures.place(req)
        except errors.TradingError:
            algo.status = "REJECTED"
            self._report(algo)
            return
        algo.actual_order_id = str(order.order_id)
        algo.executed_qty = order.executed_qty
        algo.avg_price = order.avg_price
        algo.status = "TRIGGERED" if order.is_open else "FINISHED"
        self._report(algo)

    def _report(self, algo: AlgoOrder) -> None:
        self.futures.sink.emit("perp", futures_events.algo_update(algo, self.now()))
