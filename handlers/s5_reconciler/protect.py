"""The protection check: every open FUT position has reduce-only stops covering what is open.

Covered = the qty of the position's open (NEW / PARTIALLY_FILLED) ``SL`` rows. A position whose
entry or add-on still works, whose orders changed within ``reconcile.protect_grace_ms`` (S6 is
placing the entry's own stops), or with a stop in flight (PENDING / UNKNOWN) is left for the
next run. Otherwise the uncovered quantity gets a reduce-only STOP_MARKET through S4, intent id
``<pos_id>:rsl.<n>`` (``n`` = how many such intents were accepted before: an id is never reused
for another order), at S6's pinned first stop of the entry, else ``protective_prices`` from the
position's entry price, S2's latest ATR and the regime. If the venue refuses it because the
price is already through the stop (Binance -2021, S4's ``WOULD_TRIGGER_NOW``), the uncovered
quantity is closed at market (reduce-only EXIT ``<pos_id>:rsx.<n>``) with a CRITICAL alert; a
position that can be neither protected nor closed is UNPROTECTED (health RED).
"""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from chimera import names
from chimera.config.positions import PositionsConfig
from chimera.config.reconcile import ReconcileConfig
from chimera.domain.orders import OPPOSITE, ExecStyle, OrderIntent, Purpose
from chimera.protection import protective_prices
from handlers.s4_router.errors import (
    IntentBusy,
    IntentConflict,
    IntentInvalid,
    IntentUnprocessable,
    IntentUnsupported,
)
from handlers.s4_router.router import RouteOutcome, Router
from handlers.s5_reconciler.report import ActionKind, ReconcileAction, RunLog
from handlers.s5_reconciler.writes import PROTECT_KIND, Severity, add_alert
from handlers.s6_positions.market import current_regime, latest_atr
from handlers.s6_positions.position import Position, open_protective_orders

_LAST_CHANGE = "SELECT max(updated_ts_ms) FROM orders WHERE intent_id = $1 OR pos_id = $1"
_ACCEPTED_BEFORE = (
    "SELECT count(*) FROM strategy_events WHERE kind = 'ORDER_INTENT' "
    "AND left(ref_id, length($1)) = $1"
)
_COVERING = frozenset({"NEW", "PARTIALLY_FILLED"})
_IN_FLIGHT = frozenset({"PENDING", "UNKNOWN"})
_PLACED = frozenset({"NEW", "PARTIALLY_FILLED", "FILLED"})
WOULD_TRIGGER = "WOULD_TRIGGER_NOW"
_S4_REFUSALS = (IntentConflict, IntentInvalid, IntentUnprocessable, IntentUnsupported)


class Protector:
    """Checks (and fixes) the stops of open positions for one run."""

    def __init__(
        self, router: Router, config: ReconcileConfig, positions: PositionsConfig, log: RunLog
    ) -> None:
        self.router = router
        self.pool: asyncpg.Pool = router.store.pool
        self.config = config
        self.positions = positions
        self.log = log
        self.unprotected = 0

    async def check(self, position: Position) -> None:
        """Make sure ``position`` has stops covering its open quantity."""
        if position.working or position.open_qty <= 0:
            return
        last = await self.pool.fetchval(_LAST_CHANGE, position.pos_id)
        if last is not None and int(last) > self.log.ts_ms - self.config.protect_grace_ms:
            return
        orders = [o for o in await open_protective_orders(self.pool, position.pos_id)]
        stops = [o for o in orders if o.purpose == "SL"]
        if any(o.status in _IN_FLIGHT for o in stops):
            return
        covered = sum((o.qty for o in stops if o.status in _COVERING), Decimal(0))
        uncovered = position.open_qty - covered
        if uncovered > 0:
            await self._protect(position, uncovered)

    async def _protect(self, position: Position, qty: Decimal) -> None:
        n = await self.pool.fetchval(_ACCEPTED_BEFORE, f"{position.pos_id}:rsl.")
        price = await self._stop_price(position)
        if price is None:
            await self._unprotected(position, qty, "no entry price to price a stop from")
            return
        intent_id = f"{position.pos_id}:rsl.{n}"
        outcome = await self._submit(position, intent_id, qty, "STOP_MARKET", "SL", price)
        if isinstance(outcome, str):
            await self._unprotected(position, qty, outcome)
            return
        last = outcome.results[-1] if outcome.results else None
        status = last.status if last is not None else "UNKNOWN"
        if status in _PLACED:
            await self._act("STOP_PLACED", "WARN", position, qty, intent_id, f"stop at {price}")
            return
        if status in _IN_FLIGHT:
            self.log.errors.append(f"{position.pos_id}: stop {intent_id} outcome unknown")
            return
        message = last.message if last is not None else outcome.message
        if not message.startswith(WOULD_TRIGGER):
            await self._unprotected(position, qty, f"stop {intent_id} {status}: {message}")
            return
        await self._exit(position, qty, n, price)

    async def _exit(self, position: Position, qty: Decimal, n: int, price: Decimal) -> None:
        intent_id = f"{position.pos_id}:rsx.{n}"
        outcome = await self._submit(position, intent_id, qty, "MARKET", "EXIT", None)
        if isinstance(outcome, str):
            await self._unprotected(position, qty, f"stop {price} breached; exit: {outcome}")
            return
        filled = sum((r.filled_qty for r in outcome.results), Decimal(0))
        if filled <= 0:
            message = outcome.results[-1].message if outcome.results else outcome.message
            await self._unprotected(position, qty, f"stop {price} breached; exit: {message}")
            return
        detail = f"stop {price} already breached: closed {filled} at market"
        await self._act("STOP_BREACHED_EXIT", "CRITICAL", position, qty, intent_id, detail)

    async def _stop_price(self, position: Position) -> Decimal | None:
        redis = self.router.redis
        pinned = await redis.get(names.entry_protection_key(position.pos_id))
        if pinned is not None:
            text = pinned.decode() if isinstance(pinned, bytes) else str(pinned)
            return Decimal(text.partition("|")[0])
        entry = position.entry_price or position.avg_price
        if entry is None:
            return None
        atr = await latest_atr(redis, position.symbol)
        regime = await current_regime(redis)
        return protective_prices(position.side, entry, atr, self.positions, regime)[0]

    async def _submit(
        self,
        position: Position,
        intent_id: str,
        qty: Decimal,
        exec_style: ExecStyle,
        purpose: Purpose,
        trigger: Decimal | None,
    ) -> RouteOutcome | str:
        intent = OrderIntent(
            intent_id=intent_id,
            market="FUT",
            symbol=position.symbol,
            side=OPPOSITE[position.side],
            qty=qty,
            exec=exec_style,
            purpose=purpose,
            reduce_only=True,
            trigger_price=trigger,
            signal_id=position.signal_id,
            pos_id=position.pos_id,
            created_ts_ms=self.log.ts_ms,
        )
        try:
            return await self.router.submit(intent)
        except IntentBusy as exc:
            return f"S4 is busy with {intent_id}: {exc}"
        except _S4_REFUSALS as exc:
            return f"S4 refused {intent_id}: {exc.message}"

    async def _unprotected(self, position: Position, qty: Decimal, why: str) -> None:
        self.unprotected += 1
        self.log.errors.append(f"{position.pos_id}: unprotected: {why}")
        await self._act("UNPROTECTED", "CRITICAL", position, qty, "", why)

    async def _act(
        self,
        kind: ActionKind,
        severity: Severity,
        position: Position,
        qty: Decimal,
        intent_id: str,
        detail: str,
    ) -> None:
        action = ReconcileAction(
            kind=kind,
            market="FUT",
            symbol=position.symbol,
            client_order_id=intent_id,
            detail=detail[:300],
            pos_id=position.pos_id,
            qty=qty,
        )
        self.log.actions.append(action)
        cause = f"{PROTECT_KIND}:{position.pos_id}:{kind}:{intent_id or self.log.run_id}"
        body = {"run_id": self.log.run_id, "open_qty": str(position.open_qty), "kind": kind,
                "qty": str(qty), "intent_id": intent_id, "detail": detail}  # fmt: skip
        await self.router.store.add_event(
            cause, PROTECT_KIND, position.symbol, position.pos_id, body, self.log.ts_ms
        )
        await add_alert(
            self.pool, cause, severity, PROTECT_KIND, symbol=position.symbol,
            ref_id=position.pos_id, body=body, ts_ms=self.log.ts_ms,
        )  # fmt: skip


__all__ = ["WOULD_TRIGGER", "Protector"]
