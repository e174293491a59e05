"""``Reconciler``: one S5 run (spec §A S5, flow B4); scopes ORDERS, POSITIONS and ALL (both).

ORDERS — per market (``reconcile.markets``) and symbol (the symbols of open ``orders`` rows plus
the configured ones) the venue's open orders — regular and conditional (algo) — are read first,
then the DB's open ``orders`` rows (PENDING / NEW / PARTIALLY_FILLED / UNKNOWN); both are keyed by
client order id. Reading the venue first means an order S4 places in between shows up as
venue-only, and is found in ``orders`` by the re-check made before any orphan is touched.

* both: nothing to do.
* DB-only: the row is brought to the venue's state by S4's own machinery (``OrderDesk.refresh``
  under the intent's lock, skipped while S4 holds it), so ``orders``, ``fills`` and
  ``ord:{results}`` are written exactly as S4 writes them.
* venue-only (an orphan): ``reconcile.orphans`` — ``cancel`` (default) at the venue, ``adopt``
  (leave it open, INFO alert) or ``alert`` (leave it open, CRITICAL alert).

POSITIONS — ``handlers.s5_reconciler.positions`` (net FUT positions, repairs, stop check).
ALL runs ORDERS first, so a stop the venue triggered is recorded before positions are compared.

Agreement is the Jaccard index of the two id sets. Writes: ``strategy_events`` RECONCILE_RUN per
run and RECONCILE_ORPHAN / RECONCILE_RESOLVED per item (deterministic ids), ``alerts`` rows, the
health-degrade signal (``health``) when severe, and ``recon:{last_run_ts}`` only when a run of
scope ALL read everything and every action succeeded (it opens the start-up gate, ``gate``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

import ccxt.async_support as ccxt
import msgspec

from chimera import names
from chimera.config.positions import PositionsConfig
from chimera.config.reconcile import ReconcileConfig
from chimera.config.risk import RiskConfig
from chimera.domain.orders import Market
from chimera.venues import orders as venue
from chimera.venues.ccxt_factory import Exchange
from handlers.s4_router.errors import IntentBusy, IntentInvalid
from handlers.s4_router.router import Router
from handlers.s4_router.runtime import ccxt_symbol, now_ms
from handlers.s4_router.store import OPEN_STATES, OrderRecord
from handlers.s5_reconciler.health import degrade, publish_severity, severity
from handlers.s5_reconciler.positions import PositionsPass
from handlers.s5_reconciler.report import (
    ActionKind,
    PositionsSummary,
    ReconcileAction,
    ReconcileReport,
    RunLog,
    Scope,
    jaccard,
)
from handlers.s5_reconciler.writes import (
    DISAGREEMENT_KIND,
    ORPHAN_KIND,
    RESOLVED_KIND,
    RUN_KIND,
    Severity,
    add_alert,
)

log = logging.getLogger(__name__)
_COLUMNS = ", ".join(OrderRecord.__struct_fields__)
_OPEN_SYMBOLS = "SELECT DISTINCT symbol FROM orders WHERE market = $1 AND status = ANY($2::text[])"
_OPEN_ROWS = (
    f"SELECT {_COLUMNS} FROM orders WHERE market = $1 AND status = ANY($2::text[]) "
    "AND symbol = $3 ORDER BY created_ts_ms, client_order_id"
)
_ORPHAN_SEVERITY: dict[str, Severity] = {"cancel": "WARN", "adopt": "INFO", "alert": "CRITICAL"}
_ORPHAN_ACTION: dict[str, ActionKind] = {"adopt": "ADOPTED", "alert": "ALERTED"}
_BY_S4 = "already resolved by S4"


class Reconciler:
    """Reconciles open orders through ``router`` (S4's store, venues and result sink)."""

    def __init__(
        self,
        router: Router,
        config: ReconcileConfig,
        symbols: Iterable[str] = (),
        positions: PositionsConfig | None = None,
        risk: RiskConfig | None = None,
    ) -> None:
        self.router = router
        self.config = config
        self.symbols = tuple(symbols)
        self.positions = positions or PositionsConfig()
        self.risk = risk or RiskConfig()

    async def run(self, scope: Scope = "ALL") -> ReconcileReport:
        """Reconcile ``scope`` once and return the report."""
        run = RunLog(uuid.uuid4().hex[:16], now_ms())
        if scope in ("ALL", "ORDERS"):
            for market in self.config.markets:
                await self._market(run, market)
        summary = None
        if scope in ("ALL", "POSITIONS"):
            summary = await PositionsPass(
                self.router, self.config, self.positions, run, self.risk
            ).run()
        report = self._report(run, scope, summary)
        await self._record(report)
        return report

    # --- per market / symbol --------------------------------------------------------------
    async def _market(self, run: RunLog, market: Market) -> None:
        rows = await self.router.store.pool.fetch(_OPEN_SYMBOLS, market, sorted(OPEN_STATES))
        in_db = {str(row["symbol"]) for row in rows}
        symbols = sorted(in_db | set(self.symbols))
        try:
            exchange = await self.router.runtime.venues.exchange(market)
        except ccxt.BaseError as exc:
            run.errors.append(f"{market}: venue unreachable: {exc}")
            return
        for symbol in symbols:
            await self._symbol(run, exchange, market, symbol, symbol in in_db)

    async def _symbol(
        self,
        run: RunLog,
        exchange: Exchange,
        market: Market,
        symbol: str,
        has_rows: bool,
    ) -> None:
        try:
            unified = ccxt_symbol(exchange, market, symbol)
        except ValueError as exc:
            if has_rows:
                run.errors.append(f"{market} {symbol}: {exc}")
            return  # a configured symbol this market does not list (e.g. no spot pair)
        try:
            at_venue = {o.client_order_id: o for o in await venue.open_orders(exchange, unified)}
        except ccxt.BaseError as exc:
            run.errors.append(f"{market} {symbol}: open orders unreadable: {exc}")
            return
        # Read after the venue: a row S4 claims in between is in this set (see module doc).
        in_db = {r.client_order_id: r for r in await self._open_rows(market, symbol)}
        run.venue_ids |= {f"{market}:{cid}" for cid in at_venue}
        run.db_ids |= {f"{market}:{cid}" for cid in in_db}
        for cid in sorted(in_db.keys() - at_venue.keys())[: self.config.max_resolve]:
            await self._resolve(run, in_db[cid])
        for cid in sorted(at_venue.keys() - in_db.keys()):
            await self._orphan(run, exchange, market, unified, at_venue[cid])

    async def _open_rows(self, market: Market, symbol: str) -> list[OrderRecord]:
        rows = await self.router.store.pool.fetch(
            _OPEN_ROWS,
            market,
            sorted(OPEN_STATES),
            symbol,
        )
        return [msgspec.convert(dict(row), OrderRecord) for row in rows]

    # --- DB-only rows: the venue's state by client order id, written as S4 writes it -------
    async def _resolve(self, run: RunLog, record: OrderRecord) -> None:
        action = await self._refresh(record)
        run.actions.append(action)
        if action.kind == "BUSY" or action.detail == _BY_S4:
            run.transient.add(f"{record.market}:{record.client_order_id}")
        if action.kind == "RESOLVED":
            await self.router.store.add_event(
                f"{RESOLVED_KIND}:{record.client_order_id}:{action.status_after}",
                RESOLVED_KIND,
                record.symbol,
                record.intent_id,
                {"run_id": run.run_id, **msgspec.structs.asdict(action)},
                run.ts_ms,
            )

    async def _refresh(self, record: OrderRecord) -> ReconcileAction:
        def action(
            kind: ActionKind, after: OrderRecord | None = None, detail: str = ""
        ) -> ReconcileAction:
            return ReconcileAction(
                kind=kind,
                market=record.market,
                symbol=record.symbol,
                client_order_id=record.client_order_id,
                status_before=record.status,
                status_after=(after or record).status,
                detail=detail,
            )

        stored = await self.router.store.intent(record.intent_id)
        if stored is None:
            return action("UNRESOLVED", detail="no stored intent for this order")
        try:
            desk = await self.router.desk(stored[0])
            async with self.router.locked(record.intent_id, wait=False):
                current = await self.router.store.order(record.client_order_id) or record
                if not current.is_open:  # S4 finished it since the snapshot
                    return action("RESOLVED", current, _BY_S4)
                updated = await desk.refresh(current)
        except IntentBusy:
            return action("BUSY", detail="S4 holds the intent's lock")
        except IntentInvalid as exc:
            return action("UNRESOLVED", detail=str(exc))
        if updated.status == record.status and updated.filled_qty == record.filled_qty:
            return action("UNRESOLVED", updated, "the venue has no different state for it")
        return action("RESOLVED", updated)

    # --- venue-only orders -------------------------------------------------------------------
    async def _orphan(
        self, run: RunLog, exchange: Exchange, market: Market, unified: str, order: venue.VenueOrder
    ) -> None:
        known = await self.router.store.order(order.client_order_id)
        if known is not None:  # claimed by S4 after the snapshot, or closed in the DB
            if known.is_open:
                run.transient.add(f"{market}:{order.client_order_id}")
            else:
                await self._resolve(run, known)
            return
        policy = self.config.orphans
        kind: ActionKind = "CANCELLED"
        if policy == "cancel":
            try:
                cancelled = await venue.cancel_order(
                    exchange, unified, order.client_order_id, conditional=order.conditional
                )
            except ccxt.BaseError as exc:
                run.errors.append(f"{market} {order.symbol}: cancel {order.client_order_id}: {exc}")
                kind, policy = "ALERTED", "alert"
            else:
                kind = "CANCELLED" if cancelled is not None else "GONE"
        else:
            kind = _ORPHAN_ACTION[policy]
        action = ReconcileAction(
            kind=kind,
            market=market,
            symbol=order.symbol,
            client_order_id=order.client_order_id,
            status_before=order.status,
            detail=_describe(order),
        )
        run.actions.append(action)
        body = {"run_id": run.run_id, "policy": policy, **msgspec.structs.asdict(action)}
        ref = f"{market}:{order.client_order_id}"
        await self.router.store.add_event(
            f"{ORPHAN_KIND}:{ref}", ORPHAN_KIND, order.symbol, ref, body, run.ts_ms
        )
        await add_alert(
            self.router.store.pool,
            f"{ORPHAN_KIND}:{ref}",
            _ORPHAN_SEVERITY[policy],
            ORPHAN_KIND,
            symbol=order.symbol,
            ref_id=ref,
            body=body,
            ts_ms=run.ts_ms,
        )

    # --- the run's outcome ------------------------------------------------------------------
    def _report(
        self, run: RunLog, scope: Scope, positions: PositionsSummary | None
    ) -> ReconcileReport:
        both = run.venue_ids & run.db_ids
        report = ReconcileReport(
            run_id=run.run_id,
            scope=scope,
            ts_ms=run.ts_ms,
            ok=not run.errors,
            venue_open=len(run.venue_ids),
            db_open=len(run.db_ids),
            both=len(both),
            venue_only=len(run.venue_ids - run.db_ids),
            db_only=len(run.db_ids - run.venue_ids),
            jaccard=jaccard(run.venue_ids, run.db_ids),
            settled_jaccard=jaccard(run.venue_ids - run.transient, run.db_ids - run.transient),
            actions=tuple(run.actions),
            errors=tuple(run.errors),
            positions=positions,
        )
        grade = severity(report, self.config.jaccard_alert_below)
        return msgspec.structs.replace(report, severity=grade)

    async def _record(self, report: ReconcileReport) -> None:
        body = msgspec.structs.asdict(report)
        await self.router.store.add_event(
            f"{RUN_KIND}:{report.run_id}", RUN_KIND, "", report.run_id, body, report.ts_ms
        )
        positions = report.positions
        # What S4 was routing while the run looked is not a disagreement (see the report).
        settled = 1.0 if positions is None else positions.settled_jaccard
        agreement = min(report.settled_jaccard, settled)
        if agreement < self.config.jaccard_alert_below:
            await add_alert(
                self.router.store.pool,
                f"{DISAGREEMENT_KIND}:{report.run_id}",
                "CRITICAL",
                DISAGREEMENT_KIND,
                symbol=None,
                ref_id=report.run_id,
                body={
                    "jaccard": report.jaccard,
                    "positions_jaccard": None if positions is None else positions.jaccard,
                    "threshold": self.config.jaccard_alert_below,
                    "venue_only": report.venue_only,
                    "db_only": report.db_only,
                },
                ts_ms=report.ts_ms,
            )
        redis = self.router.redis
        if await degrade(redis, report.severity, self.config.health_ttl_ms):
            log.warning("reconcile run %s degraded health to %s", report.run_id, report.severity)
        await publish_severity(redis, report)
        if not report.ok:
            log.warning("reconcile run %s incomplete: %s", report.run_id, report.errors)
        elif report.scope == "ALL":  # only a full pass opens the start-up gate (gate.py)
            await redis.set(names.RECON_LAST_RUN_TS, str(report.ts_ms))


def _describe(order: venue.VenueOrder) -> str:
    price = order.trigger_price if order.conditional else order.price
    what = "conditional" if order.conditional else "regular"
    return f"{what} {order.order_type} {order.side} {order.qty} @ {price}"


__all__ = ["Reconciler"]
