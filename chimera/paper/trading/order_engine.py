"""What the spot and futures engines share: one venue kind's orders and their open-order index.

Both engines keep every order they ever accepted (``orders``, persisted) plus an index of the open
ones by symbol; they look orders up, end them and move resting orders through the market's queue
the same way. What an order does to the account (balances, positions) stays in each engine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from decimal import Decimal

from chimera.paper.feed import MarketState, TradePrint
from chimera.paper.markets import MarketSpec, VenueKind
from chimera.paper.trading import errors
from chimera.paper.trading.matching import fill_from_trade, queue_at
from chimera.paper.trading.model import ZERO, Counters, Fill, Order
from chimera.paper.trading.sink import EventSink

# The execution type an order's end reports, by the status it ends with.
END_EXEC_TYPES = {"CANCELED": "CANCELED", "EXPIRED": "EXPIRED", "FILLED": "TRADE"}


class OrderEngine(ABC):
    """Orders of one venue kind: lookups, resting, ending, cancelling and queue positions."""

    kind: VenueKind

    def __init__(
        self,
        orders: dict[int, Order],
        counters: Counters,
        markets: dict[str, MarketSpec],
        market: MarketState,
        sink: EventSink,
    ) -> None:
        self.counters = counters
        self.markets = markets
        self.market = market
        self.sink = sink
        self._orders = orders
        self._open: dict[str, dict[int, Order]] = {s: {} for s in markets}
        for order in orders.values():
            if order.is_open:
                self._open.setdefault(order.symbol, {})[order.order_id] = order

    # --- lookups ------------------------------------------------------------------------------
    def now(self) -> int:
        return self.market.clock.now_ms()

    def spec(self, symbol: str) -> MarketSpec:
        spec = self.markets.get(symbol)
        if spec is None:
            raise errors.invalid_symbol()
        return spec

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        if symbol is not None:
            self.spec(symbol)
            return sorted(self._open.get(symbol, {}).values(), key=lambda o: o.order_id)
        every = (o for book in self._open.values() for o in book.values())
        return sorted(every, key=lambda o: o.order_id)

    def find(self, symbol: str, order_id: int | None, client_id: str | None) -> Order | None:
        """Return the order by id, else the latest one with ``client_id``, else None."""
        self.spec(symbol)
        if order_id is not None:
            order = self._orders.get(order_id)
            return order if order is not None and order.symbol == symbol else None
        if client_id is None:
            raise errors.mandatory("orderId")
        for order in reversed(self._orders.values()):
            if order.symbol == symbol and order.client_order_id == client_id:
                return order
        return None

    def client_id_open(self, symbol: str, client_id: str | None) -> bool:
        """Tell whether an open order on ``symbol`` already carries ``client_id``."""
        return bool(client_id) and any(
            o.client_order_id == client_id for o in self._open[symbol].values()
        )

    # --- order life ---------------------------------------------------------------------------
    def rest(self, order: Order) -> None:
        """Keep ``order`` and index it as open."""
        self._orders[order.order_id] = order
        self._open.setdefault(order.symbol, {})[order.order_id] = order

    def advance(self, order: Order, qty: Decimal, quote: Decimal, now: int) -> None:
        """Count one execution of ``qty`` (worth ``quote``) into ``order``'s progress."""
        order.executed_qty += qty
        order.cum_quote += quote
        order.update_ms = now
        order.status = "FILLED" if order.remaining == ZERO else "PARTIALLY_FILLED"

    def release(self, order: Order) -> None:  # noqa: B027 - a hook; only spot locks funds
        """Give back whatever ``order`` still holds locked (nothing unless the kind locks)."""

    @abstractmethod
    def report(self, order: Order, fill: Fill | None, exec_type: str) -> None:
        """Emit the user-data event of ``order``'s change (each market has its own event)."""

    def finish(self, order: Order, status: str, *, report: bool = True) -> None:
        """End ``order`` with ``status``, releasing its locked funds."""
        self.release(order)
        order.status = status
        order.update_ms = self.now()
        self._orders[order.order_id] = order
        self._open.get(order.symbol, {}).pop(order.order_id, None)
        if report:
            self.report(order, None, END_EXEC_TYPES[status])

    def cancel(self, symbol: str, order_id: int | None, client_id: str | None) -> Order:
        """Cancel one open order."""
        order = self.find(symbol, order_id, client_id)
        if order is None or not order.is_open:
            raise errors.unknown_order_cancel()
        self.end_canceled(order)
        return order

    def end_canceled(self, order: Order) -> None:
        """Cancel open ``order``."""
        self.finish(order, "CANCELED")

    def cancel_all(self, symbol: str) -> list[Order]:
        """Cancel every open order on ``symbol`` (one cancel may end others: skip those)."""
        return [
            self.cancel(symbol, o.order_id, None) for o in self.open_orders(symbol) if o.is_open
        ]

    # --- queue model --------------------------------------------------------------------------
    @staticmethod
    def queue_fill(order: Order, trade: TradePrint) -> Decimal:
        """Return what ``trade`` fills of resting ``order``, moving it up its queue."""
        qty, order.queue_ahead = fill_from_trade(
            is_buy=order.is_buy,
            limit=order.price,
            queue_ahead=order.queue_ahead,
            remaining=order.remaining,
            trade_price=trade.price,
            trade_qty=trade.qty,
            buyer_is_maker=trade.buyer_is_maker,
        )
        return qty

    def on_book(self, symbol: str) -> None:
        """Shrink queues ahead of resting orders when their level's quantity drops."""
        orders = self._open.get(symbol)
        if not orders:
            return
        book = self.market.book(self.kind, symbol)
        # Only a working limit order has a queue (a waiting stop order's queue_ahead stays zero).
        for order in orders.values():
            if order.queue_ahead > 0:
                order.queue_ahead = min(
                    order.queue_ahead, queue_at(book, order.is_buy, order.price)
                )
