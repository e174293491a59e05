"""S6's manage step for one position (B3): partial take-profit, add-on, lock ladder, snapshot.

For each open position, under ``lock:{pos}:<pos_id>`` (TTL; a position another process is
managing is skipped this time):

1. finish a stop replacement a crash interrupted (``pending``, see ``stops``);
2. the move in R since the entry (``ladder``) from the latest perp price;
3. partial take-profits the move reached, each once (``pos:{tp}:ladder``): a reduce-only market
   order of the step's fraction of the opened quantity (purpose ``REDUCE``);
4. an add-on when due (``pos:{adds}``): its margin is reserved in the B7 budget first (no
   concurrency unit), refused → skipped; never while the kill switch is on; sized by the health
   grade's factor (B9);
5. the stop the move earns, or a re-sized one after an add-on: ``stops.replace_stop``;
6. a ``positions_snapshots`` row, and ``pos:events`` entries for what changed (STAGNATED once).

Closing is not done here: every fill reaches ``ord:{results}``, and ``close`` handles a position
that became flat, whichever order flattened it.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import asyncpg
import msgspec

from chimera import names
from chimera.config.bundle import ConfigBundle
from chimera.domain.positions import (
    PositionEvent,
    PositionEventKind,
    PositionSnapshot,
    SnapshotSource,
)
from chimera.protection import protective_prices
from chimera.risk import RiskLedger
from chimera_workers.locks import FencedLock
from handlers.s4_router.router import Router
from handlers.s5_reconciler.gate import entries_allowed
from handlers.s6_positions import ladder
from handlers.s6_positions.market import current_regime, latest_atr
from handlers.s6_positions.orders import market_order, resolve_unfinished
from handlers.s6_positions.position import Position, load_position
from handlers.s6_positions.reports import MarketView, position_event, snapshot_of
from handlers.s6_positions.state import (
    ManagedStop,
    PositionState,
    Recorded,
    next_gen,
    read_many,
    read_state,
    record_count,
)
from handlers.s6_positions.stops import WOULD_TRIGGER, exit_breached, replace_stop

log = logging.getLogger(__name__)


class PositionManager:
    """Manages positions for one tick (or one ``POST /positions/manage``)."""

    def __init__(
        self,
        *,
        router: Router,
        db: asyncpg.Pool,
        config: ConfigBundle,
        rev: int,
        source: SnapshotSource,
    ) -> None:
        self.router = router
        self.redis = router.redis
        self.db = db
        self.config = config
        self.manage = config.positions.manage
        self.rev = rev
        self.source = source
        self.events: list[PositionEvent] = []

    async def run_all(self, positions: list[Position], view: MarketView) -> list[PositionSnapshot]:
        """Manage ``positions``: one read for all, the lock only for those with work to do."""
        recorded = await read_many(self.redis, [p.pos_id for p in positions])
        snapshots = []
        for position, rec in zip(positions, recorded, strict=True):
            quiet = await self._quiet(position, rec, view)
            snapshot = quiet if quiet is not None else await self.run(position, view)
            if snapshot is not None:
                snapshots.append(snapshot)
        return snapshots

    async def run(self, position: Position, view: MarketView) -> PositionSnapshot | None:
        """Manage ``position`` under its lock; None when another process holds the lock."""
        lock = FencedLock.leased(
            self.redis, names.pos_lock_key(position.pos_id), hold_ms=self.manage.lock_ttl_ms
        )
        token = await lock.acquire()
        if token is None:
            return None
        async with lock.held(token):
            return await self._manage(position, view)

    # --- the steps --------------------------------------------------------------------------
    async def _measure(
        self, position: Position, pinned: bytes | str | None, view: MarketView
    ) -> tuple[Decimal, Decimal, Decimal] | str:
        """Return (mark, R, move) for ``position``, or why it cannot be measured now."""
        mark = view.marks.get(position.symbol)
        if position.working:
            return "ENTRY_WORKING"
        if mark is None or position.entry_price is None:
            return "NO_PRICE"
        first_stop = await self._first_stop(position, pinned)
        r = ladder.risk_per_unit(position.entry_price, first_stop)
        if r is None:
            return "NO_RISK_UNIT"
        return mark, r, ladder.move_in_r(position, mark, r)

    async def _quiet(
        self, position: Position, rec: Recorded, view: MarketView
    ) -> PositionSnapshot | None:
        """Return the snapshot of a position with nothing to do, or None if it has work."""
        state = rec.state
        if state.pending is not None or position.unresolved:
            return None
        measured = await self._measure(position, rec.pinned, view)
        if isinstance(measured, str):
            mark = view.marks.get(position.symbol)
            return self._snap(
                position,
                state,
                view,
                mark,
                None,
                [measured],
            )
        mark, _, move = measured
        manage = self.manage
        if ladder.take_profit_steps_due(manage, move, state.tp_done):
            return None
        level = ladder.earned_level(manage, move, state.level)
        if self._needs_stop(position, state, level, view.now_ms):
            return None
        adding = not view.kill_switch and manage.health_size_mult.of(view.health) > 0
        if adding and ladder.add_on_due(manage, move, state.adds, level):
            return None
        age = view.now_ms - position.opened_ts_ms
        if ladder.stagnant(manage, move, age) and (
            not rec.stagnation_reported or manage.stagnation.exit
        ):
            return None
        return self._snap(position, state, view, mark, move, [])

    async def _manage(self, position: Position, view: MarketView) -> PositionSnapshot:
        state = await read_state(self.redis, position.pos_id)
        notes: list[str] = []
        if state.pending is not None:
            notes.append(await self._place(position, state.pending, view.now_ms))
            state = await read_state(self.redis, position.pos_id)
        if position.unresolved:
            notes.extend(await resolve_unfinished(self.router, position.unresolved))
            position = await load_position(self.db, position.pos_id) or position
        pinned = await self.redis.get(names.entry_protection_key(position.pos_id))
        measured = await self._measure(position, pinned, view)
        if isinstance(measured, str):
            mark = view.marks.get(position.symbol)
            return self._snap(
                position,
                state,
                view,
                mark,
                None,
                [*notes, measured],
            )
        mark, r, move = measured
        position, state = await self._take_profits(position, state, move, mark, view, notes)
        if position.open_qty <= 0:
            return self._snap(
                position,
                state,
                view,
                mark,
                move,
                notes,
            )
        level = ladder.earned_level(self.manage, move, state.level)
        position, state = await self._add_on(position, state, move, level, mark, view, notes)
        if self._needs_stop(position, state, level, view.now_ms):
            first_stop = await self._first_stop(position, pinned)
            exponent = int(first_stop.as_tuple().exponent)
            price = (
                ladder.stop_price(position, self.manage, level, r, exponent)
                if level > 0
                else first_stop
            )
            gen = await next_gen(self.redis, position.pos_id)
            stop = ManagedStop(
                level=level,
                price=price,
                qty=position.open_qty,
                covers=position.opened_qty,
                intent_id=f"{position.pos_id}:sl@{level}.{gen}",
                gen=gen,
            )
            notes.append(await self._place(position, stop, view.now_ms))
            state = await read_state(self.redis, position.pos_id)
        await self._stagnation(position, move, mark, view, notes)
        return self._snap(
            position,
            state,
            view,
            mark,
            move,
            notes,
        )

    def _needs_stop(
        self, position: Position, state: PositionState, level: int, now_ms: int
    ) -> bool:
        """Tell whether the position needs a new stop: a higher level, an add-on its stop does
        not cover, or open quantity no stop covers any more (a stop filled in part and expired,
        one cancelled by hand) once its orders have been still for ``reprotect_after_ms``."""
        stale = state.stop is not None and position.opened_qty > state.stop.covers
        if level > 0 and (level > state.level or stale):
            return True
        quiet_ms = now_ms - position.updated_ts_ms
        return position.uncovered > 0 and quiet_ms >= self.manage.reprotect_after_ms

    async def _place(self, position: Position, stop: ManagedStop, now_ms: int) -> str:
        note = await replace_stop(self.router, self.db, position, stop, self.rev, now_ms)
        if note.startswith("STOP_REFUSED") and WOULD_TRIGGER in note:
            return await exit_breached(self.router, self.db, position, stop, note, self.rev, now_ms)
        if note.startswith("STOP_RAISED"):
            self.events.append(
                position_event(
                    position, "STOP_RAISED", stop.qty, now_ms, stop.intent_id, stop.price
                )
            )
        return note

    async def _first_stop(self, position: Position, pinned: bytes | str | None) -> Decimal:
        assert position.entry_price is not None
        if pinned is not None:
            text = pinned.decode() if isinstance(pinned, bytes) else str(pinned)
            return Decimal(text.partition("|")[0])
        # No pinned stop (expired, or an entry S6 never protected): price it as S6 would now.
        atr = await latest_atr(self.redis, position.symbol)
        regime = await current_regime(self.redis)
        sl, _ = protective_prices(
            position.side, position.entry_price, atr, self.config.positions, regime
        )
        return sl

    async def _take_profits(
        self,
        position: Position,
        state: PositionState,
        move: Decimal,
        mark: Decimal,
        view: MarketView,
        notes: list[str],
    ) -> tuple[Position, PositionState]:
        for step in ladder.take_profit_steps_due(self.manage, move, state.tp_done):
            qty = ladder.take_profit_qty(self.manage, step, position)
            intent_id = f"{position.pos_id}:ptp@{step}"
            if qty > 0:
                filled = await market_order(
                    self.router, self.rev, position, intent_id, qty, "REDUCE", view.now_ms
                )
                notes.append(f"PARTIAL_TP step={step} filled={filled}")
                if filled > 0:
                    self.events.append(
                        position_event(position, "PARTIAL_TP", filled, view.now_ms, intent_id, mark)
                    )
            await record_count(self.redis, names.pos_tp_ladder_key(position.pos_id), step + 1)
            state = msgspec.structs.replace(state, tp_done=step + 1)
            position = await load_position(self.db, position.pos_id) or position
            if position.open_qty <= 0:
                break
        return position, state

    async def _add_on(
        self,
        position: Position,
        state: PositionState,
        move: Decimal,
        level: int,
        mark: Decimal,
        view: MarketView,
        notes: list[str],
    ) -> tuple[Position, PositionState]:
        if view.kill_switch or not ladder.add_on_due(self.manage, move, state.adds, level):
            return position, state
        if not await entries_allowed(self.redis):
            notes.append("ADD_ON_SKIPPED reconcile gate closed")
            return position, state
        factor = self.manage.health_size_mult.of(view.health)
        qty = self.manage.add_ons.size_fraction * position.entry_qty * factor
        if qty <= 0:
            notes.append(f"ADD_ON_SKIPPED health={view.health}")
            return position, state
        intent_id = f"{position.pos_id}:add@{state.adds}"
        risk = self.config.risk
        ledger = RiskLedger(self.redis, tombstone_ttl_ms=risk.tombstone_ttl_ms)
        reservation = await ledger.reserve_add_on(
            intent_id, position.symbol, qty * mark / risk.leverage, risk
        )
        if not reservation.ok:
            notes.append(f"ADD_ON_REFUSED {reservation.refused_by}")
            return position, state
        filled = await market_order(
            self.router, self.rev, position, intent_id, qty, "ADD", view.now_ms, opposite=False
        )
        if filled <= 0:
            await ledger.release(intent_id, position.symbol)
        else:
            self.events.append(
                position_event(position, "ADD_ON", filled, view.now_ms, intent_id, mark)
            )
        adds = state.adds + 1
        await record_count(self.redis, names.pos_adds_key(position.pos_id), adds)
        notes.append(f"ADD_ON n={adds} filled={filled}")
        position = await load_position(self.db, position.pos_id) or position
        return position, msgspec.structs.replace(state, adds=adds)

    async def _stagnation(
        self, position: Position, move: Decimal, mark: Decimal, view: MarketView, notes: list[str]
    ) -> None:
        if not ladder.stagnant(self.manage, move, view.now_ms - position.opened_ts_ms):
            return
        if await self.redis.sadd(names.POS_STAGNATED, position.pos_id):
            self.events.append(
                position_event(position, "STAGNATED", position.open_qty, view.now_ms, "", mark)
            )
            notes.append("STAGNATED")
        if self.manage.stagnation.exit:
            intent_id = f"{position.pos_id}:stagnant-exit"
            filled = await market_order(
                self.router, self.rev, position, intent_id, position.open_qty, "EXIT", view.now_ms
            )
            notes.append(f"STAGNANT_EXIT filled={filled}")

    # --- outputs ----------------------------------------------------------------------------
    def _emit(
        self,
        position: Position,
        kind: PositionEventKind,
        qty: Decimal,
        ts_ms: int,
        ref: str,
        price: Decimal | None,
    ) -> None:
        self.events.append(position_event(position, kind, qty, ts_ms, ref, price))

    def _snap(
        self,
        position: Position,
        state: PositionState,
        view: MarketView,
        mark: Decimal | None,
        move: Decimal | None,
        notes: list[str],
    ) -> PositionSnapshot:
        leverage = self.config.risk.leverage
        return snapshot_of(
            self.source, self.rev, leverage, position, state, view, mark, move, notes
        )


__all__ = ["MarketView", "PositionManager"]
