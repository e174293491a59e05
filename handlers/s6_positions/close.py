"""Closing a position (B7 step 2, spec S6 "release quota"): once flat, settle it exactly once.

Every order that shrinks a position (``SL`` / ``TP`` / ``EXIT`` / ``REDUCE``) reports its fills on
``ord:{results}``. When such a result finds the position flat — its entry and add-ons over (no
order still open, every TWAP slice placed) and its closing orders filled at least what they
opened (``position``) — S6:

1. releases S3's reservation (id = ``signal_id``) and every add-on's (id = the add-on's intent
   id); the ledger releases an id at most once, however often the result is delivered;
2. cancels the position's reduce-only orders still open (the other per-leg take-profits, an
   older stop), through S4, when the worker has S4's ``s4_router`` resource;
3. writes the CLOSED snapshot (id ``<pos_id>:CLOSED``) and drops ``pos:{sl}`` / ``pos:{tp}`` /
   ``pos:{adds}``;
4. emits ``pos:events`` EXIT (at-least-once: a redelivered result emits it again; consumers
   key it by ``pos_id``).
"""

from __future__ import annotations

import logging

import asyncpg
import msgspec

from chimera import names
from chimera.config.bundle import ConfigBundle
from chimera.domain.orders import OrderResult
from chimera.domain.positions import PositionSnapshot
from chimera.risk import RiskLedger
from chimera_workers import Context
from chimera_workers.errors import ConfigError, Retry
from chimera_workers.locks import FencedLock
from handlers.s4_router.errors import IntentBusy, IntentNotFound
from handlers.s4_router.handlers import RedisSink, router_for
from handlers.s4_router.router import CancelRequest
from handlers.s4_router.runtime import RESOURCE_NAME
from handlers.s6_positions.ends import twap_slices
from handlers.s6_positions.legs import is_slice
from handlers.s6_positions.position import Position, load_position, open_protective_orders
from handlers.s6_positions.reports import position_event
from handlers.s6_positions.snapshots import position_snapshot, write_snapshots
from handlers.s6_positions.state import forget

log = logging.getLogger(__name__)

CLOSING = frozenset({"SL", "TP", "EXIT", "REDUCE"})
PROTECTIVE = frozenset({"SL", "TP"})
ENTRY_SUFFIX = ":entry"
_SLICE_ROWS = "SELECT client_order_id FROM orders WHERE intent_id = $1 AND purpose = 'ENTRY'"


def reservation_of(pos_id: str, signal_id: str | None) -> str | None:
    """Return the B7 reservation id of an entry: its signal id (S3 entries: ``<signal>:entry``)."""
    if signal_id:
        return signal_id
    if pos_id.endswith(ENTRY_SUFFIX):
        return pos_id.removesuffix(ENTRY_SUFFIX)
    return None  # an entry not from S3 (POST /orders) reserved nothing


async def _slices_placed(db: asyncpg.Pool, pos_id: str) -> bool:
    legs = [r["client_order_id"].rpartition(".")[2] for r in await db.fetch(_SLICE_ROWS, pos_id)]
    slices = [leg for leg in legs if is_slice(leg)]
    if not slices:
        return True
    expected = await twap_slices(db, pos_id)
    return expected is not None and len(slices) >= expected


async def closed_position(db: asyncpg.Pool, pos_id: str) -> Position | None:
    """Return the position if it is over and flat, else None."""
    position = await load_position(db, pos_id)
    if position is None or position.working or position.opened_qty <= 0:
        return None
    if position.closed_qty < position.opened_qty:
        return None
    return position if await _slices_placed(db, pos_id) else None


async def _cancel_leftovers(ctx: Context, db: asyncpg.Pool, position: Position) -> list[str]:
    leftovers = await open_protective_orders(db, position.pos_id)
    if not leftovers:
        return []
    if RESOURCE_NAME not in ctx.resources.extra:
        log.warning(
            "position %s is flat but %d reduce-only orders stay open: this worker has no %r "
            "resource to cancel them",
            position.pos_id,
            len(leftovers),
            RESOURCE_NAME,
        )
        return []
    router = router_for(ctx, RedisSink(ctx.redis))
    cancelled = []
    for intent_id in sorted({o.intent_id for o in leftovers}):
        try:
            await router.cancel(CancelRequest(intent_id=intent_id, reason="position closed"))
        except (IntentBusy, IntentNotFound) as exc:
            log.warning("could not cancel %s of closed %s: %s", intent_id, position.pos_id, exc)
            continue
        cancelled.append(intent_id)
    return cancelled


async def settle_close(event: OrderResult, ctx: Context, config: ConfigBundle, rev: int) -> bool:
    """Settle the position of ``event`` (a closing leg that filled) if it is flat now."""
    if event.pos_id is None:
        return False
    if ctx.db is None:
        raise ConfigError(
            "S6 needs PostgreSQL to tell when a position is closed",
            hint="run the s6-entry binding in a worker with a database URL",
        )
    # Under the position's lock: the manage tick must not place a stop while this settles it.
    lock = FencedLock.leased(
        ctx.redis, names.pos_lock_key(event.pos_id), hold_ms=config.positions.manage.lock_ttl_ms
    )
    token = await lock.acquire()
    if token is None:
        raise Retry(f"position {event.pos_id} is being managed", delay_ms=500)
    async with lock.held(token):
        return await _settle(event, ctx, ctx.db, config, rev)


async def _settle(
    event: OrderResult, ctx: Context, db: asyncpg.Pool, config: ConfigBundle, rev: int
) -> bool:
    assert event.pos_id is not None
    position = await closed_position(db, event.pos_id)
    if position is None:
        return False
    ledger = RiskLedger(ctx.redis, tombstone_ttl_ms=config.risk.tombstone_ttl_ms)
    signal_id = reservation_of(position.pos_id, position.signal_id)
    if signal_id is not None:
        await ledger.release(signal_id, position.symbol)
    for add_id in position.add_intents:
        await ledger.release(add_id, position.symbol)
    cancelled = await _cancel_leftovers(ctx, db, position)
    await write_snapshots(db, [_closed(position, event, rev, cancelled)])
    await forget(ctx.redis, position.pos_id)
    await ctx.redis.srem(names.POS_STAGNATED, position.pos_id)
    await ctx.redis.srem(names.POS_OPEN, position.pos_id)
    exit_event = position_event(
        position, "EXIT", position.closed_qty, event.ts_ms, "", event.avg_price
    )
    reason = f"{event.purpose} {event.intent_id}"
    ctx.emit(names.POS_EVENTS, msgspec.structs.replace(exit_event, reason=reason))
    return True


def _closed(
    position: Position, event: OrderResult, rev: int, cancelled: list[str]
) -> PositionSnapshot:
    note = f"closed by {event.purpose} {event.intent_id}"
    if cancelled:
        note += f"; cancelled {', '.join(cancelled)}"
    return position_snapshot(
        position,
        snapshot_id=f"{position.pos_id}:CLOSED",
        source="EVENT",
        ts_ms=event.ts_ms,
        rev=rev,
        reason=note,
        mark_price=event.avg_price,
    )


__all__ = ["CLOSING", "PROTECTIVE", "closed_position", "reservation_of", "settle_close"]
