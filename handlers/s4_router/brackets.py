"""What OCO and GUARD entries share: the market buy, the quantity to protect, the watch index.

Both are SPOT long entries (``validation.check_bracket``): S4 buys ``qty`` at market (leg ``mk``),
then protects what was bought — net of any commission the venue took in the base asset, cut to
the lot size — with a take-profit above and a stop below. Before anything is written, a new
intent's take-profit must be above the ask (the price the buy will pay) and its stop below the
bid, else 422 naming the field.

The ``s4-guard`` binding finds the intents to look at through two ZSETs per symbol
(``names.guard_below_index_key`` / ``guard_above_index_key``, member: the intent id), scored by
the price at or below which (the stop) and at or above which (the take-profit) something may
have happened; one round trip per market event returns only the members it concerns.
"""

from __future__ import annotations

from decimal import Decimal

import ccxt

from chimera import names
from chimera.domain.orders import OrderIntent
from chimera_workers.connections import RedisClient
from handlers.s4_router import plans
from handlers.s4_router.desk import Leg, OrderDesk
from handlers.s4_router.errors import IntentUnprocessable
from handlers.s4_router.ids import LEG_MARKET, LEG_PROTECT_EXIT, client_order_id
from handlers.s4_router.store import OrderRecord

UNSETTLED = frozenset({"PENDING", "UNKNOWN"})


async def check_book(desk: OrderDesk, intent: OrderIntent) -> None:
    """Refuse (422) a new bracket whose take-profit is not above the ask or stop not below the bid.

    Skipped once the intent's market buy exists: a repeat must continue, whatever the market did.
    """
    assert intent.tp_price is not None and intent.sl_price is not None
    if await desk.store.order(client_order_id(intent.intent_id, LEG_MARKET)) is not None:
        return
    book = await desk.book()
    ask, bid = book.touch("sell"), book.touch("buy")
    if ask is not None and intent.tp_price <= ask:
        raise IntentUnprocessable(
            f"take-profit {intent.tp_price} is not above the entry side (ask {ask})"
            " - at `$.tp_price`",
            hint="a long's take-profit must be above the price the buy pays",
        )
    if bid is not None and intent.sl_price >= bid:
        raise IntentUnprocessable(
            f"stop {intent.sl_price} is not below the bid {bid} - at `$.sl_price`",
            hint="a long's stop must be below the price it could sell at now",
        )


async def buy(desk: OrderDesk, intent: OrderIntent) -> OrderRecord:
    """Make sure the entry's market buy exists exactly once; return its row."""
    return await desk.ensure(Leg(LEG_MARKET, "MARKET", "buy", plans.lot(desk, intent.qty)))


async def protected_qty(desk: OrderDesk, entry: OrderRecord) -> Decimal:
    """Return what the exits sell: the bought quantity less base-asset fees, in whole lots."""
    if entry.status in UNSETTLED or entry.filled_qty <= 0:
        return Decimal(0)
    base = str(desk.exchange.markets[desk.symbol]["base"])
    fee = await desk.store.pool.fetchval(
        "SELECT COALESCE(sum(fee), 0) FROM fills WHERE client_order_id = $1 AND fee_asset = $2",
        entry.client_order_id,
        base,
    )
    try:
        return desk.amount(entry.filled_qty - Decimal(fee))
    except ccxt.BaseError:
        return Decimal(0)  # less than one lot


async def exit_at_market(desk: OrderDesk, qty: Decimal) -> OrderRecord:
    """Sell ``qty`` at market (leg ``px``): the bracket was already hit when it was placed."""
    return await desk.ensure(Leg(LEG_PROTECT_EXIT, "MARKET", "sell", qty, purpose="EXIT"))


async def watch(
    redis: RedisClient, symbol: str, intent_id: str, *, below: Decimal, above: Decimal
) -> None:
    """Put ``intent_id`` in the symbol's watch indexes (stop ``below``, take-profit ``above``)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(names.guard_below_index_key(symbol), {intent_id: float(below)})
        pipe.zadd(names.guard_above_index_key(symbol), {intent_id: float(above)})
        await pipe.execute()


async def unwatch(redis: RedisClient, symbol: str, intent_id: str) -> None:
    """Take ``intent_id`` out of the symbol's watch indexes."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrem(names.guard_below_index_key(symbol), intent_id)
        pipe.zrem(names.guard_above_index_key(symbol), intent_id)
        await pipe.execute()


async def watched(
    redis: RedisClient, symbol: str, low: Decimal, high: Decimal
) -> tuple[list[str], list[str]]:
    """Return (intents whose stop is at or above ``low``, whose take-profit is at or below
    ``high``): one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrangebyscore(names.guard_below_index_key(symbol), float(low), "+inf")
        pipe.zrangebyscore(names.guard_above_index_key(symbol), "-inf", float(high))
        below, above = await pipe.execute()
    return [_text(m) for m in below], [_text(m) for m in above]


def _text(member: bytes | str) -> str:
    return member.decode() if isinstance(member, bytes) else member


__all__ = [
    "UNSETTLED",
    "buy",
    "check_book",
    "exit_at_market",
    "protected_qty",
    "unwatch",
    "watch",
    "watched",
]
