"""Follow the conditional legs the venue triggered (spec S4: ``orders`` at every state, ``fills``).

A futures stop-loss / take-profit is an algo order at the venue; when its trigger price trades
it becomes a regular market order, whose fills are the leg's. The scheduled ``s4-conditionals``
tick (one worker cluster-wide) lists each symbol's open algo orders once, and every leg S4 has
open (or marked done with nothing filled) that the venue no longer lists is looked up by client
order id and recorded: ``orders`` (FILLED with its quantity and average price, or CANCELED /
EXPIRED), ``fills`` (``mid_at_send`` / ``top3`` / ``slippage_bps`` are NULL: no book was read
for a send S4 did not make), and an ``OrderResult`` on ``ord:{results}`` for S6.

When one leg of a protective pair fills (``<entry>[:<leg>]:sl`` and ``...:tp``), the other is
cancelled: the position that pair covered is closed, and a reduce-only order left behind would
eat into the next position on the same side.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

import ccxt.async_support as ccxt

from chimera.venues import orders as venue
from handlers.s4_router.errors import IntentBusy, IntentNotFound
from handlers.s4_router.router import CancelRequest, Router
from handlers.s4_router.runtime import ccxt_symbol
from handlers.s4_router.store import OrderRecord

log = logging.getLogger(__name__)
_PAIR = {":sl": ":tp", ":tp": ":sl"}
_SIBLING_ATTEMPTS = 5


def sibling_intent_id(intent_id: str) -> str | None:
    """Return the other leg of a protective pair (``…:sl`` ↔ ``…:tp``), or None."""
    suffix = intent_id[-3:]
    other = _PAIR.get(suffix)
    return None if other is None else intent_id[:-3] + other


async def follow_conditionals(router: Router, *, limit: int = 500) -> int:
    """Record every triggered or vanished conditional leg; return how many rows changed."""
    by_symbol: dict[tuple[str, str], list[OrderRecord]] = defaultdict(list)
    for record in await router.store.open_conditionals(limit):
        by_symbol[(record.market, record.symbol)].append(record)
    changed = 0
    for (market, symbol), records in by_symbol.items():
        exchange = await router.runtime.venues.exchange(market)  # type: ignore[arg-type]
        try:
            still_open = await venue.open_conditional_ids(
                exchange,
                ccxt_symbol(exchange, market, symbol),  # type: ignore[arg-type]
            )
        except ccxt.NetworkError as exc:
            log.warning("%s %s: open conditional orders unreadable: %s", market, symbol, exc)
            continue
        for record in records:
            if record.status != "FILLED" and record.client_order_id in still_open:
                continue
            if await _follow(router, record):
                changed += 1
    return changed


async def _follow(router: Router, record: OrderRecord) -> bool:
    stored = await router.store.intent(record.intent_id)
    if stored is None:
        log.warning("order %s has no stored intent; left to S5", record.client_order_id)
        return False
    desk = await router.desk(stored[0])
    try:
        async with router.locked(record.intent_id, wait=False):
            updated = await desk.refresh(record)
    except IntentBusy:
        return False  # the intent is being routed right now; the next tick looks again
    if updated.status == "FILLED" and updated.filled_qty > 0:
        await _cancel_sibling(router, record.intent_id)
    return updated is not record


async def _cancel_sibling(router: Router, intent_id: str) -> None:
    sibling = sibling_intent_id(intent_id)
    if sibling is None:
        return
    request = CancelRequest(intent_id=sibling, reason=f"{intent_id} filled: the position is closed")
    for attempt in range(_SIBLING_ATTEMPTS):
        try:
            await router.cancel(request)
            return
        except IntentNotFound:
            return
        except IntentBusy:
            await asyncio.sleep(0.2 * (attempt + 1))
    log.error("could not cancel %s after %s filled: its lock stayed busy", sibling, intent_id)


__all__ = ["follow_conditionals", "sibling_intent_id"]
