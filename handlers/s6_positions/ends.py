"""When an entry is over, and whether it ended with nothing filled (B7's release).

An ``OrderResult`` is per venue order (leg), not per intent, so S6 works out from the leg and
what it has recorded (``handlers.s6_positions.legs``) whether the entry can still fill:

* ``""`` (refused before any order was sent), ``mk`` (the one market order), ``mt`` (the
  taker that completes a MAKER_TAKER) and ``x`` (S4's cancel escalation, the last order of a
  cancelled intent) end the entry.
* ``mm`` (the post-only maker) ends it only when it was REJECTED for a reason other than
  crossing the book: that is the one case where S4 sends no taker after it (a maker that would
  cross, expired or was cancelled is followed by a ``mt`` leg for the rest).
* ``s<i>`` (TWAP slice i) ends it once every slice of the intent has ended; the slice count is
  in the intent S4 accepted (``strategy_events`` row ``intent:<intent_id>``, PostgreSQL).

The entry filled nothing when none of its recorded legs filled and, when S6 has PostgreSQL,
none of S4's ``orders`` rows of the intent did either (a guard against results processed out
of order).
"""

from __future__ import annotations

import logging
from decimal import Decimal

import asyncpg

from chimera.domain.orders import OrderResult
from chimera_workers.errors import ConfigError
from handlers.s4_router.ids import LEG_ESCALATION, LEG_MAKER, LEG_MARKET, LEG_TAKER
from handlers.s6_positions.legs import LegOutcome, is_slice

log = logging.getLogger(__name__)

# Legs whose end is the end of their entry ("" = refused before any order was sent).
FINAL_LEGS = frozenset({"", LEG_MARKET, LEG_TAKER, LEG_ESCALATION})
# S4's message of a post-only order refused because it would cross (a taker follows it).
WOULD_CROSS = "POST_ONLY_WOULD_CROSS"

_TWAP_SLICES = (
    "SELECT COALESCE((body->>'twap_slices')::int, 1) FROM strategy_events WHERE event_id = $1"
)
_FILLED = "SELECT COALESCE(sum(filled_qty), 0) FROM orders WHERE intent_id = $1"


def leg_ends_entry(event: OrderResult, leg: str) -> bool:
    """Tell whether this ended, empty non-slice leg is the entry's last order."""
    if leg in FINAL_LEGS:
        return True
    if leg == LEG_MAKER:
        return event.status == "REJECTED" and not event.message.startswith(WOULD_CROSS)
    return False


async def twap_slices(db: asyncpg.Pool | None, intent_id: str) -> int | None:
    """Return how many slices the TWAP intent has (None: S4 stored no such intent)."""
    if db is None:
        raise ConfigError(
            "S6 needs PostgreSQL to tell when a TWAP entry is over",
            hint="run the s6-entry binding in a worker with a database URL",
        )
    count = await db.fetchval(_TWAP_SLICES, f"intent:{intent_id}")
    return None if count is None else int(count)


async def ended_empty(
    event: OrderResult, leg: str, legs: dict[str, LegOutcome], db: asyncpg.Pool | None
) -> bool:
    """Tell whether the entry of ``event`` (an ended, empty leg) is over with nothing filled.

    ``legs`` is every leg S6 recorded for the entry, this one included.
    """
    if any(outcome.filled_qty > 0 for outcome in legs.values()):
        return False
    if is_slice(leg):
        slices = await twap_slices(db, event.intent_id)
        if slices is None:
            log.warning("TWAP slice %s has no stored intent: its entry is not released", leg)
            return False
        if sum(1 for name in legs if is_slice(name)) < slices:
            return False
    elif not leg_ends_entry(event, leg):
        return False
    if db is not None:
        filled: Decimal = await db.fetchval(_FILLED, event.intent_id)
        if filled > 0:
            return False
    return True


__all__ = ["FINAL_LEGS", "WOULD_CROSS", "ended_empty", "leg_ends_entry", "twap_slices"]
