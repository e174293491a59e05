"""The DB rows S5 writes when the venue is truth: a fill S4 never recorded, written as S4 would.

Each repair is one accepted intent (``strategy_events`` ``intent:<id>``) and one FILLED
``orders`` row (order type ``RECONCILE``: no venue order stands behind it), inserted together
and only once per intent id, then its ``OrderResult`` is published on ``ord:{results}`` — so S6
treats it like any fill: a REDUCE that leaves a position flat settles it (``settle_close``:
release, leftovers cancelled, CLOSED snapshot, EXIT); an ENTRY gets its stop and take-profit.

A run that died between the insert and the publish leaves the symbol agreeing, so no later run
repairs it again: ``republish_unsettled`` re-publishes the REDUCE repairs (of earlier runs, within
a week) whose position is flat but has no CLOSED snapshot yet — S6 settles a position once
however often it hears of it.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from chimera.domain.orders import OrderIntent, Purpose, Side
from handlers.s4_router.ids import client_order_id
from handlers.s4_router.router import Router
from handlers.s4_router.store import OrderRecord
from handlers.s6_positions.position import load_position

RECONCILE_ORDER_TYPE = "RECONCILE"
REPAIR_LEG = "rc"
_LOOKBACK_MS = 7 * 86_400_000
_UNSETTLED = (
    f"SELECT {', '.join(OrderRecord.__struct_fields__)} FROM orders o "
    "WHERE order_type = 'RECONCILE' AND purpose = 'REDUCE' AND market = 'FUT' "
    "AND created_ts_ms > $1 AND created_ts_ms < $2 AND NOT EXISTS (SELECT 1 FROM "
    "positions_snapshots s WHERE s.snapshot_id = o.pos_id || ':CLOSED') "
    "ORDER BY created_ts_ms LIMIT 50"
)


async def write_fill(
    router: Router,
    *,
    intent_id: str,
    symbol: str,
    side: Side,
    qty: Decimal,
    purpose: Purpose,
    price: Decimal | None,
    ts_ms: int,
    note: str,
    pos_id: str | None = None,
    signal_id: str | None = None,
) -> OrderRecord:
    """Record a FUT fill of ``qty`` the venue made and the DB missed; publish its result."""
    reduce_only = purpose != "ENTRY"
    intent = OrderIntent(
        intent_id=intent_id,
        market="FUT",
        symbol=symbol,
        side=side,
        qty=qty,
        purpose=purpose,
        reduce_only=reduce_only,
        signal_id=signal_id,
        pos_id=pos_id,
        created_ts_ms=ts_ms,
    )
    record = OrderRecord(
        client_order_id=client_order_id(intent_id, REPAIR_LEG),
        intent_id=intent_id,
        market="FUT",
        symbol=symbol,
        side=side,
        order_type=RECONCILE_ORDER_TYPE,
        purpose=purpose,
        status="FILLED",
        qty=qty,
        created_ts_ms=ts_ms,
        updated_ts_ms=ts_ms,
        reduce_only=reduce_only,
        filled_qty=qty,
        avg_price=price,
        pos_id=pos_id,
        signal_id=signal_id,
        message=note[:500],
    )
    await router.store.accept_with_order(intent, ts_ms, record)
    # Published even when the row was there already: a run that died before publishing.
    stored = await router.store.order(record.client_order_id) or record
    await router.sink.publish(stored.result())
    return stored


async def republish_unsettled(router: Router, before_ms: int) -> list[str]:
    """Re-publish earlier REDUCE repairs whose position is flat but not settled; return them."""
    rows = await router.store.pool.fetch(_UNSETTLED, before_ms - _LOOKBACK_MS, before_ms)
    sent = []
    for row in rows:
        record = msgspec.convert(dict(row), OrderRecord)
        assert record.pos_id is not None
        position = await load_position(router.store.pool, record.pos_id)
        if position is None or position.working or position.open_qty > 0:
            continue  # a partial close: nothing for S6 to settle
        await router.sink.publish(record.result())
        sent.append(record.client_order_id)
    return sent


__all__ = [
    "RECONCILE_ORDER_TYPE",
    "REPAIR_LEG",
    "republish_unsettled",
    "write_fill",
]
