"""``Router``: the one path every intent takes, from the stream binding or ``POST /orders``.

``submit`` validates the intent, takes the intent's lock (one process routes an intent at a time),
then either replays it — the stored intent must be the same (else 409), a stored refusal is
returned as it was, and the plan is walked again to continue or report — or accepts it: the kill
switch refuses new positions (reduce-only and exit intents pass), the intent is stored, and its
plan runs. ``cancel`` cancels an intent's open orders and queued slices and can close the rest at
market. ``twap_tick`` places due TWAP slices.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from typing import Literal

import asyncpg
import ccxt
import msgspec

from chimera import names
from chimera.config.router import RouterConfig
from chimera.domain.orders import OrderIntent, OrderResult, rejection_of
from chimera.prod_state import read_kill_switch
from chimera_workers.connections import RedisClient
from chimera_workers.locks import FencedLock
from handlers.s4_router import brackets, guardstop, oco, plans, twap
from handlers.s4_router.desk import CONDITIONAL_TYPES, Leg, OrderDesk, ResultSink
from handlers.s4_router.errors import IntentBusy, IntentConflict, IntentInvalid, IntentNotFound
from handlers.s4_router.ids import LEG_ESCALATION, client_order_id
from handlers.s4_router.runtime import RouterRuntime, ccxt_symbol, now_ms
from handlers.s4_router.store import OrderRecord, OrderStore
from handlers.s4_router.validation import BRACKET_EXECS, check_intent, is_reducing

RouteState = Literal["DONE", "WORKING", "UNKNOWN", "REFUSED"]
KILL_SWITCH_REASON = "KILL_SWITCH"
CANCEL_KIND = "CANCEL"


class CancelRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Cancel an intent's open orders; with ``escalate_to_market``, close the rest at market."""

    intent_id: str
    escalate_to_market: bool = False
    reason: str = ""


class RouteOutcome(msgspec.Struct, frozen=True):
    """Where an intent stands: its orders' latest results."""

    intent_id: str
    state: RouteState
    results: tuple[OrderResult, ...] = ()
    message: str = ""


class _TrackingSink:
    """Forwards results and remembers which (order, status) went out in this call."""

    def __init__(self, sink: ResultSink) -> None:
        self.sink = sink
        self.sent: set[tuple[str, str]] = set()

    async def publish(self, result: OrderResult) -> None:
        self.sent.add((result.client_order_id, result.status))
        await self.sink.publish(result)


class Router:
    """Routes intents for one process (``runtime``) on the current ``config``."""

    def __init__(
        self,
        *,
        redis: RedisClient,
        db: asyncpg.Pool,
        runtime: RouterRuntime,
        config: RouterConfig,
        sink: ResultSink,
    ) -> None:
        self.redis = redis
        self.store = OrderStore(db)
        self.runtime = runtime
        self.config = config
        self.sink = _TrackingSink(sink)

    # --- plumbing -------------------------------------------------------------------------
    def _lock(self, intent_id: str) -> FencedLock:
        return FencedLock.leased(
            self.redis,
            names.intent_lock_key(intent_id),
            hold_ms=self.config.intent_lock_ttl_ms,
            lease_ms=self.config.intent_lock_lease_ms,
            fence_key=names.INTENT_LOCK_FENCE,
        )

    async def _acquire(self, lock: FencedLock, *, wait: bool = True) -> int:
        deadline = time.monotonic() + (self.config.intent_lock_wait_ms / 1000 if wait else 0)
        token = await lock.acquire()
        while token is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            token = await lock.acquire()
        if token is None:
            raise IntentBusy(f"intent {lock.key!r} is being routed by another request")
        return token

    @asynccontextmanager
    async def _locked(self, intent_id: str, *, wait: bool = True) -> AsyncIterator[None]:
        lock = self._lock(intent_id)
        token = await self._acquire(lock, wait=wait)
        async with lock.held(token):
            yield

    def locked(self, intent_id: str, *, wait: bool = True) -> AbstractAsyncContextManager[None]:
        """Hold ``intent_id``'s lock (``IntentBusy`` if another process keeps it)."""
        return self._locked(intent_id, wait=wait)

    async def desk(self, intent: OrderIntent) -> OrderDesk:
        """Return the desk that trades ``intent`` on its venue."""
        exchange = await self.runtime.venues.exchange(intent.market)
        try:
            symbol = ccxt_symbol(exchange, intent.market, intent.symbol)
        except ValueError as exc:
            raise IntentInvalid(f"{exc} - at `$.symbol`") from None
        return OrderDesk(
            intent=intent,
            store=self.store,
            redis=self.redis,
            exchange=exchange,
            symbol=symbol,
            config=self.config,
            sink=self.sink,
        )

    def _legs(self, desk: OrderDesk, intent: OrderIntent) -> list[Leg]:
        if intent.exec == "TWAP":
            return plans.twap_legs(desk, intent)
        if intent.exec == "MAKER_TAKER" or intent.exec in BRACKET_EXECS:
            plans.lot(desk, intent.qty)  # validates the size before anything is written
            return []
        return [plans.main_leg(desk, intent)]

    # --- submit ---------------------------------------------------------------------------
    async def submit(self, intent: OrderIntent) -> RouteOutcome:
        """Route ``intent`` (or report it, if it was routed before)."""
        started = time.perf_counter()
        check_intent(intent, self.config)
        desk = await self.desk(intent)
        legs = self._legs(desk, intent)
        if intent.exec in BRACKET_EXECS:
            await brackets.check_book(desk, intent)
        lock = self._lock(intent.intent_id)
        # The lock and the kill switch in one round trip's time.
        token, switch = await asyncio.gather(
            self._acquire(lock), read_kill_switch(self.redis), return_exceptions=True
        )
        if isinstance(token, BaseException):
            raise token
        async with lock.held(token):
            if isinstance(switch, BaseException):
                raise switch
            outcome = await self._submit_locked(desk, intent, legs, switch.on)
        await self.runtime.metrics.observe(
            self.redis, (time.perf_counter() - started) * 1000, self.config.metrics_interval_ms
        )
        return outcome

    async def _submit_locked(
        self,
        desk: OrderDesk,
        intent: OrderIntent,
        legs: list[Leg],
        kill_switch_on: bool,
        *,
        fast: bool = True,
    ) -> RouteOutcome:
        accepted_ms = now_ms()
        allowed = not kill_switch_on or is_reducing(intent)
        # Accepting is an insert that only the first sender of this intent id wins.
        if fast and allowed and len(legs) == 1 and intent.exec != "TWAP":
            return await self._submit_single(desk, intent, legs[0], accepted_ms)
        fresh = allowed and await self.store.accept_intent(intent, accepted_ms)
        if not fresh:
            stored = await self.store.intent(intent.intent_id)
            if stored is None:  # new, and the kill switch refuses it
                await self.store.refuse_intent(intent, KILL_SWITCH_REASON, now_ms())
                return await self._refused(intent, KILL_SWITCH_REASON)
            prior, accepted_ms = stored
            if _comparable(prior) != _comparable(intent):
                raise IntentConflict(
                    f"intent_id {intent.intent_id!r} was used for a different intent",
                    hint="use a new intent_id for a new intent",
                )
            reason = await self.store.refusal(intent.intent_id)
            if reason is not None:
                return await self._refused(prior, reason)
        return await self._route(desk, intent, legs, accepted_ms, repeat=not fresh)

    async def _submit_single(
        self, desk: OrderDesk, intent: OrderIntent, leg: Leg, accepted_ms: int
    ) -> RouteOutcome:
        # The hot path (MARKET, conditional legs): accept the intent and claim its order in one
        # statement while the book is read, then send.
        record = desk.new_record(_coid(intent, leg), leg)
        claim = self.store.accept_with_order(intent, accepted_ms, record)
        if leg.conditional:
            (accepted, claimed), book = await claim, None
        else:
            (accepted, claimed), book = await asyncio.gather(claim, desk.book())
        if not accepted:
            return await self._submit_locked(desk, intent, [leg], False, fast=False)
        if not claimed:  # a row without an accepted intent: only after manual repairs
            return await self._route(desk, intent, [leg], accepted_ms, repeat=True)
        try:
            sent = await desk.send_claimed(record, leg, book)
            records = await plans.after_single(desk, leg, sent)
        finally:
            await desk.flush()
        return _outcome(intent.intent_id, records, expected=1)

    async def _route(
        self,
        desk: OrderDesk,
        intent: OrderIntent,
        legs: list[Leg],
        accepted_ms: int,
        *,
        repeat: bool,
    ) -> RouteOutcome:
        try:
            records = await self._run(desk, intent, legs, accepted_ms)
        finally:
            await desk.flush()
        if repeat:
            await self._republish(records)
        return _outcome(intent.intent_id, records, expected=max(1, len(legs)))

    async def _run(
        self, desk: OrderDesk, intent: OrderIntent, legs: list[Leg], accepted_ms: int
    ) -> list[OrderRecord]:
        if intent.exec == "MAKER_TAKER":
            wait = (
                self.config.maker_wait_ms if intent.maker_wait_ms is None else intent.maker_wait_ms
            )
            return await plans.run_maker_taker(
                desk, intent, self.runtime.metrics, wait, self.config.maker_poll_ms
            )
        if intent.exec == "TWAP":
            return await self._queue_twap(intent, legs, accepted_ms)
        if intent.exec == "OCO":
            return await oco.run(desk, intent, self.redis)
        if intent.exec == "GUARD":
            return await guardstop.run(desk, intent)
        return await plans.run_single(desk, legs[0])

    async def _refused(self, intent: OrderIntent, reason: str) -> RouteOutcome:
        result = rejection_of(intent, reason, now_ms())
        await self.sink.publish(result)
        return RouteOutcome(intent.intent_id, "REFUSED", (result,), reason)

    async def _republish(self, records: list[OrderRecord]) -> None:
        # A repeat may be the redelivery of an intent whose results were never committed.
        for record in records:
            if (record.client_order_id, record.status) not in self.sink.sent:
                await self.sink.publish(record.result())

    # --- TWAP -----------------------------------------------------------------------------
    async def _queue_twap(
        self, intent: OrderIntent, legs: list[Leg], accepted_ms: int
    ) -> list[OrderRecord]:
        interval = intent.twap_interval_ms or self.config.twap_interval_ms
        records = {r.client_order_id: r for r in await self.store.orders_of(intent.intent_id)}
        due: dict[str, int] = {}
        for index, leg in enumerate(legs):
            if _coid(intent, leg) not in records:
                due[twap.member(intent.intent_id, index)] = accepted_ms + index * interval
        await twap.queue_slices(self.redis, due)
        return list(records.values())

    async def twap_tick(self) -> int:
        """Place the due TWAP slices; return how many were placed (or settled)."""
        placed = 0
        retry_at = now_ms() + self.config.twap_retry_ms
        for raw in await twap.due_members(self.redis, now_ms(), self.config.twap_batch):
            parsed = twap.parse_member(raw)
            stored = None if parsed is None else await self.store.intent(parsed[0])
            if parsed is None or stored is None:
                await twap.remove(self.redis, raw)
                continue
            intent, index = stored[0], parsed[1]
            try:
                async with self._locked(intent.intent_id, wait=False):
                    if await self._place_slice(intent, index):
                        await twap.remove(self.redis, raw)
                        placed += 1
                    else:
                        await twap.requeue(self.redis, raw, retry_at)
            except (IntentBusy, ccxt.NetworkError):
                await twap.requeue(self.redis, raw, retry_at)
        return placed

    async def _place_slice(self, intent: OrderIntent, index: int) -> bool:
        desk = await self.desk(intent)
        leg = plans.twap_legs(desk, intent)[index]
        if not is_reducing(intent) and (await read_kill_switch(self.redis)).on:
            record = desk.new_record(_coid(intent, leg), leg)
            refused = msgspec.structs.replace(record, status="REJECTED", message=KILL_SWITCH_REASON)
            if await self.store.insert_order(refused):
                await self.sink.publish(refused.result())
            return True
        try:
            record = await desk.ensure(leg)
        finally:
            await desk.flush()
        return record.status not in ("PENDING", "UNKNOWN")

    # --- cancel ---------------------------------------------------------------------------
    async def cancel(self, request: CancelRequest) -> RouteOutcome:
        """Cancel the intent's queued slices and open orders; optionally close the rest."""
        stored = await self.store.intent(request.intent_id)
        if stored is None:
            raise IntentNotFound(f"no intent {request.intent_id!r} was accepted")
        intent = stored[0]
        desk = await self.desk(intent)
        async with self._locked(intent.intent_id):
            unqueued = []
            if intent.exec == "TWAP":
                unqueued = await twap.queued_of(self.redis, intent.intent_id, intent.twap_slices)
                await twap.remove(self.redis, *(twap.member(intent.intent_id, i) for i in unqueued))
            records = []
            for record in await self.store.orders_of(intent.intent_id):
                if record.status in ("PENDING", "UNKNOWN"):
                    record = await desk.refresh(record)
                if record.status in ("NEW", "PARTIALLY_FILLED"):
                    record = await desk.cancel(record)
                records.append(record)
            await self.store.add_event(
                f"{CANCEL_KIND}:{intent.intent_id}",
                CANCEL_KIND,
                intent.symbol,
                intent.intent_id,
                {
                    "reason": request.reason,
                    "escalate_to_market": request.escalate_to_market,
                    "unqueued_slices": unqueued,
                    "orders": {r.client_order_id: r.status for r in records},
                },
                now_ms(),
            )
            if request.escalate_to_market:
                escalated = await self._escalate(desk, intent, records)
                if escalated is not None:
                    records = [r for r in records if r.client_order_id != escalated.client_order_id]
                    records.append(escalated)
        return _outcome(intent.intent_id, records, expected=1)

    async def _escalate(
        self, desk: OrderDesk, intent: OrderIntent, records: list[OrderRecord]
    ) -> OrderRecord | None:
        escalation = client_order_id(intent.intent_id, LEG_ESCALATION)
        # Only the intent's own side counts: a bracket's exits sell what its entry bought.
        done = sum(
            (
                _done_qty(r)
                for r in records
                if r.client_order_id != escalation and r.side == intent.side
            ),
            Decimal(0),
        )
        rest = intent.qty - done
        if rest <= 0:
            return None
        try:
            qty = desk.amount(rest)
        except ccxt.BaseError:
            return None  # less than one lot is left
        if qty <= 0:
            return None
        # Closing what an exit left open is reduce-only; an entry's rest is completed as is.
        reduce_only = intent.market == "FUT" and is_reducing(intent)
        leg = Leg(LEG_ESCALATION, "MARKET", intent.side, qty, reduce_only=reduce_only)
        try:
            return await desk.ensure(leg)
        finally:
            await desk.flush()


def _done_qty(record: OrderRecord) -> Decimal:
    # A conditional leg that triggered became another venue order: its quantity is done.
    if record.order_type in CONDITIONAL_TYPES and record.status == "FILLED":
        return record.qty
    return record.filled_qty


def _coid(intent: OrderIntent, leg: Leg) -> str:
    return client_order_id(intent.intent_id, leg.leg)


def _comparable(intent: OrderIntent) -> OrderIntent:
    return msgspec.structs.replace(intent, created_ts_ms=0, config_rev=0)


def _outcome(intent_id: str, records: list[OrderRecord], *, expected: int) -> RouteOutcome:
    results = tuple(r.result() for r in records)
    if any(r.status in ("PENDING", "UNKNOWN") for r in records):
        state: RouteState = "UNKNOWN"
    elif len(records) < expected:
        state = "WORKING"
    else:
        state = "DONE"
    return RouteOutcome(intent_id, state, results)


__all__ = ["CANCEL_KIND", "CancelRequest", "RouteOutcome", "RouteState", "Router"]
