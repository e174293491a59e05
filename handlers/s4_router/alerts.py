"""S4's ``alerts`` rows: the venue faults a person should know about (docs/s4-router.md).

One row per cause, with a deterministic id, so a redelivery or a repeat of the intent that meets
the same fault adds nothing (``chimera.alerts.add_alert``):

* ``ORDER_REJECTED:<client_order_id>`` — the venue refused an order (insufficient funds or
  margin, an invalid order, a reduce-only refused, ...). Refusals S4 plans for are not alerts:
  a post-only that would cross (the taker follows) and a bracket already hit (``px`` sells).
* ``ORDER_UNKNOWN:<client_order_id>`` — the order's outcome is still unknown after its lookups
  more than ``UNKNOWN_ALERT_WINDOWS`` re-send windows (``router.unknown_resend_after_ms``) after
  it was created: the venue keeps timing out, or keeps failing its re-sends.
* ``FILL_FOUND_LATE:<client_order_id>`` — a re-read found fills the venue made more than
  ``router.late_fill_alert_ms`` earlier (venue clock against venue clock): S4, and S6 after
  it, did not know of them meanwhile (a missed trigger, an outage of the process that follows
  the order).

Severity: ``CRITICAL`` when the order protects or reduces a position (purpose SL / TP / EXIT /
REDUCE, or reduce-only): the position is unprotected, or still open. ``WARN`` otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ccxt

from chimera.alerts import Severity, add_alert
from handlers.s4_router.runtime import now_ms
from handlers.s4_router.store import OrderRecord

if TYPE_CHECKING:
    from handlers.s4_router.desk import OrderDesk

REJECTED_KIND = "ORDER_REJECTED"
UNKNOWN_KIND = "ORDER_UNKNOWN"
LATE_FILL_KIND = "FILL_FOUND_LATE"
# Refusals that are part of a plan: something else is sent for them at once.
PLANNED_REFUSALS = ("POST_ONLY_WOULD_CROSS", "BRACKET_ALREADY_HIT", "KILL_SWITCH")
# How many re-send windows an order may stay unresolved before a person is told.
UNKNOWN_ALERT_WINDOWS = 2
# A fill found this long after the venue made it was missed by the path that should have seen
# it (maker polling: 100 ms; the s4-conditionals tick: 1 s). A module constant until the
# ``router:`` section grows a field for it.
_REDUCING = frozenset({"SL", "TP", "EXIT", "REDUCE"})


def severity_of(record: OrderRecord) -> Severity:
    """Return CRITICAL for an order that protects or reduces a position, else WARN."""
    return "CRITICAL" if record.purpose in _REDUCING or record.reduce_only else "WARN"


def _body(record: OrderRecord, **extra: object) -> dict[str, object]:
    return {
        "client_order_id": record.client_order_id,
        "intent_id": record.intent_id,
        "market": record.market,
        "side": record.side,
        "order_type": record.order_type,
        "purpose": record.purpose,
        "qty": str(record.qty),
        "filled_qty": str(record.filled_qty),
        "status": record.status,
        "message": record.message,
        "pos_id": record.pos_id,
        **extra,
    }


async def _add(desk: OrderDesk, kind: str, record: OrderRecord, **extra: object) -> bool:
    return await add_alert(
        desk.store.pool,
        f"{kind}:{record.client_order_id}",
        severity_of(record),
        kind,
        symbol=record.symbol,
        ref_id=record.intent_id,
        body=_body(record, **extra),
        ts_ms=now_ms(),
    )


async def on_rejected(desk: OrderDesk, record: OrderRecord) -> bool:
    """Alert on a venue refusal of ``record`` (REJECTED) unless S4 planned for it."""
    if record.status != "REJECTED" or record.message.startswith(PLANNED_REFUSALS):
        return False
    return await _add(desk, REJECTED_KIND, record)


async def on_unresolved(desk: OrderDesk, record: OrderRecord) -> bool:
    """Alert when ``record`` is still PENDING / UNKNOWN after a lookup, for too long."""
    if record.status not in ("PENDING", "UNKNOWN"):
        return False
    age = now_ms() - record.created_ts_ms
    if age < UNKNOWN_ALERT_WINDOWS * desk.config.unknown_resend_after_ms:
        return False
    return await _add(desk, UNKNOWN_KIND, record, unresolved_for_ms=age)


async def on_fills_found(desk: OrderDesk, record: OrderRecord, executed_ts_ms: int) -> bool:
    """Alert when fills that a re-read just recorded were made long before (venue time)."""
    if executed_ts_ms <= 0:
        return False
    try:
        venue_now = int(await desk.exchange.fetch_time())
    except ccxt.BaseError:
        return False  # lateness cannot be told without the venue's clock
    late_by = venue_now - executed_ts_ms
    if late_by < desk.config.late_fill_alert_ms:
        return False
    return await _add(desk, LATE_FILL_KIND, record, late_by_ms=late_by)


__all__ = [
    "LATE_FILL_KIND",
    "PLANNED_REFUSALS",
    "REJECTED_KIND",
    "UNKNOWN_ALERT_WINDOWS",
    "UNKNOWN_KIND",
    "on_fills_found",
    "on_rejected",
    "on_unresolved",
    "severity_of",
]
