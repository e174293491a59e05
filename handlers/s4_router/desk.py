"""The orders of one intent at the venue: send each leg once, record every state, resolve unknowns.

``ensure(leg)`` is idempotent: a leg whose ``orders`` row exists is not sent again but brought up
to date, so routing an intent twice (a redelivery, a repeated ``POST /orders``, a resumed TWAP)
walks the same legs and finds them done.

**A timeout means UNKNOWN.** A send that fails without a venue answer (ccxt ``NetworkError``:
timeout, 5xx, 429, dropped connection) leaves the row ``UNKNOWN``; the order is then looked up by
its client order id. Found: adopted. Absent: it is re-sent, under the same client order id, only
once ``router.unknown_resend_after_ms`` has passed since it was sent — until then the original
request might still land — so one intent never makes two orders.

What a person should know (a refusal, an order left unknown, fills found late by a re-read) is
written to ``alerts`` by ``handlers.s4_router.alerts``.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Literal, Protocol

import ccxt
import msgspec

from chimera.config.router import RouterConfig
from chimera.domain.orders import Fill, OrderIntent, OrderResult, OrderStatus, Purpose, Side
from chimera.venues import orders as venue
from chimera.venues.ccxt_factory import Exchange
from chimera_workers.connections import RedisClient
from handlers.s4_router import alerts
from handlers.s4_router.book import BookSnapshot, book_snapshot, slippage_bps
from handlers.s4_router.ids import client_order_id
from handlers.s4_router.runtime import now_ms
from handlers.s4_router.store import OrderRecord, OrderStore

OrderType = Literal["MARKET", "LIMIT_MAKER", "STOP_MARKET", "TAKE_PROFIT_MARKET", "STOP_LOSS_LIMIT"]
CONDITIONAL_TYPES = frozenset({"STOP_MARKET", "TAKE_PROFIT_MARKET"})


class ResultSink(Protocol):
    """Where ``OrderResult``s go: ``ord:{results}`` with a handler's ack, or directly."""

    async def publish(self, result: OrderResult) -> None:
        """Publish one state change."""


class Leg(msgspec.Struct, frozen=True):
    """One venue order an intent needs."""

    leg: str
    order_type: OrderType
    side: Side
    qty: Decimal
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    reduce_only: bool = False
    purpose: Purpose | None = None  # None: the intent's (bracket exits are TP / SL / EXIT)

    @property
    def conditional(self) -> bool:
        """Return whether this is a futures algo (conditional) order."""
        return self.order_type in CONDITIONAL_TYPES


class OrderDesk:
    """Sends and tracks the legs of ``intent`` on ``exchange`` (``symbol``: ccxt's symbol)."""

    def __init__(
        self,
        *,
        intent: OrderIntent,
        store: OrderStore,
        redis: RedisClient,
        exchange: Exchange,
        symbol: str,
        config: RouterConfig,
        sink: ResultSink,
    ) -> None:
        self.intent = intent
        self.store = store
        self.redis = redis
        self.exchange = exchange
        self.symbol = symbol
        self.config = config
        self.sink = sink
        self._books: dict[str, BookSnapshot] = {}
        self._pending: asyncio.Task[None] | None = None

    # --- the book -------------------------------------------------------------------------
    async def book(self) -> BookSnapshot:
        """Return the book now (S1's latest when fresh, else the venue's)."""
        return await book_snapshot(
            self.redis,
            self.exchange,
            self.intent.market,
            self.intent.symbol,
            now_ms=now_ms(),
            max_age_ms=self.config.book_max_age_ms,
        )

    def amount(self, qty: Decimal) -> Decimal:
        """Return ``qty`` truncated to the market's lot size."""
        return Decimal(self.exchange.amount_to_precision(self.symbol, str(qty)))

    def price(self, value: Decimal) -> Decimal:
        """Return ``value`` rounded to the market's tick size."""
        return Decimal(self.exchange.price_to_precision(self.symbol, str(value)))

    # --- legs -----------------------------------------------------------------------------
    async def ensure(self, leg: Leg, book: BookSnapshot | None = None) -> OrderRecord:
        """Make sure ``leg`` exists at the venue exactly once; return its row.

        The row is inserted first (the insert is the claim: a row that exists already means
        the leg was sent before); the book is read while the insert runs.
        """
        coid = client_order_id(self.intent.intent_id, leg.leg)
        record = self.new_record(coid, leg)
        if book is None and not leg.conditional:
            inserted, book = await asyncio.gather(self.store.insert_order(record), self.book())
        else:
            inserted = await self.store.insert_order(record)
        if inserted:
            self._publish_soon(record.result())
            return await self._send(record, leg, book)
        existing = await self.store.order(coid)
        assert existing is not None
        if existing.status in ("PENDING", "UNKNOWN"):
            return await self.resolve(existing, leg)
        return existing

    async def send_claimed(
        self, record: OrderRecord, leg: Leg, book: BookSnapshot | None
    ) -> OrderRecord:
        """Send ``leg`` whose PENDING row this call has just inserted."""
        self._publish_soon(record.result())
        return await self._send(record, leg, book)

    def _publish_soon(self, result: OrderResult) -> None:
        # Published while the order is on its way; ``publish`` waits for it, keeping the order.
        self._pending = asyncio.create_task(self._after_pending(result))

    async def _after_pending(self, result: OrderResult) -> None:
        await self.sink.publish(result)

    async def publish(self, result: OrderResult) -> None:
        """Publish a state change after any earlier one still in flight."""
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending
        await self.sink.publish(result)

    async def flush(self) -> None:
        """Wait for a state change still being published."""
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending

    def new_record(self, coid: str, leg: Leg) -> OrderRecord:
        """Return the PENDING row of ``leg`` (not yet written)."""
        ts = now_ms()
        i = self.intent
        return OrderRecord(
            client_order_id=coid,
            intent_id=i.intent_id,
            market=i.market,
            symbol=i.symbol,
            side=leg.side,
            order_type=leg.order_type,
            purpose=leg.purpose or i.purpose,
            status="PENDING",
            qty=leg.qty,
            created_ts_ms=ts,
            updated_ts_ms=ts,
            price=leg.price,
            trigger_price=leg.trigger_price,
            reduce_only=leg.reduce_only,
            pos_id=i.pos_id,
            signal_id=i.signal_id,
        )

    async def _place(self, leg: Leg, coid: str) -> venue.VenueOrder:
        if leg.order_type == "MARKET":
            return await venue.place_market(
                self.exchange, self.symbol, leg.side, leg.qty, coid, reduce_only=leg.reduce_only
            )
        if leg.order_type == "LIMIT_MAKER":
            assert leg.price is not None
            return await venue.place_post_only(
                self.exchange, self.symbol, leg.side, leg.qty, leg.price, coid
            )
        # An OCO's legs are sent together by ``handlers.s4_router.oco``, never one by one.
        assert leg.trigger_price is not None and leg.order_type != "STOP_LOSS_LIMIT"
        return await venue.place_conditional(
            self.exchange,
            self.symbol,
            leg.order_type,
            leg.side,
            leg.qty,
            leg.trigger_price,
            coid,
        )

    async def _send(self, record: OrderRecord, leg: Leg, book: BookSnapshot | None) -> OrderRecord:
        if not leg.conditional:
            self._books[record.client_order_id] = book or await self.book()
        try:
            placed = await self._place(leg, record.client_order_id)
        except (ccxt.OrderImmediatelyFillable, ccxt.OrderNotFillable) as exc:
            reason = "WOULD_TRIGGER_NOW" if leg.conditional else "POST_ONLY_WOULD_CROSS"
            return await self._set(record, "REJECTED", f"{reason}: {_brief(exc)}")
        except ccxt.DuplicateOrderId as exc:
            return await self._duplicate(record, leg, exc)
        except ccxt.NetworkError as exc:
            record = await self._set(record, "UNKNOWN", f"send failed: {_brief(exc)}")
            return await self.resolve(record, leg)
        except ccxt.InvalidOrder as exc:
            if "Duplicate" in str(exc) or "-4116" in str(exc):
                return await self._duplicate(record, leg, exc)
            return await self._set(record, "REJECTED", _brief(exc))
        except ccxt.ExchangeError as exc:
            return await self._set(record, "REJECTED", _brief(exc))
        return await self.adopt(record, placed)

    async def _duplicate(self, record: OrderRecord, leg: Leg, exc: Exception) -> OrderRecord:
        # The venue holds an open order with this id although a lookup may have said otherwise
        # (it lags): UNKNOWN restarts the re-send window, so the lookup is retried, never a
        # loop of re-sends.
        record = await self._set(record, "UNKNOWN", f"duplicate client order id: {_brief(exc)}")
        return await self.resolve(record, leg)

    async def resolve(self, record: OrderRecord, leg: Leg) -> OrderRecord:
        """Settle a PENDING / UNKNOWN order by looking it up; re-send only when safe."""
        try:
            found = await venue.find_order(
                self.exchange, self.symbol, record.client_order_id, conditional=leg.conditional
            )
        except ccxt.NetworkError:
            await alerts.on_unresolved(self, record)
            return record
        if found is not None:
            return await self.adopt(record, found)
        if now_ms() - record.updated_ts_ms >= self.config.unknown_resend_after_ms:
            return await self._send(record, leg, None)
        if record.status == "PENDING":
            changed = msgspec.structs.replace(
                record, status="UNKNOWN", message="not at the venue yet; re-sent later if absent"
            )
            await self.store.update_order(changed)
            await self.publish(changed.result())
            record = changed
        await alerts.on_unresolved(self, record)
        return record

    async def refresh(self, record: OrderRecord) -> OrderRecord:
        """Bring an open order's row up to date from the venue."""
        conditional = record.order_type in CONDITIONAL_TYPES
        try:
            found = await venue.find_order(
                self.exchange, self.symbol, record.client_order_id, conditional=conditional
            )
            if found is not None and found.actual_order_id is not None:
                return await self._follow_trigger(record, found, found.actual_order_id)
        except ccxt.NetworkError:
            return record
        return record if found is None else await self._adopt_found(record, found, found.ts_ms)

    async def _adopt_found(
        self, record: OrderRecord, order: venue.VenueOrder, executed_ts_ms: int
    ) -> OrderRecord:
        # A re-read, not a send's answer: fills it finds may have been missed for a while.
        updated = await self.adopt(record, order)
        if updated.filled_qty > record.filled_qty:
            await alerts.on_fills_found(self, updated, executed_ts_ms)
        return updated

    async def _follow_trigger(
        self, record: OrderRecord, algo: venue.VenueOrder, actual_id: str
    ) -> OrderRecord:
        """Record a triggered conditional leg as the regular order it became (with its fills).

        The row keeps its client order id and type; ``venue_order_id`` becomes the executing
        order's id, whose fills are the leg's fills.
        """
        actual = await venue.fetch_order_by_id(self.exchange, self.symbol, actual_id)
        if actual is None:  # triggered, but the order it became is not visible yet
            return record
        return await self._adopt_found(
            record, msgspec.structs.replace(actual, trigger_price=algo.trigger_price), actual.ts_ms
        )

    async def cancel(self, record: OrderRecord) -> OrderRecord:
        """Cancel an open order at the venue and record its final state."""
        conditional = record.order_type in CONDITIONAL_TYPES
        cancelled = await venue.cancel_order(
            self.exchange, self.symbol, record.client_order_id, conditional=conditional
        )
        if cancelled is None:  # not open any more (or never existed): read what it became
            cancelled = await venue.find_order(
                self.exchange, self.symbol, record.client_order_id, conditional=conditional
            )
        if cancelled is None:
            return await self._set(record, "CANCELED", "not at the venue")
        return await self.adopt(record, cancelled)

    def remember_book(self, client_order_id: str, book: BookSnapshot) -> None:
        """Use ``book`` as the send-time book of ``client_order_id``'s fills in this process."""
        self._books[client_order_id] = book

    async def set_status(
        self, record: OrderRecord, status: OrderStatus, message: str = ""
    ) -> OrderRecord:
        """Record a state S4 decided itself (UNKNOWN, REJECTED, ...) and publish it."""
        return await self._set(record, status, message)

    # --- recording ------------------------------------------------------------------------
    async def adopt(self, record: OrderRecord, order: venue.VenueOrder) -> OrderRecord:
        """Record what the venue says about the order (fills first, then the row)."""
        if order.filled_qty > record.filled_qty and not order.conditional:
            await self._record_fills(record, order)
        changed = msgspec.structs.replace(
            record,
            status=order.status,
            filled_qty=order.filled_qty,
            avg_price=order.avg_price,
            venue_order_id=order.venue_order_id,
            price=order.price or record.price,
            trigger_price=order.trigger_price or record.trigger_price,
            message="",
            updated_ts_ms=now_ms(),
        )
        if _same_state(changed, record):
            return record
        await self.store.update_order(changed)
        await self.publish(changed.result())
        return changed

    async def _record_fills(self, record: OrderRecord, order: venue.VenueOrder) -> None:
        executions = list(order.fills)
        if sum((f.qty for f in executions), Decimal(0)) < order.filled_qty:
            executions = await venue.fetch_fills(self.exchange, self.symbol, order.venue_order_id)
        book = self._books.get(record.client_order_id)
        mid = book.mid if book is not None else None
        top3 = book.far_top3(record.side) if book is not None else ()
        await self.store.insert_fills(
            [
                Fill(
                    trade_id=f"{record.market}:{f.trade_id}",
                    client_order_id=record.client_order_id,
                    intent_id=record.intent_id,
                    symbol=record.symbol,
                    side=record.side,
                    price=f.price,
                    qty=f.qty,
                    fee=f.fee,
                    fee_asset=f.fee_asset,
                    is_maker=f.is_maker,
                    mid_at_send=mid,
                    top3=top3,
                    slippage_bps=slippage_bps(record.side, f.price, mid),
                    ts_ms=f.ts_ms,
                )
                for f in executions
            ]
        )

    async def _set(self, record: OrderRecord, status: OrderStatus, message: str) -> OrderRecord:
        changed = msgspec.structs.replace(
            record, status=status, message=message[:500], updated_ts_ms=now_ms()
        )
        await self.store.update_order(changed)
        await self.publish(changed.result())
        await alerts.on_rejected(self, changed)
        return changed


def _same_state(a: OrderRecord, b: OrderRecord) -> bool:
    return (a.status, a.filled_qty, a.venue_order_id) == (b.status, b.filled_qty, b.venue_order_id)


def _brief(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


__all__ = ["CONDITIONAL_TYPES", "Leg", "OrderDesk", "OrderType", "ResultSink"]
