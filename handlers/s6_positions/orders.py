"""S6's market orders through S4: partial take-profits, add-ons, exits."""

from __future__ import annotations

import logging
from decimal import Decimal

from chimera.domain.orders import OPPOSITE, OrderIntent, Purpose
from handlers.s4_router.errors import (
    IntentBusy,
    IntentConflict,
    IntentInvalid,
    IntentUnprocessable,
    IntentUnsupported,
)
from handlers.s4_router.router import Router
from handlers.s6_positions.position import Position

log = logging.getLogger(__name__)


async def market_order(
    router: Router,
    rev: int,
    position: Position,
    intent_id: str,
    qty: Decimal,
    purpose: Purpose,
    now_ms: int,
    *,
    opposite: bool = True,
) -> Decimal:
    """Send a MARKET order for ``position`` (reduce-only unless it adds); return what filled.

    A refusal before the venue (e.g. a fraction below the lot size) fills nothing and is logged:
    the step that asked for it is spent and the position is unchanged.
    """
    intent = OrderIntent(
        intent_id=intent_id,
        market="FUT",
        symbol=position.symbol,
        side=OPPOSITE[position.side] if opposite else position.side,
        qty=qty,
        exec="MARKET",
        purpose=purpose,
        reduce_only=opposite,
        signal_id=position.signal_id,
        pos_id=position.pos_id,
        config_rev=rev,
        created_ts_ms=now_ms,
    )
    try:
        outcome = await router.submit(intent)
    except IntentBusy:
        return Decimal(0)  # S4 is on it in another process; its result reaches ord:{results}
    except (IntentInvalid, IntentUnsupported, IntentUnprocessable, IntentConflict) as exc:
        log.warning("S4 refused %s: %s", intent_id, exc.message)
        return Decimal(0)
    return sum((r.filled_qty for r in outcome.results), Decimal(0))


async def resolve_unfinished(router: Router, intent_ids: tuple[str, ...]) -> list[str]:
    """Have S4 finish S6's orders a crash left PENDING / UNKNOWN; return what happened.

    S6 sends these orders itself (not through a stream that would redeliver them), so a pass
    hands each stored intent back to S4, which looks the order up by client order id before
    any re-send: nothing is sent twice, and a step that is no longer due still gets its outcome.
    """
    notes = []
    for intent_id in intent_ids:
        stored = await router.store.intent(intent_id)
        if stored is None:
            continue
        try:
            outcome = await router.submit(stored[0])
        except IntentBusy:
            notes.append(f"RESOLVE_BUSY {intent_id}")
            continue
        except (IntentInvalid, IntentUnsupported, IntentUnprocessable, IntentConflict) as exc:
            notes.append(f"RESOLVE_REFUSED {intent_id} {exc.message}"[:200])
            continue
        notes.append(f"RESOLVED {intent_id} {outcome.state}")
    return notes


__all__ = ["market_order", "resolve_unfinished"]
