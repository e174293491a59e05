"""The USDⓈ-M futures engine: wallet, one-way positions, orders, fills, fees, funding.

MARKET orders walk the book and, like spot, expire what a thin book cannot fill. LIMIT orders
take what crosses and rest the remainder (GTC) under the queue model of ``matching``; IOC expires
the rest, FOK that cannot fill whole is rejected (-5021), GTX (post-only) that would cross is
rejected (-5022), both as Binance's futures API now answers. Reduce-only orders never grow a
position: refused (-2022) when there is nothing to reduce, clipped to the position when filling,
expired when the position is gone. Conditional orders live in ``algo``.
"""

from __future__ import annotations

from decimal import Decimal

from chimera.paper.feed import FundingSettlement, MarketState, TradePrint
from chimera.paper.markets import MarketSpec, VenueKind
from chimera.paper.trading import errors, filters, futures_events, margin
from chimera.paper.trading.matching import crosses, opposite_levels, queue_at, walk_book
from chimera.paper.trading.model import ZERO, Counters, Fill, FuturesState, Income, Order, Position
from chimera.paper.trading.order_engine import OrderEngine
from chimera.paper.trading.requests import OrderRequest
from chimera.paper.trading.sink import EventSink

MARGIN_ASSET = "USDT"
FUTURES_TIF = frozenset({"GTC", "IOC", "FOK", "GTX"})
ALGO_ONLY_TYPES = frozenset(
    {"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
)


class FuturesEngine(OrderEngine):
    """USDⓈ-M orders, positions and wallet of the venue's one account."""

    kind: VenueKind = "perp"

    def __init__(
        self,
        state: FuturesState,
        counters: Counters,
        markets: dict[str, MarketSpec],
        market: MarketState,
        sink: EventSink,
    ) -> None:
        super().__init__(state.orders, counters, markets, market, sink)
        self.state = state

    # --- lookups ------------------------------------------------------------------------------
    def position(self, symbol: str) -> Position:
        pos = self.state.positions.get(symbol)
        if pos is None:
            pos = self.state.positions[symbol] = Position(symbol=symbol)
        return pos

    def mark(self, symbol: str) -> Decimal:
        return self.market.mark_price(symbol)

    @property
    def wallet(self) -> Decimal:
        return self.state.wallet.get(MARGIN_ASSET, ZERO)

    def credit(self, amount: Decimal) -> None:
        self.state.wallet[MARGIN_ASSET] = self.wallet + amount
        self.state.update_ms = self.now()

    # --- account figures ----------------------------------------------------------------------
    def unrealized_total(self) -> Decimal:
        return sum(
            (
                margin.unrealized(p, self.mark(s))
                for s, p in self.state.positions.items()
                if p.amount
            ),
            ZERO,
        )

    def position_margin_total(self) -> Decimal:
        return sum(
            (margin.initial_margin(p, self.mark(s)) for s, p in self.state.positions.items()),
            ZERO,
        )

    def open_order_margin(self, symbol: str | None = None) -> Decimal:
        total = ZERO
        for order in self.open_orders(symbol):
            if not order.reduce_only:
                total += order.remaining * order.price / self.position(order.symbol).leverage
        return total

    def available(self) -> Decimal:
        return (
            self.wallet
            + self.unrealized_total()
            - self.position_margin_total()
            - self.open_order_margin()
        )

    # --- placing ------------------------------------------------------------------------------
    def place(self, req: OrderRequest) -> Order:
        """Validate and execute one new order; raise ``TradingError`` as Binance would."""
        spec = self.spec(req.symbol)
        if self.client_id_open(spec.symbol, req.client_order_id):
            raise errors.futures_duplicate_order()
        if req.type in ALGO_ONLY_TYPES:
            raise errors.futures_use_algo_endpoint()
        if req.type not in ("LIMIT", "MARKET"):
            raise errors.TradingError(-1116, "Invalid orderType.")
        order = self._new_order(spec, req)
        return self.execute(order, spec)

    def _new_order(self, spec: MarketSpec, req: OrderRequest) -> Order:
        if req.quantity is None:
            raise errors.mandatory("quantity")
        filters.check_quantity(spec, req.quantity)
        tif = req.time_in_force or "GTC"
        if req.type == "LIMIT":
            if req.price is None:
                raise errors.mandatory("price")
            if req.time_in_force is None:
                raise errors.mandatory("timeInForce")
            filters.check_price(spec, req.price)
        if tif not in FUTURES_TIF:
            raise errors.TradingError(-1115, "Invalid timeInForce.")
        order_id = self.counters.next("futures_order")
        now = self.now()
        return Order(
            order_id=order_id,
            client_order_id=req.client_order_id or f"paper-fut-{order_id}",
            symbol=spec.symbol,
            kind="perp",
            side=req.side,
            type=req.type,
            orig_type=req.type,
            time_in_force=tif,
            price=req.price if req.type == "LIMIT" and req.price is not None else ZERO,
            orig_qty=req.quantity,
            time_ms=now,
            update_ms=now,
            reduce_only=req.reduce_only,
            working_type=req.working_type,
        )

    def execute(self, order: Order, spec: MarketSpec) -> Order:
        """Run a validated LIMIT or MARKET order against the book and the account."""
        pos = self.position(spec.symbol)
        reducible = margin.closable(pos, order.is_buy)
        if order.reduce_only and reducible == ZERO:
            raise errors.futures_reduce_only_rejected()
        ref = order.price if order.type == "LIMIT" else self.mark(spec.symbol)
        filters.check_notional(spec, ref * order.orig_qty, reduce_only=order.reduce_only)
        book = self.market.book("perp", spec.symbol)
        takes = order.type == "MARKET" or crosses(book, order.is_buy, order.price)
        if order.time_in_force == "GTX" and order.type == "LIMIT" and takes:
            raise errors.futures_post_only_rejected()
        growing = ZERO if order.reduce_only else max(ZERO, order.orig_qty - reducible)
        needed = growing * ref / pos.leverage + growing * ref * spec.taker_fee
        if needed > self.available():
            raise errors.futures_margin_insufficient()
        wanted = min(order.orig_qty, reducible) if order.reduce_only else order.orig_qty
        execs = []
        if takes:
            limit = order.price if order.type == "LIMIT" else None
            execs = walk_book(
                opposite_levels(book, order.is_buy),
                is_buy=order.is_buy,
                qty=wanted,
                limit=limit,
                step=spec.step_size,
            )
        filled = sum((q for _, q in execs), ZERO)
        if order.time_in_force == "FOK" and filled < order.orig_qty:
            raise errors.futures_fok_rejected()
        self.state.orders[order.order_id] = order
        for price, qty in execs:
            self.fill(order, spec, price, qty, maker=False)
        if order.remaining == ZERO:
            self.finish(order, "FILLED", report=False)
        elif (
            order.type == "MARKET"
            or order.time_in_force == "IOC"
            or (
                order.reduce_only
                and (margin.closable(self.position(spec.symbol), order.is_buy) == ZERO)
            )
        ):
            self.finish(order, "EXPIRED")
        else:
            order.queue_ahead = queue_at(book, order.is_buy, order.price)
            self.rest(order)
            if not execs:
                self.report(order, None, "NEW")
        return order

    # --- fills, ends, cancels -----------------------------------------------------------------
    def fill(
        self, order: Order, spec: MarketSpec, price: Decimal, qty: Decimal, *, maker: bool
    ) -> Fill:
        """Book one execution: position, realized PnL, commission, order progress, events."""
        pos = self.position(spec.symbol)
        notional = price * qty
        fee = notional * (spec.maker_fee if maker else spec.taker_fee)
        realized = margin.apply_fill(pos, order.is_buy, qty, price)
        now = self.now()
        pos.update_ms = now
        self.credit(realized - fee)
        trade_id = self.counters.next("trade")
        if realized:
            self.book_income(spec.symbol, "REALIZED_PNL", realized, str(trade_id))
        self.book_income(spec.symbol, "COMMISSION", -fee, str(trade_id))
        self.advance(order, qty, notional, now)
        record = Fill(
            trade_id=trade_id,
            order_id=order.order_id,
            symbol=spec.symbol,
            kind="perp",
            side=order.side,
            price=price,
            qty=qty,
            quote_qty=notional,
            commission=fee,
            commission_asset=MARGIN_ASSET,
            maker=maker,
            time_ms=now,
            realized_pnl=realized,
        )
        self.state.fills.append(record)
        self.report(order, record, "TRADE")
        self.sink.emit("perp", futures_events.account_update(self, "ORDER", [spec.symbol]))
        self._expire_stale_reduce_only(spec.symbol, order.order_id)
        return record

    def _expire_stale_reduce_only(self, symbol: str, skip: int) -> None:
        pos = self.position(symbol)
        for order in list(self._open.get(symbol, {}).values()):
            if (
                order.reduce_only
                and order.order_id != skip
                and margin.closable(pos, order.is_buy) == ZERO
            ):
                self.finish(order, "EXPIRED")

    def book_income(self, symbol: str, kind: str, amount: Decimal, trade_id: str = "") -> None:
        self.state.income.append(
            Income(
                tran_id=self.counters.next("tran"),
                symbol=symbol,
                income_type=kind,
                income=amount,
                asset=MARGIN_ASSET,
                time_ms=self.now(),
                trade_id=trade_id,
            )
        )

    def report(self, order: Order, fill: Fill | None, exec_type: str) -> None:
        self.sink.emit(
            "perp", futures_events.order_trade_update(order, fill, exec_type, self.now())
        )

    # --- settings -----------------------------------------------------------------------------
    def set_leverage(self, symbol: str, leverage: int) -> Position:
        self.spec(symbol)
        if not 1 <= leverage <= 125:
            raise errors.TradingError(-4028, f"Leverage {leverage} is not valid")
        pos = self.position(symbol)
        pos.leverage = leverage
        self.sink.emit("perp", futures_events.leverage_update(symbol, leverage, self.now()))
        return pos

    def set_margin_type(self, symbol: str, margin_type: str) -> None:
        self.spec(symbol)
        wanted = {"ISOLATED": "isolated", "CROSSED": "cross"}.get(margin_type.upper())
        if wanted is None:
            raise errors.TradingError(-4044, "The margin type is invalid.")
        pos = self.position(symbol)
        if pos.margin_type == wanted:
            raise errors.TradingError(-4046, "No need to change margin type.")
        if pos.amount != ZERO:
            raise errors.TradingError(
                -4048, "Margin type cannot be changed if there exists position."
            )
        if self._open.get(symbol):
            raise errors.TradingError(
                -4047, "Margin type cannot be changed if there exists open orders."
            )
        pos.margin_type = wanted  # type: ignore[assignment]

    # --- market events ------------------------------------------------------------------------
    def on_trade(self, trade: TradePrint) -> None:
        """Fill resting limits the trade prints through (queue model)."""
        spec = self.markets.get(trade.symbol)
        if spec is None:
            return
        for order in list(self._open.get(trade.symbol, {}).values()):
            if not order.is_open:
                continue
            qty = self.queue_fill(order, trade)
            if order.reduce_only:
                qty = min(qty, margin.closable(self.position(trade.symbol), order.is_buy))
            if qty > ZERO:
                self.fill(order, spec, order.price, qty, maker=True)
                if order.remaining == ZERO:
                    self.finish(order, "FILLED", report=False)

    def on_funding(self, settlement: FundingSettlement) -> None:
        """Settle funding: a long pays ``rate * amount * mark`` (a short receives it)."""
        pos = self.state.positions.get(settlement.symbol)
        if pos is None or pos.amount == ZERO:
            return
        payment = pos.amount * settlement.mark_price * settlement.rate
        self.credit(-payment)
        self.book_income(settlement.symbol, "FUNDING_FEE", -payment)
        self.sink.emit(
            "perp", futures_events.account_update(self, "FUNDING_FEE", [settlement.symbol])
        )
