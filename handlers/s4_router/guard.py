"""The ``s4-guard`` binding: watch SPOT market events for armed guards and open OCOs.

Bound to ``mkt:events:{spot}:<SYMBOL>`` (payload ``chimera.domain.market:MarketEvent``). For
each book or trade event one round trip reads the symbol's watch indexes (``brackets.watched``:
a book's bid for stops, its ask for take-profits; a trade's price for both), so an event that
concerns nobody costs one read and no SCAN. For each intent it returns, under the intent's
fenced lock (``lock:{exec}:intent:<id>``, not waited for: a busy intent is being handled by
another worker or by the router, and the next event looks again):

- a GUARD at or below its trigger fires (``guardstop.fire``: cancel the take-profit first, then
  sell the rest at market, exactly once);
- a GUARD at or above its take-profit has the take-profit re-read; filled, the guard disarms;
- an OCO at either price has both legs re-read; the filled leg's fills are written and, once both
  legs are done, the intent leaves the indexes.

Re-reads (not firings) of one intent happen at most every ``router.exit_check_ms`` per process.
Results go straight to ``ord:{results}``. The worker needs the ``s4_router`` resource.
"""

from __future__ import annotations

import time
from decimal import Decimal

import ccxt

from chimera.domain.market import BookEvent, MarketEvent, TradeEvent
from chimera_workers.context import Context
from handlers.s4_router import brackets, guardstop, oco
from handlers.s4_router.errors import IntentBusy, IntentInvalid
from handlers.s4_router.handlers import RedisSink, router_for
from handlers.s4_router.router import Router

_MAX_REMEMBERED = 10_000


class _Throttle:
    """When each intent's exit legs were last re-read by this process."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}

    def due(self, intent_id: str, interval_ms: int) -> bool:
        now = time.monotonic() * 1000
        if now - self.last.get(intent_id, -1e18) < interval_ms:
            return False
        if len(self.last) >= _MAX_REMEMBERED:
            self.last.clear()
        self.last[intent_id] = now
        return True


_THROTTLE = _Throttle()


def prices(event: MarketEvent) -> tuple[Decimal, Decimal] | None:
    """Return (price a stop is checked against, price a take-profit is checked against)."""
    ev = event.event
    if isinstance(ev, BookEvent):
        return None if ev.crossed else (ev.bid, ev.ask)
    if isinstance(ev, TradeEvent):
        return ev.price, ev.price
    return None  # bars arrive late; books and trades are enough


async def on_market(event: MarketEvent, ctx: Context) -> None:
    """Check one SPOT market event against the symbol's armed guards and open OCOs."""
    checked = prices(event)
    if checked is None or event.event.kind != "spot":
        return
    below, above = await brackets.watched(ctx.redis, event.event.symbol, *checked)
    if below or above:
        await act(router_for(ctx, RedisSink(ctx.redis)), below, above)


async def check(router: Router, symbol: str, low: Decimal, high: Decimal) -> dict[str, str]:
    """Act on ``symbol``'s watched intents for these prices; return what became of each."""
    below, above = await brackets.watched(router.redis, symbol, low, high)
    return await act(router, below, above)


async def act(router: Router, below: list[str], above: list[str]) -> dict[str, str]:
    """Fire the triggered guards, re-read the touched take-profits and OCOs."""
    outcomes: dict[str, str] = {}
    for intent_id in dict.fromkeys(below + above):
        outcomes[intent_id] = await _act_on(router, intent_id, stop_hit=intent_id in below)
    return outcomes


async def _act_on(router: Router, intent_id: str, *, stop_hit: bool) -> str:
    stored = await router.store.intent(intent_id)
    if stored is None:
        return "UNKNOWN_INTENT"
    intent = stored[0]
    fires = stop_hit and intent.exec == "GUARD"
    if not fires and not _THROTTLE.due(intent_id, router.config.exit_check_ms):
        return "THROTTLED"
    try:
        async with router.locked(intent_id, wait=False):
            desk = await router.desk(intent)
            try:
                if intent.exec == "OCO":
                    legs = await oco.follow(desk, router.redis)
                    return "" if legs is None else f"{legs[0].status}/{legs[1].status}"
                if fires:
                    return await guardstop.fire(desk)
                return await guardstop.take_profit_check(desk)
            finally:
                await desk.flush()
    except IntentBusy:
        return "BUSY"  # another worker (or the router) holds the intent; the next event retries
    except (ccxt.NetworkError, IntentInvalid):
        return "RETRY"


__all__ = ["act", "check", "on_market", "prices"]
