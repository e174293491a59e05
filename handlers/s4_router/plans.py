"""How each execution style turns an intent into venue orders (``OrderDesk`` legs).

Every plan is re-entrant: it is run again on a repeated intent and finds its legs by client order
id, so it continues where a previous run stopped instead of sending anything twice.

- MARKET: one market order.
- STOP_MARKET / TAKE_PROFIT_MARKET: one reduce-only futures algo order, plus a
  ``strategy_events(TP_SL_PLACED)`` row once the venue accepted it.
- MAKER_TAKER: a post-only order at our touch (the bid for a buy; capped by ``limit_price``)
  rests for ``maker_wait_ms`` (the intent's, else the config's); what has not filled by then is
  cancelled and taken with a market order. A post-only order that would cross is taken at once.
- TWAP: ``twap_slices`` market orders (see ``handlers.s4_router.twap``).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import ccxt

from chimera.domain.orders import OrderIntent
from handlers.s4_router.desk import Leg, OrderDesk
from handlers.s4_router.errors import IntentInvalid
from handlers.s4_router.ids import (
    LEG_CONDITIONAL,
    LEG_MAKER,
    LEG_MARKET,
    LEG_TAKER,
    client_order_id,
    slice_leg,
)
from handlers.s4_router.runtime import RouterMetrics, now_ms
from handlers.s4_router.store import OrderRecord

TP_SL_PLACED = "TP_SL_PLACED"


def lot(desk: OrderDesk, qty: Decimal, field: str = "qty") -> Decimal:
    """Return ``qty`` truncated to the lot size; ``IntentInvalid`` if nothing is left."""
    try:
        amount = desk.amount(qty)
    except ccxt.BaseError as exc:  # ccxt refuses amounts below the precision
        raise IntentInvalid(
            f"{qty} is below the lot size of {desk.symbol} - at `$.{field}`"
        ) from exc
    if amount <= 0:
        raise IntentInvalid(f"{qty} is below the lot size of {desk.symbol} - at `$.{field}`")
    return amount


def _reduce_only(intent: OrderIntent) -> bool:
    return intent.reduce_only and intent.market == "FUT"


def main_leg(desk: OrderDesk, intent: OrderIntent) -> Leg:
    """Return the single leg of a MARKET or conditional intent (validated against the market)."""
    qty = lot(desk, intent.qty)
    if intent.exec in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
        assert intent.trigger_price is not None
        return Leg(
            LEG_CONDITIONAL,
            intent.exec,
            intent.side,
            qty,
            trigger_price=desk.price(intent.trigger_price),
            reduce_only=True,
        )
    return Leg(LEG_MARKET, "MARKET", intent.side, qty, reduce_only=_reduce_only(intent))


def twap_legs(desk: OrderDesk, intent: OrderIntent) -> list[Leg]:
    """Split the intent into ``twap_slices`` market orders: equal lots, the last takes the rest."""
    total = lot(desk, intent.qty)
    count = intent.twap_slices
    each = lot(desk, total / count, "twap_slices")
    sizes = [each] * (count - 1) + [total - each * (count - 1)]
    return [
        Leg(slice_leg(i), "MARKET", intent.side, size, reduce_only=_reduce_only(intent))
        for i, size in enumerate(sizes)
    ]


async def run_single(desk: OrderDesk, leg: Leg) -> list[OrderRecord]:
    """Run a MARKET or conditional intent; record TP_SL_PLACED for an accepted leg."""
    return await after_single(desk, leg, await desk.ensure(leg))


async def after_single(desk: OrderDesk, leg: Leg, record: OrderRecord) -> list[OrderRecord]:
    """Finish a MARKET or conditional leg: a conditional leg at the venue is TP_SL_PLACED."""
    if leg.conditional and record.status == "NEW":
        await desk.store.add_event(
            f"{TP_SL_PLACED}:{record.client_order_id}",
            TP_SL_PLACED,
            record.symbol,
            record.intent_id,
            {
                "client_order_id": record.client_order_id,
                "venue_order_id": record.venue_order_id,
                "order_type": record.order_type,
                "purpose": record.purpose,
                "side": record.side,
                "qty": str(record.qty),
                "trigger_price": str(record.trigger_price),
                "pos_id": record.pos_id,
            },
            record.updated_ts_ms,
        )
    return [record]


async def run_maker_taker(
    desk: OrderDesk, intent: OrderIntent, metrics: RouterMetrics, wait_ms: int, poll_ms: int
) -> list[OrderRecord]:
    """Rest post-only at the touch for ``wait_ms``, then take what is left."""
    qty = lot(desk, intent.qty)
    existing = await desk.store.order(client_order_id(intent.intent_id, LEG_MAKER))
    if existing is not None:
        maker = await desk.ensure(
            Leg(LEG_MAKER, "LIMIT_MAKER", intent.side, existing.qty, price=existing.price)
        )
    else:
        book = await desk.book()
        touch = book.touch(intent.side)
        if touch is None:
            return [await _take(desk, intent, qty)]
        if intent.limit_price is not None:
            capped = (
                min(touch, intent.limit_price)
                if intent.side == "buy"
                else max(touch, intent.limit_price)
            )
            touch = capped
        leg = Leg(LEG_MAKER, "LIMIT_MAKER", intent.side, qty, price=desk.price(touch))
        maker = await desk.ensure(leg, book)
    if maker.status in ("PENDING", "UNKNOWN"):
        return [maker]
    if maker.status == "REJECTED" and not maker.message.startswith("POST_ONLY_WOULD_CROSS"):
        return [maker]  # refused for another reason (funds, filters): a taker would be too
    deadline = maker.created_ts_ms + wait_ms
    while maker.status in ("NEW", "PARTIALLY_FILLED") and now_ms() < deadline:
        await asyncio.sleep(min(poll_ms, max(1, deadline - now_ms())) / 1000)
        maker = await desk.refresh(maker)
    timed_out = maker.status in ("NEW", "PARTIALLY_FILLED")
    if timed_out:
        maker = await desk.cancel(maker)
    rest = qty - maker.filled_qty
    if rest <= 0 or maker.status in ("PENDING", "UNKNOWN"):
        return [maker]
    try:
        rest = desk.amount(rest)
    except ccxt.BaseError:
        return [maker]  # less than one lot is left: nothing more can be sent
    if rest <= 0:
        return [maker]
    taker = await _take(desk, intent, rest)
    if timed_out:
        await metrics.maker_timeout(desk.redis, intent.symbol)
    return [maker, taker]


async def _take(desk: OrderDesk, intent: OrderIntent, qty: Decimal) -> OrderRecord:
    leg = Leg(LEG_TAKER, "MARKET", intent.side, qty, reduce_only=_reduce_only(intent))
    return await desk.ensure(leg)


__all__ = [
    "TP_SL_PLACED",
    "after_single",
    "lot",
    "main_leg",
    "run_maker_taker",
    "run_single",
    "twap_legs",
]
