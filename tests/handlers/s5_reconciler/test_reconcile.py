"""S5's ORDERS reconcile on the paper venue, real Redis and PostgreSQL (spec flow B4)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import asyncpg

from chimera import names
from chimera.config.reconcile import ReconcileConfig
from chimera.paper.venue import PaperVenue
from chimera_workers.connections import RedisClient
from handlers.s4_router.ids import client_order_id
from handlers.s4_router.runtime import RouterRuntime
from handlers.s5_reconciler.reconciler import Reconciler
from handlers.s5_reconciler.report import PositionsSummary, Scope
from tests.chimera.paper.venue_fixtures import ccxt_exchange
from tests.handlers.s4_router.support import (
    SPOT,
    intent,
    make_router,
    new_id,
    order_rows,
    perp,
    results,
    runtime,
    venue,
)

__all__ = ["perp", "runtime", "venue"]  # fixtures

PERP = "BTC/USDT:USDT"
SYMBOLS = ("BTCUSDT",)


def reconciler(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, **config: Any
) -> Reconciler:
    values: dict[str, Any] = {"markets": ("FUT",)}
    values.update(config)
    return Reconciler(make_router(rclient, pool, runtime), ReconcileConfig(**values), SYMBOLS)


async def touch(perp: Any) -> tuple[Decimal, Decimal]:
    book = await perp.fetch_order_book(PERP, 5)
    return Decimal(str(book["bids"][0][0])), Decimal(str(book["asks"][0][0]))


async def place_orphans(perp: Any) -> tuple[str, str]:
    """Place, behind S4's back, a resting limit far below the bid and a far stop trigger."""
    bid, _ = await touch(perp)
    limit_id, trigger_id = new_id("orphan-lim"), new_id("orphan-trg")
    price = perp.price_to_precision(PERP, str(bid * Decimal("0.7")))
    await perp.create_order(PERP, "limit", "buy", "0.01", price, {"clientOrderId": limit_id})
    stop = perp.price_to_precision(PERP, str(bid * Decimal("0.6")))
    await perp.create_order(
        PERP, "market", "sell", "0.01", None, {"clientOrderId": trigger_id, "stopLossPrice": stop}
    )
    return limit_id, trigger_id


async def open_ids(perp: Any) -> set[str]:
    regular = await perp.fetch_open_orders(PERP)
    triggers = await perp.fetch_open_orders(PERP, params={"trigger": True})
    return {o["clientOrderId"] for o in [*regular, *triggers]}


async def events(pool: asyncpg.Pool, kind: str) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            "SELECT event_id, ref_id, body FROM strategy_events WHERE kind = $1 ORDER BY event_id",
            kind,
        )
    )


async def test_clean_state_agrees_and_records_the_run(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    report = await reconciler(rclient, pool, runtime, markets=("FUT", "SPOT")).run("ALL")
    assert report.ok and report.jaccard == 1.0 and report.actions == ()
    assert (report.venue_open, report.db_open) == (0, 0)
    assert report.positions == PositionsSummary() and report.severity == "GREEN"
    assert await pool.fetchval("SELECT count(*) FROM alerts") == 0
    assert await rclient.get(names.RECON_LAST_RUN_TS) == str(report.ts_ms).encode()
    (run,) = await events(pool, "RECONCILE_RUN")
    assert run["event_id"] == f"RECONCILE_RUN:{report.run_id}"
    assert json.loads(run["body"])["jaccard"] == 1.0


async def test_orphans_are_cancelled_with_an_alert_and_an_event(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    limit_id, trigger_id = await place_orphans(perp)
    assert {limit_id, trigger_id} <= await open_ids(perp)
    report = await reconciler(rclient, pool, runtime).run("ORDERS")
    assert report.ok and report.venue_only == 2 and report.jaccard == 0.0
    assert {(a.client_order_id, a.kind) for a in report.actions} == {
        (limit_id, "CANCELLED"),
        (trigger_id, "CANCELLED"),
    }
    assert not {limit_id, trigger_id} & await open_ids(perp)
    orphan_alerts = await pool.fetch(
        "SELECT severity, ref_id FROM alerts WHERE kind = 'RECONCILE_ORPHAN' ORDER BY ref_id"
    )
    assert {(a["severity"], a["ref_id"]) for a in orphan_alerts} == {
        ("WARN", f"FUT:{limit_id}"),
        ("WARN", f"FUT:{trigger_id}"),
    }
    assert (
        await pool.fetchval("SELECT severity FROM alerts WHERE kind = 'RECONCILE_DISAGREEMENT'")
        == "CRITICAL"
    )
    assert [e["ref_id"] for e in await events(pool, "RECONCILE_ORPHAN")] == sorted(
        [f"FUT:{limit_id}", f"FUT:{trigger_id}"]
    )
    # A rerun finds the venue clean: nothing more is written for the orphans.
    again = await reconciler(rclient, pool, runtime).run("ORDERS")
    assert again.ok and again.jaccard == 1.0 and again.actions == ()
    assert len(await events(pool, "RECONCILE_ORPHAN")) == 2
    assert await pool.fetchval("SELECT count(*) FROM alerts") == 3


async def test_alert_policy_leaves_orphans_open_and_reruns_add_nothing(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    limit_id, trigger_id = await place_orphans(perp)
    first = await reconciler(rclient, pool, runtime, orphans="alert").run("ORDERS")
    assert {a.kind for a in first.actions} == {"ALERTED"}
    assert {limit_id, trigger_id} <= await open_ids(perp)
    severities = await pool.fetch("SELECT severity FROM alerts WHERE kind = 'RECONCILE_ORPHAN'")
    assert [s["severity"] for s in severities] == ["CRITICAL", "CRITICAL"]
    second = await reconciler(rclient, pool, runtime, orphans="alert").run("ORDERS")
    assert {a.kind for a in second.actions} == {"ALERTED"}
    assert len(await events(pool, "RECONCILE_ORPHAN")) == 2
    assert await pool.fetchval("SELECT count(*) FROM alerts WHERE kind = 'RECONCILE_ORPHAN'") == 2
    assert len(await events(pool, "RECONCILE_RUN")) == 2  # one per run, by design


async def test_a_leg_cancelled_behind_s4s_back_is_resolved_from_the_venue(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    router = make_router(rclient, pool, runtime)
    await router.submit(intent("entry", qty=Decimal("0.004")))
    bid, _ = await touch(perp)
    leg = intent("sl", exec="STOP_MARKET", side="sell", qty=Decimal("0.004"),
                 trigger_price=bid * Decimal("0.8"), purpose="SL", reduce_only=True)  # fmt: skip
    outcome = await router.submit(leg)
    assert outcome.results[0].status == "NEW"
    coid = client_order_id(leg.intent_id, "cd")
    await perp.cancel_order(None, PERP, {"clientOrderId": coid, "trigger": True})
    before = [r.status for r in await results(rclient) if r.client_order_id == coid]
    assert "CANCELED" not in before

    report = await reconciler(rclient, pool, runtime).run("ORDERS")
    assert report.ok and report.db_only == 1 and report.venue_only == 0
    (action,) = report.actions
    assert (action.kind, action.client_order_id) == ("RESOLVED", coid)
    assert (action.status_before, action.status_after) == ("NEW", "CANCELED")
    (row,) = await order_rows(pool, leg.intent_id)
    assert row["status"] == "CANCELED"
    published = [r for r in await results(rclient) if r.client_order_id == coid]
    assert [r.status for r in published] == [*before, "CANCELED"]
    (resolved,) = await events(pool, "RECONCILE_RESOLVED")
    assert resolved["event_id"] == f"RECONCILE_RESOLVED:{coid}:CANCELED"
    assert resolved["ref_id"] == leg.intent_id

    again = await reconciler(rclient, pool, runtime).run("ORDERS")
    assert again.ok and again.jaccard == 1.0 and again.actions == ()
    assert len(await events(pool, "RECONCILE_RESOLVED")) == 1
    statuses = [r.status for r in await results(rclient) if r.client_order_id == coid]
    assert statuses == [*before, "CANCELED"]


async def test_only_a_successful_all_run_marks_recon_last_run_ts(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    scopes: tuple[Scope, ...] = ("ORDERS", "POSITIONS")
    for scope in scopes:
        report = await reconciler(rclient, pool, runtime).run(scope)
        assert report.ok and report.scope == scope
        assert (report.positions is None) == (scope == "ORDERS")
    assert await rclient.exists(names.RECON_LAST_RUN_TS) == 0
    report = await reconciler(rclient, pool, runtime).run("ALL")
    assert report.ok and await rclient.get(names.RECON_LAST_RUN_TS) == str(report.ts_ms).encode()


async def test_spot_orphan_is_cancelled(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, venue: PaperVenue
) -> None:
    async with ccxt_exchange(venue, "spot") as spot:
        await spot.load_markets()
        book = await spot.fetch_order_book(SPOT, 5)
        price = spot.price_to_precision(
            SPOT, str(Decimal(str(book["bids"][0][0])) * Decimal("0.7"))
        )
        orphan = new_id("spot-orphan")
        await spot.create_order(SPOT, "limit", "buy", "0.01", price, {"clientOrderId": orphan})
        report = await reconciler(rclient, pool, runtime, markets=("SPOT",)).run("ORDERS")
        assert [(a.market, a.client_order_id, a.kind) for a in report.actions] == [
            ("SPOT", orphan, "CANCELLED")
        ]
        assert orphan not in {o["clientOrderId"] for o in await spot.fetch_open_orders(SPOT)}
