"""The POSITIONS scope: each symbol's net FUT position at the venue against the DB's.

The venue's positions (``positionRisk``) are read first, then the DB's open positions
(``handlers.s6_positions.position.open_positions``: the whole ``orders`` ledger, so the look-back
covers the oldest open position). Per symbol with a position on either side the signed
quantities are compared; agreement is the Jaccard index over those symbols (a symbol agrees
only if both signed quantities are equal). A mismatch is acted on by
``reconcile.position_mismatch``:

* the DB holds more than the venue (same side): ``repair`` / ``derisk`` write a REDUCE fill
  closing the excess from the newest DB positions (``repair.write_fill``: S6 settles them);
* the venue holds more than the DB (an untracked fill): ``repair`` adopts it (an ENTRY fill at
  the venue's entry price: S6 protects it), ``derisk`` closes it with a reduce-only market
  order through S4;
* opposite sides: the DB is repaired to flat, then the venue's position is untracked;
* ``alert``: nothing but the alert.

Every mismatch gets a CRITICAL alert and a RECONCILE_POSITION event (id per symbol and cause,
so a rerun that finds the same mismatch adds neither). A symbol with an order in flight, or
whose orders changed within ``quiet_ms`` before the venue was read, is deferred (the run is
then not ok). Then every open position gets the protection check and a RECONCILE snapshot.
"""

from __future__ import annotations

import hashlib
import logging
from decimal import Decimal

import asyncpg
import ccxt.async_support as ccxt

from chimera import names
from chimera.config.positions import PositionsConfig
from chimera.config.reconcile import ReconcileConfig
from chimera.config.risk import RiskConfig
from chimera.domain.orders import OPPOSITE, OrderIntent, Side
from chimera.domain.positions import PositionSnapshot
from chimera.risk import RiskLedger
from chimera.venues.ccxt_factory import Exchange
from chimera.venues.positions import VenuePosition, fetch_futures_positions
from chimera_workers.locks import FencedLock
from handlers.s4_router.errors import (
    IntentBusy,
    IntentConflict,
    IntentInvalid,
    IntentUnprocessable,
    IntentUnsupported,
)
from handlers.s4_router.router import Router
from handlers.s4_router.runtime import now_ms
from handlers.s5_reconciler.activity import in_flight
from handlers.s5_reconciler.protect import Protector
from handlers.s5_reconciler.repair import republish_unsettled, write_fill
from handlers.s5_reconciler.report import (
    ActionKind,
    PositionCheck,
    PositionsSummary,
    ReconcileAction,
    RunLog,
)
from handlers.s5_reconciler.writes import POSITION_KIND, add_alert
from handlers.s6_positions.position import Position, open_positions
from handlers.s6_positions.snapshots import position_snapshot, write_snapshots

log = logging.getLogger(__name__)
# One positions pass at a time (schedule and POST /reconcile); move to chimera.names.
RECON_POSITIONS_LOCK = names.RECON_POSITIONS_LOCK
_ZERO = Decimal(0)
_S4_REFUSALS = (IntentBusy, IntentConflict, IntentInvalid, IntentUnprocessable, IntentUnsupported)


def _signed(side: Side, qty: Decimal) -> Decimal:
    return qty if side == "buy" else -qty


class PositionsPass:
    """One run's POSITIONS scope."""

    def __init__(
        self,
        router: Router,
        config: ReconcileConfig,
        positions: PositionsConfig,
        log: RunLog,
        risk: RiskConfig | None = None,
    ) -> None:
        self.router = router
        self.risk = risk or RiskConfig()
        self.pool: asyncpg.Pool = router.store.pool
        self.config = config
        self.log = log
        self.protector = Protector(router, config, positions, log)
        self.mismatched: set[str] = set()
        self.deferred = 0

    async def run(self) -> PositionsSummary:
        """Compare, act, check stops and snapshot, under the positions lock."""
        lock = FencedLock.leased(
            self.router.redis, RECON_POSITIONS_LOCK, hold_ms=self.config.lock_ttl_ms
        )
        token = await lock.acquire()
        if token is None:
            self.log.errors.append("positions: another reconcile run holds the positions lock")
            return PositionsSummary()
        async with lock.held(token):
            return await self._run()

    async def _run(self) -> PositionsSummary:
        read_at = now_ms()
        try:
            exchange = await self.router.runtime.venues.exchange("FUT")
            at_venue = {p.symbol: p for p in await fetch_futures_positions(exchange)}
        except ccxt.BaseError as exc:
            self.log.errors.append(f"positions: venue unreadable: {exc}")
            return PositionsSummary()
        by_symbol: dict[str, list[Position]] = {}
        for position in await open_positions(self.pool):
            by_symbol.setdefault(position.symbol, []).append(position)
        checks = []
        for symbol in sorted(at_venue.keys() | by_symbol.keys()):
            vp = at_venue.get(symbol)
            venue_qty = _ZERO if vp is None else (vp.qty if vp.side == "long" else -vp.qty)
            held = by_symbol.get(symbol, [])
            db_qty = sum((_signed(p.side, p.open_qty) for p in held), _ZERO)
            check = PositionCheck(symbol, venue_qty, db_qty)
            if venue_qty == 0 and db_qty == 0:
                continue  # e.g. the DB's long and short of one symbol net to zero
            checks.append(check)
            if not check.agrees:
                self.mismatched.add(symbol)
                await self._mismatch(exchange, check, vp, held, read_at)
        agreeing = sum(1 for c in checks if c.agrees)
        for coid in await republish_unsettled(self.router, self.log.ts_ms):
            log.warning("re-published the unsettled repair %s", coid)
        after = await open_positions(self.pool)
        for position in after:
            if position.symbol not in self.mismatched:
                await self.protector.check(position)
        await write_snapshots(self.pool, [self._snapshot(p, at_venue.get(p.symbol)) for p in after])
        return PositionsSummary(
            symbols=len(checks),
            agreeing=agreeing,
            jaccard=1.0 if not checks else agreeing / len(checks),
            checks=tuple(checks),
            open_positions=len(after),
            deferred=self.deferred,
            unprotected=self.protector.unprotected,
        )

    # --- one mismatch ------------------------------------------------------------------------
    async def _mismatch(
        self,
        exchange: Exchange,
        check: PositionCheck,
        vp: VenuePosition | None,
        held: list[Position],
        read_at: int,
    ) -> None:
        v, d = check.venue_qty, check.db_qty
        opposite = v != 0 and d != 0 and (v > 0) != (d > 0)
        db_excess = abs(d) if (v == 0 or opposite) else max(abs(d) - abs(v), _ZERO)
        venue_excess = abs(v) if (d == 0 or opposite) else max(abs(v) - abs(d), _ZERO)
        cause = "OPPOSITE" if opposite else ("DB_EXCESS" if db_excess > 0 else "VENUE_EXCESS")
        # Per cause: the venue's position (its entry price) and the DB's (its pos_ids), so the
        # same mismatch found again adds nothing and a new one with equal quantities does.
        entry = "" if vp is None else f"@{vp.entry_price}"
        ids = ",".join(sorted(p.pos_id for p in held)).encode()
        db_ref = f"@{hashlib.sha256(ids).hexdigest()[:12]}" if held else ""
        cause_id = f"{POSITION_KIND}:{check.symbol}:{cause}:{v}{entry}:{d}{db_ref}"
        policy = self.config.position_mismatch
        busy = await in_flight(
            self.pool, exchange, check.symbol, read_at - self.config.quiet_ms, db_excess > 0
        )
        before = len(self.log.actions)
        if busy is not None:
            self.deferred += 1
            self.log.errors.append(f"{check.symbol}: position mismatch deferred: {busy}")
            self._action("POSITION_DEFERRED", check.symbol, "", None, busy)
        elif policy == "alert":
            self._action("POSITION_ALERTED", check.symbol, "", None, f"{cause} v={v} db={d}")
        else:
            if db_excess > 0:
                await self._close_in_db(check.symbol, held, db_excess, vp)
            if venue_excess > 0:
                assert vp is not None
                await self._untracked(check.symbol, vp, venue_excess, policy == "derisk")
        body = {
            "run_id": self.log.run_id, "policy": policy, "cause": cause,
            "venue_qty": str(v), "db_qty": str(d), "deferred": busy,
            "actions": [a.kind for a in self.log.actions[before:]],
        }  # fmt: skip
        if busy is not None:
            return  # a transient state: the next run decides (no alert, no event)
        await self.router.store.add_event(
            cause_id, POSITION_KIND, check.symbol, check.symbol, body, self.log.ts_ms
        )
        await add_alert(
            self.pool, cause_id, "CRITICAL", POSITION_KIND, symbol=check.symbol,
            ref_id=check.symbol, body=body, ts_ms=self.log.ts_ms,
        )  # fmt: skip

    async def _close_in_db(
        self, symbol: str, held: list[Position], excess: Decimal, vp: VenuePosition | None
    ) -> None:
        remaining = excess
        newest_first = sorted(held, key=lambda p: (p.opened_ts_ms, p.pos_id), reverse=True)
        for index, position in enumerate(newest_first):
            take = min(remaining, position.open_qty)
            if take <= 0:
                continue
            intent_id = f"recon:{symbol}:{self.log.run_id}:c{index}"
            record = await write_fill(
                self.router, intent_id=intent_id, symbol=symbol,
                side=OPPOSITE[position.side], qty=take, purpose="REDUCE",
                price=None if vp is None else vp.mark_price, ts_ms=self.log.ts_ms,
                note=f"reconcile {self.log.run_id}: the venue does not hold it",
                pos_id=position.pos_id, signal_id=position.signal_id,
            )  # fmt: skip
            self._action(
                "POSITION_REPAIRED",
                symbol,
                record.client_order_id,
                take,
                "closed in the DB",
                pos_id=position.pos_id,
            )
            remaining -= take
            if remaining <= 0:
                break

    async def _untracked(self, symbol: str, vp: VenuePosition, qty: Decimal, derisk: bool) -> None:
        side: Side = "buy" if vp.side == "long" else "sell"
        if derisk:
            intent = OrderIntent(
                intent_id=f"recon:{symbol}:{self.log.run_id}:derisk", market="FUT",
                symbol=symbol, side=OPPOSITE[side], qty=qty, purpose="REDUCE",
                reduce_only=True, created_ts_ms=self.log.ts_ms,
            )  # fmt: skip
            try:
                outcome = await self.router.submit(intent)
            except _S4_REFUSALS as exc:
                self.log.errors.append(f"{symbol}: derisk refused: {exc.message}")
                return
            status = outcome.results[-1].status if outcome.results else outcome.state
            self._action("POSITION_DERISKED", symbol, intent.intent_id, qty, str(status))
            if status != "FILLED":
                self.log.errors.append(f"{symbol}: derisk order {intent.intent_id} is {status}")
            return
        price = vp.entry_price or vp.mark_price
        if price is None or price <= 0:
            self.log.errors.append(f"{symbol}: cannot adopt a position without a price")
            return
        pos_id = f"recon:{symbol}:{self.log.run_id}:adopt"
        # The adopted position holds B7 margin and a concurrency unit like any other (released
        # when S6 settles it: its signal id is its own id), so the counters match the exposure.
        ledger = RiskLedger(self.router.redis, tombstone_ttl_ms=self.risk.tombstone_ttl_ms)
        await ledger.hold_existing(pos_id, symbol, qty * price / self.risk.leverage)
        record = await write_fill(
            self.router, intent_id=pos_id, symbol=symbol, side=side, qty=qty, purpose="ENTRY",
            price=price, ts_ms=self.log.ts_ms, signal_id=pos_id,
            note=f"reconcile {self.log.run_id}: adopted from the venue",
        )  # fmt: skip
        self._action("POSITION_ADOPTED", symbol, record.client_order_id, qty, f"at {price}",
                     pos_id=record.intent_id)  # fmt: skip

    # --- outputs -----------------------------------------------------------------------------
    def _action(
        self,
        kind: ActionKind,
        symbol: str,
        coid: str,
        qty: Decimal | None,
        detail: str,
        *,
        pos_id: str = "",
    ) -> None:
        action = ReconcileAction(
            kind=kind,
            market="FUT",
            symbol=symbol,
            client_order_id=coid,
            detail=detail[:300],
            pos_id=pos_id,
            qty=qty,
        )
        self.log.actions.append(action)

    def _snapshot(self, position: Position, vp: VenuePosition | None) -> PositionSnapshot:
        agrees = position.symbol not in self.mismatched
        return position_snapshot(
            position,
            snapshot_id=f"{position.pos_id}:RECONCILE:{self.log.ts_ms}",
            source="RECONCILE",
            ts_ms=self.log.ts_ms,
            rev=0,
            reason=f"reconcile {self.log.run_id}: " + ("agrees" if agrees else "mismatch"),
            mark_price=None if vp is None else vp.mark_price,
            liq_price=None if vp is None else vp.liquidation_price,
        )


__all__ = ["RECON_POSITIONS_LOCK", "PositionsPass"]
