"""SPOT OCO entries: a market buy, then one native SELL OCO for what was bought.

The OCO (``POST /api/v3/orderList/oco`` through ccxt's ``privatePostOrderListOco``) has a
take-profit ``LIMIT_MAKER`` at ``tp_price`` (leg ``ot``) and a ``STOP_LOSS_LIMIT`` stop at
``sl_price`` (leg ``os``) whose limit is ``router.oco_stop_limit_bps`` below the stop; the list's
``listClientOrderId`` is leg ``ol``. Each leg is an ``orders`` row from PENDING on; both rows are
claimed (the ``ot`` insert is the claim) before the one request is sent.

Idempotent like every leg: a repeat finds the rows and brings them up to date from the venue by
their client order ids; a send without an answer is UNKNOWN, looked up by client order id, and
re-sent (same ids) only once ``router.unknown_resend_after_ms`` has passed. When a leg fills the
venue expires the other; the filled leg's fills go to ``fills``. A bracket the market has already
crossed (the take-profit would take, or the stop would trigger, as the OCO is placed) is recorded
REJECTED on both legs and what was bought is sold at market (leg ``px``).
"""

from __future__ import annotations

from decimal import Decimal

import ccxt

from chimera.domain.orders import OrderIntent, OrderStatus
from chimera.venues import orders as venue
from chimera_workers.connections import RedisClient
from handlers.s4_router import brackets
from handlers.s4_router.desk import Leg, OrderDesk
from handlers.s4_router.ids import LEG_OCO_LIST, LEG_OCO_SL, LEG_OCO_TP, client_order_id
from handlers.s4_router.runtime import now_ms
from handlers.s4_router.store import OrderRecord

_BPS = Decimal(10_000)
_DONE = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED"})


def legs(desk: OrderDesk, intent: OrderIntent, qty: Decimal) -> tuple[Leg, Leg]:
    """Return the take-profit and stop legs selling ``qty``, on the market's ticks."""
    assert intent.tp_price is not None and intent.sl_price is not None
    stop = desk.price(intent.sl_price)
    limit = desk.price(stop * (1 - Decimal(desk.config.oco_stop_limit_bps) / _BPS))
    return (
        Leg(
            LEG_OCO_TP, "LIMIT_MAKER", "sell", qty, price=desk.price(intent.tp_price), purpose="TP"
        ),
        Leg(
            LEG_OCO_SL,
            "STOP_LOSS_LIMIT",
            "sell",
            qty,
            price=limit,
            trigger_price=stop,
            purpose="SL",
        ),
    )


async def run(desk: OrderDesk, intent: OrderIntent, redis: RedisClient) -> list[OrderRecord]:
    """Buy, then make sure the OCO exists exactly once; return every order of the intent."""
    entry = await brackets.buy(desk, intent)
    qty = await brackets.protected_qty(desk, entry)
    if qty > 0:
        tp, sl = await ensure(desk, *legs(desk, intent, qty))
        await _watch_or_exit(desk, intent, redis, tp, sl, qty)
    return await desk.store.orders_of(intent.intent_id)


async def _watch_or_exit(
    desk: OrderDesk,
    intent: OrderIntent,
    redis: RedisClient,
    tp: OrderRecord,
    sl: OrderRecord,
    qty: Decimal,
) -> None:
    if tp.is_open or sl.is_open:
        assert tp.price is not None and sl.trigger_price is not None
        await brackets.watch(
            redis, intent.symbol, intent.intent_id, below=sl.trigger_price, above=tp.price
        )
        return
    await brackets.unwatch(redis, intent.symbol, intent.intent_id)
    if tp.status == "REJECTED" and tp.message.startswith("BRACKET_ALREADY_HIT"):
        await brackets.exit_at_market(desk, qty)


async def ensure(desk: OrderDesk, tp_leg: Leg, sl_leg: Leg) -> tuple[OrderRecord, OrderRecord]:
    """Make sure the OCO of these legs was placed exactly once; return both rows, up to date."""
    intent_id = desk.intent.intent_id
    tp = desk.new_record(client_order_id(intent_id, tp_leg.leg), tp_leg)
    sl = desk.new_record(client_order_id(intent_id, sl_leg.leg), sl_leg)
    if await desk.store.insert_order(tp):
        await desk.store.insert_order(sl)
        await desk.publish(tp.result())
        await desk.publish(sl.result())
        return await _send(desk, tp, sl)
    stored_tp = await desk.store.order(tp.client_order_id)
    stored_sl = await desk.store.order(sl.client_order_id)
    assert stored_tp is not None
    if stored_sl is None:  # the process stopped between the two inserts: nothing was sent
        await desk.store.insert_order(sl)
        stored_sl = sl
    tp, sl = stored_tp, stored_sl
    if tp.status in brackets.UNSETTLED or sl.status in brackets.UNSETTLED:
        return await resolve(desk, tp, sl)
    if tp.is_open or sl.is_open:
        return await refresh(desk, tp, sl)
    return tp, sl


async def _send(
    desk: OrderDesk, tp: OrderRecord, sl: OrderRecord
) -> tuple[OrderRecord, OrderRecord]:
    book = await desk.book()
    desk.remember_book(tp.client_order_id, book)
    desk.remember_book(sl.client_order_id, book)
    assert tp.price is not None and sl.price is not None
    above = venue.OcoLeg("LIMIT_MAKER", tp.price, tp.client_order_id)
    below = venue.OcoLeg("STOP_LOSS_LIMIT", sl.price, sl.client_order_id, sl.trigger_price)
    list_id = client_order_id(desk.intent.intent_id, LEG_OCO_LIST)
    market_id = str(desk.exchange.markets[desk.symbol]["id"])
    try:
        _, placed = await venue.place_oco(
            desk.exchange, market_id, "sell", tp.qty, above, below, list_id
        )
    except ccxt.OrderImmediatelyFillable as exc:
        return await _both(desk, tp, sl, "REJECTED", f"BRACKET_ALREADY_HIT: {exc}")
    except ccxt.DuplicateOrderId:
        return await resolve(desk, tp, sl)
    except ccxt.NetworkError as exc:
        tp, sl = await _both(desk, tp, sl, "UNKNOWN", f"send failed: {type(exc).__name__}: {exc}")
        return await resolve(desk, tp, sl)
    except ccxt.InvalidOrder as exc:
        if "Duplicate" in str(exc):
            return await resolve(desk, tp, sl)
        return await _both(desk, tp, sl, "REJECTED", f"{type(exc).__name__}: {exc}")
    except ccxt.ExchangeError as exc:
        return await _both(desk, tp, sl, "REJECTED", f"{type(exc).__name__}: {exc}")
    by_id = {order.client_order_id: order for order in placed}
    return await _adopt(desk, tp, sl, by_id.get(tp.client_order_id), by_id.get(sl.client_order_id))


async def _both(
    desk: OrderDesk, tp: OrderRecord, sl: OrderRecord, status: OrderStatus, message: str
) -> tuple[OrderRecord, OrderRecord]:
    return (
        await desk.set_status(tp, status, message),
        await desk.set_status(sl, status, message),
    )


async def _adopt(
    desk: OrderDesk,
    tp: OrderRecord,
    sl: OrderRecord,
    found_tp: venue.VenueOrder | None,
    found_sl: venue.VenueOrder | None,
) -> tuple[OrderRecord, OrderRecord]:
    # The leg that did not fill first: its fill (if any) comes after the other leg's ending.
    if found_tp is not None:
        tp = await desk.adopt(tp, found_tp)
    if found_sl is not None:
        sl = await desk.adopt(sl, found_sl)
    return tp, sl


async def _lookup(
    desk: OrderDesk, tp: OrderRecord, sl: OrderRecord
) -> tuple[venue.VenueOrder | None, venue.VenueOrder | None] | None:
    try:
        return (
            await venue.find_order(desk.exchange, desk.symbol, tp.client_order_id),
            await venue.find_order(desk.exchange, desk.symbol, sl.client_order_id),
        )
    except ccxt.NetworkError:
        return None


async def resolve(
    desk: OrderDesk, tp: OrderRecord, sl: OrderRecord
) -> tuple[OrderRecord, OrderRecord]:
    """Settle an OCO whose send had no answer: adopt it if the venue has it, else re-send late."""
    found = await _lookup(desk, tp, sl)
    if found is None:
        return tp, sl
    if found[0] is not None or found[1] is not None:
        return await _adopt(desk, tp, sl, *found)
    if now_ms() - tp.updated_ts_ms >= desk.config.unknown_resend_after_ms:
        return await _send(desk, tp, sl)
    if tp.status == "PENDING":
        note = "not at the venue yet; re-sent later if absent"
        return await _both(desk, tp, sl, "UNKNOWN", note)
    return tp, sl


async def refresh(
    desk: OrderDesk, tp: OrderRecord, sl: OrderRecord
) -> tuple[OrderRecord, OrderRecord]:
    """Bring both legs' rows (and a filled leg's fills) up to date from the venue."""
    found = await _lookup(desk, tp, sl)
    return (tp, sl) if found is None else await _adopt(desk, tp, sl, *found)


async def follow(desk: OrderDesk, redis: RedisClient) -> tuple[OrderRecord, OrderRecord] | None:
    """Refresh an accepted OCO intent's legs (the s4-guard binding); unwatch it once done."""
    intent = desk.intent
    tp = await desk.store.order(client_order_id(intent.intent_id, LEG_OCO_TP))
    sl = await desk.store.order(client_order_id(intent.intent_id, LEG_OCO_SL))
    if tp is None or sl is None:
        return None
    if tp.status in brackets.UNSETTLED or sl.status in brackets.UNSETTLED:
        tp, sl = await resolve(desk, tp, sl)
    elif tp.is_open or sl.is_open:
        tp, sl = await refresh(desk, tp, sl)
    if tp.status in _DONE and sl.status in _DONE:
        await brackets.unwatch(redis, intent.symbol, intent.intent_id)
    return tp, sl


__all__ = ["ensure", "follow", "legs", "refresh", "resolve", "run"]
