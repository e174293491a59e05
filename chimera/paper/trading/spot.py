"""The spot engine: balances, orders, taker walks, resting limits, stop orders, OCO legs.

Fees are charged in the quote asset for simplicity (Binance charges a buyer in the base asset):
a buy pays ``cost * (1 + rate)`` quote, a sell receives ``cost * (1 - rate)`` quote. A resting buy
locks ``qty * price * (1 + max(maker, taker))`` so no fill can ever overdraw the account.
A MARKET order (by ``quantity`` or ``quoteOrderQty``) takes what the book has and, as on Binance,
expires the rest: status EXPIRED with the partial ``executedQty``.
"""

from __future__ import annotations

from decimal import Decimal

from chimera.paper.feed import MarketState, TradePrint
from chimera.paper.markets import MarketSpec, VenueKind
from chimera.paper.trading import errors, filters, spot_views
from chimera.paper.trading.matching import crosses, opposite_levels, queue_at, walk_book
from chimera.paper.trading.model import ZERO, Balance, Counters, Fill, Order, SpotState
from chimera.paper.trading.order_engine import OrderEngine
from chimera.paper.trading.requests import OrderRequest
from chimera.paper.trading.sink import EventSink

STOP_TYPES = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
LIMIT_TYPES = frozenset({"LIMIT", "LIMIT_MAKER"})
TIME_IN_FORCE = frozenset({"GTC", "IOC", "FOK"})


class SpotEngine(OrderEngine):
    """Spot orders and balances of the venue's one account."""

    kind: VenueKind = "spot"

    def __init__(
        self,
        state: SpotState,
        counters: Counters,
        markets: dict[str, MarketSpec],
        market: MarketState,
        sink: EventSink,
    ) -> None:
        super().__init__(state.orders, counters, markets, market, sink)
        self.state = state
        self.last_price: dict[str, Decimal] = {}

    # --- lookups ------------------------------------------------------------------------------
    def balance(self, asset: str) -> Balance:
        return self.state.balances.setdefault(asset, Balance())

    def find(self, symbol: str, order_id: int | None, client_id: str | None) -> Order | None:
        """Return the order by id, else the open one with ``client_id``, else the latest one."""
        if order_id is None and client_id is not None:
            self.spec(symbol)
            for order in self._open.get(symbol, {}).values():
                if order.client_order_id == client_id:
                    return order
        return super().find(symbol, order_id, client_id)

    def reference_price(self, symbol: str) -> Decimal | None:
        last = self.last_price.get(symbol)
        return last if last is not None else self.market.book("spot", symbol).mid()

    # --- placing ------------------------------------------------------------------------------
    def place(
        self, req: OrderRequest, order_list_id: int = -1, lock: bool = True
    ) -> tuple[Order, list[Fill]]:
        """Validate and execute one new order; raise ``TradingError`` as Binance would."""
        spec = self.spec(req.symbol)
        if self.client_id_open(spec.symbol, req.client_order_id):
            raise errors.spot_duplicate_order()
        order = self.new_order(spec, req, order_list_id)
        if req.type in STOP_TYPES:
            self._place_stop(order, spec, lock)
            return order, []
        if req.type == "MARKET":
            return order, self._run_market(order, spec, req.quote_order_qty)
        if req.type in LIMIT_TYPES:
            return order, self._run_limit(order, spec, lock)
        raise errors.TradingError(-1116, "Invalid orderType.")

    def new_order(self, spec: MarketSpec, req: OrderRequest, order_list_id: int) -> Order:
        t = req.type
        needs_price = t in LIMIT_TYPES or t.endswith("_LIMIT")
        if needs_price and req.price is None:
            raise errors.mandatory("price")
        if (t == "LIMIT" or t.endswith("_LIMIT")) and req.time_in_force is None:
            raise errors.mandatory("timeInForce")
        if req.time_in_force is not None and req.time_in_force not in TIME_IN_FORCE:
            raise errors.TradingError(-1115, "Invalid timeInForce.")
        if t in STOP_TYPES and req.stop_price is None:
            raise errors.mandatory("stopPrice")
        if req.quantity is None and not (t == "MARKET" and req.quote_order_qty is not None):
            raise errors.mandatory("quantity")
        if req.quantity is not None:
            filters.check_quantity(spec, req.quantity)
        if needs_price:
            assert req.price is not None
            filters.check_price(spec, req.price)
        if req.stop_price is not None and t in STOP_TYPES:
            filters.check_price(spec, req.stop_price)
        order_id = self.counters.next("spot_order")
        now = self.now()
        tif = req.time_in_force or "GTC"
        return Order(
            order_id=order_id,
            client_order_id=req.client_order_id or f"paper-spot-{order_id}",
            symbol=spec.symbol,
            kind="spot",
            side=req.side,
            type=t,
            time_in_force=tif,
            price=req.price if needs_price and req.price is not None else ZERO,
            orig_qty=req.quantity or ZERO,
            orig_quote_qty=req.quote_order_qty or ZERO,
            stop_price=req.stop_price or ZERO,
            time_ms=now,
            update_ms=now,
            order_list_id=order_list_id,
        )

    def _reserve(self, order: Order, spec: MarketSpec, price: Decimal) -> tuple[str, Decimal]:
        rate = max(spec.maker_fee, spec.taker_fee)
        if order.is_buy:
            return spec.quote, order.remaining * price * (1 + rate)
        return spec.base, order.remaining

    def lock_funds(self, order: Order, spec: MarketSpec, price: Decimal) -> None:
        """Move what ``order`` may spend from free to locked, or refuse it."""
        asset, amount = self._reserve(order, spec, price)
        bal = self.balance(asset)
        if bal.free < amount:
            raise errors.insufficient_balance()
        bal.free -= amount
        bal.locked += amount
        order.locked += amount

    def release(self, order: Order) -> None:
        """Give back whatever ``order`` still holds locked."""
        if order.locked:
            spec = self.markets[order.symbol]
            bal = self.balance(spec.quote if order.is_buy else spec.base)
            bal.locked -= order.locked
            bal.free += order.locked
            order.locked = ZERO

    def _place_stop(self, order: Order, spec: MarketSpec, lock: bool) -> None:
        if order.price:
            filters.check_notional(spec, order.price * order.orig_qty)
        last = self.reference_price(spec.symbol)
        if last is not None and self.stop_fires(order, last):
            raise errors.spot_stop_would_trigger()
        if lock:
            self.lock_funds(order, spec, order.price or order.stop_price)
        self.rest(order)
        self.report(order, None, "NEW")

    @staticmethod
    def stop_fires(order: Order, last: Decimal) -> bool:
        stop_loss = order.type.startswith("STOP_LOSS")
        rises = (order.is_buy and stop_loss) or (not order.is_buy and not stop_loss)
        return last >= order.stop_price if rises else last <= order.stop_price

    def _run_market(self, order: Order, spec: MarketSpec, quote: Decimal | None) -> list[Fill]:
        book = self.market.book("spot", spec.symbol)
        levels = opposite_levels(book, order.is_buy)
        if quote is not None and order.orig_qty == ZERO:
            if quote < spec.min_notional:
                raise errors.filter_failure("NOTIONAL")
            execs = walk_book(levels, is_buy=order.is_buy, quote=quote, step=spec.step_size)
        else:
            ref = self.reference_price(spec.symbol)
            if ref is not None:
                filters.check_notional(spec, ref * order.orig_qty)
            execs = walk_book(levels, is_buy=order.is_buy, qty=order.remaining, step=spec.step_size)
        cost = sum((p * q for p, q in execs), ZERO)
        qty = sum((q for _, q in execs), ZERO)
        if order.locked == ZERO:
            if order.is_buy and self.balance(spec.quote).free < cost * (1 + spec.taker_fee):
                raise errors.insufficient_balance()
            base_needed = order.remaining if order.orig_qty else qty
            if not order.is_buy and self.balance(spec.base).free < base_needed:
                raise errors.insufficient_balance()
        by_quote = order.orig_qty == ZERO
        if by_quote:
            order.orig_qty = qty
        if order.working_ms == -1:
            order.working_ms = self.now()
        fills = [self.fill(order, spec, p, q, maker=False) for p, q in execs]
        if by_quote:
            # By quote amount: filled unless the book ran out before the amount was spent.
            ran_out = len(execs) == len(levels) and all(
                e[1] == lv[1] for e, lv in zip(execs, levels, strict=False)
            )
            filled = qty > ZERO and not ran_out
        else:
            filled = order.remaining == ZERO
        self.finish(order, "FILLED" if filled else "EXPIRED", report=not fills)
        return fills

    def _run_limit(self, order: Order, spec: MarketSpec, lock: bool) -> list[Fill]:
        filters.check_notional(spec, order.price * order.orig_qty)
        book = self.market.book("spot", spec.symbol)
        takes = crosses(book, order.is_buy, order.price)
        if order.type == "LIMIT_MAKER" and takes:
            raise errors.spot_would_take()
        execs = []
        if takes:
            execs = walk_book(
                opposite_levels(book, order.is_buy),
                is_buy=order.is_buy,
                qty=order.remaining,
                limit=order.price,
                step=spec.step_size,
            )
        if order.time_in_force == "FOK" and sum((q for _, q in execs), ZERO) < order.remaining:
            if lock:
                self._reserve_check(order, spec)
            order.working_ms = self.now()
            self.finish(order, "EXPIRED")
            return []
        if lock:
            self.lock_funds(order, spec, order.price)
        order.working_ms = self.now()
        fills = [self.fill(order, spec, p, q, maker=False) for p, q in execs]
        if order.remaining == ZERO:
            self.finish(order, "FILLED", report=False)
        elif order.time_in_force == "IOC":
            self.finish(order, "EXPIRED", report=not fills)
        else:
            order.queue_ahead = queue_at(book, order.is_buy, order.price)
            self.rest(order)
            if not fills:
                self.report(order, None, "NEW")
        return fills

    def _reserve_check(self, order: Order, spec: MarketSpec) -> None:
        asset, amount = self._reserve(order, spec, order.price)
        if self.balance(asset).free < amount:
            raise errors.insufficient_balance()

    # --- fills and order ends -----------------------------------------------------------------
    def fill(
        self, order: Order, spec: MarketSpec, price: Decimal, qty: Decimal, *, maker: bool
    ) -> Fill:
        """Book one execution of ``order``: balances, fee, order progress, fill record, event."""
        quote = price * qty
        fee = quote * (spec.maker_fee if maker else spec.taker_fee)
        base_bal, quote_bal = self.balance(spec.base), self.balance(spec.quote)
        if order.is_buy:
            if order.locked:
                portion = min(
                    order.locked, qty * order.price * (1 + max(spec.maker_fee, spec.taker_fee))
                )
                order.locked -= portion
                quote_bal.locked -= portion
                quote_bal.free += portion - quote - fee
            else:
                quote_bal.free -= quote + fee
            base_bal.free += qty
        else:
            if order.locked:
                order.locked -= qty
                base_bal.locked -= qty
            else:
                base_bal.free -= qty
            quote_bal.free += quote - fee
        now = self.now()
        self.advance(order, qty, quote, now)
        record = Fill(
            trade_id=self.counters.next("trade"),
            order_id=order.order_id,
            symbol=order.symbol,
            kind="spot",
            side=order.side,
            price=price,
            qty=qty,
            quote_qty=quote,
            commission=fee,
            commission_asset=spec.quote,
            maker=maker,
            time_ms=now,
            order_list_id=order.order_list_id,
        )
        self.state.fills.append(record)
        self.state.orders[order.order_id] = order
        self.report(order, record, "TRADE")
        return record

    def report(self, order: Order, fill: Fill | None, exec_type: str) -> None:
        spec = self.markets[order.symbol]
        now = self.now()
        self.sink.emit("spot", spot_views.execution_report(order, fill, exec_type, now))
        self.sink.emit(
            "spot", spot_views.account_position(self.state.balances, [spec.base, spec.quote], now)
        )

    # --- cancel -------------------------------------------------------------------------------
    def end_canceled(self, order: Order) -> None:
        """Cancel open ``order``; an OCO leg cancels its whole list."""
        if order.order_list_id == -1:
            self.finish(order, "CANCELED")
            return
        for leg in self.list_legs(order.order_list_id):
            if leg.is_open:
                self.finish(leg, "CANCELED")
        self.close_list(order.order_list_id)

    # --- OCO bookkeeping ----------------------------------------------------------------------
    def list_legs(self, order_list_id: int) -> list[Order]:
        entry = self.state.order_lists.get(order_list_id)
        return [] if entry is None else [self.state.orders[i] for i in entry.order_ids]

    def close_list(self, order_list_id: int) -> None:
        entry = self.state.order_lists.get(order_list_id)
        if entry is not None and entry.list_order_status != "ALL_DONE":
            entry.list_status_type = "ALL_DONE"
            entry.list_order_status = "ALL_DONE"
            legs = self.list_legs(order_list_id)
            self.sink.emit("spot", spot_views.list_status(entry, legs, self.now()))

    def claim_list(self, order: Order) -> None:
        """An OCO leg starts working: it takes its siblings' locked funds and they expire."""
        if order.order_list_id == -1:
            return
        for leg in self.list_legs(order.order_list_id):
            if leg.order_id != order.order_id and leg.is_open:
                order.locked += leg.locked
                leg.locked = ZERO
                self.finish(leg, "EXPIRED")
        self.close_list(order.order_list_id)

    # --- market events ------------------------------------------------------------------------
    def on_trade(self, trade: TradePrint) -> None:
        """Trigger stop orders and fill resting limits the trade prints through."""
        self.last_price[trade.symbol] = trade.price
        spec = self.markets.get(trade.symbol)
        if spec is None:
            return
        for order in list(self._open.get(trade.symbol, {}).values()):
            if not order.is_open:
                continue
            if order.working_ms == -1:
                if self.stop_fires(order, trade.price):
                    self._trigger(order, spec)
                continue
            qty = self.queue_fill(order, trade)
            if qty > ZERO:
                self.claim_list(order)
                self.fill(order, spec, order.price, qty, maker=True)
                if order.remaining == ZERO:
                    self.finish(order, "FILLED", report=False)

    def _trigger(self, order: Order, spec: MarketSpec) -> None:
        self.claim_list(order)
        order.working_ms = self.now()
        self.release(order)
        self._open[order.symbol].pop(order.order_id, None)
        try:
            if order.type in ("STOP_LOSS", "TAKE_PROFIT"):
                self._run_market(order, spec, None)
            else:
                self._run_limit(order, spec, True)
        except errors.TradingError:
            self.finish(order, "EXPIRED")
