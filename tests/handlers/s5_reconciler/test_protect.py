"""The protection check: an open position without a stop gets one; a breached one is closed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from chimera import names
from chimera_workers.connections import RedisClient
from handlers.s4_router.runtime import RouterRuntime
from handlers.s6_positions.position import load_position, open_protective_orders
from tests.handlers.s4_router.support import intent, make_router, perp, runtime, venue
from tests.handlers.s5_reconciler.support import PERP, count, reconciler, venue_net

PROTECT = "RECONCILE_PROTECT"

__all__ = ["perp", "runtime", "venue"]  # fixtures


async def test_a_position_without_a_stop_gets_one_once(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    entry = intent("entry", qty=Decimal("0.003"))
    await make_router(rclient, pool, runtime).submit(entry)  # S6 never protected it
    report = await reconciler(rclient, pool, runtime, protect_grace_ms=0).run("ALL")
    assert report.ok and report.severity == "GREEN", report.errors
    (action,) = report.actions
    assert (action.kind, action.client_order_id, action.qty) == (
        "STOP_PLACED", f"{entry.intent_id}:rsl.0", Decimal("0.003"),
    )  # fmt: skip
    (stop,) = await open_protective_orders(pool, entry.intent_id)
    assert (stop.purpose, stop.order_type, stop.status, stop.qty) == (
        "SL", "STOP_MARKET", "NEW", Decimal("0.003"),
    )  # fmt: skip
    position = await load_position(pool, entry.intent_id)
    assert position is not None and position.entry_price is not None
    assert stop.trigger_price is not None and stop.trigger_price < position.entry_price
    triggers = await perp.fetch_open_orders(PERP, params={"trigger": True})
    assert [o["reduceOnly"] for o in triggers] == [True]
    alert = await pool.fetchrow("SELECT severity, kind FROM alerts")
    assert tuple(alert) == ("WARN", "RECONCILE_PROTECT")

    # Covered now: a rerun places nothing and alerts nothing.
    again = await reconciler(rclient, pool, runtime, protect_grace_ms=0).run("ALL")
    assert again.ok and again.actions == ()
    assert await count(pool, "alerts") == 1
    assert len(await open_protective_orders(pool, entry.intent_id)) == 1


async def test_a_stop_already_breached_closes_the_position_at_market(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    entry = intent("entry", qty=Decimal("0.002"))
    await make_router(rclient, pool, runtime).submit(entry)
    book = await perp.fetch_order_book(PERP, 5)
    above = Decimal(str(book["asks"][0][0])) * Decimal("1.05")
    # S6's pinned first stop of this long is above the market: the stop would trigger at once.
    await rclient.set(names.entry_protection_key(entry.intent_id), f"{above:.1f}|{above * 2:.1f}")
    report = await reconciler(rclient, pool, runtime, protect_grace_ms=0).run("POSITIONS")
    assert report.ok, report.errors
    (action,) = report.actions
    assert (action.kind, action.client_order_id, action.qty) == (
        "STOP_BREACHED_EXIT", f"{entry.intent_id}:rsx.0", Decimal("0.002"),
    )  # fmt: skip
    assert await venue_net(perp) == 0
    stop = await pool.fetchrow(
        "SELECT status, message FROM orders WHERE intent_id = $1", f"{entry.intent_id}:rsl.0"
    )
    assert stop["status"] == "REJECTED" and stop["message"].startswith("WOULD_TRIGGER_NOW")
    exit_row = await pool.fetchrow(
        "SELECT purpose, status, reduce_only FROM orders WHERE intent_id = $1",
        f"{entry.intent_id}:rsx.0",
    )
    assert tuple(exit_row) == ("EXIT", "FILLED", True)
    position = await load_position(pool, entry.intent_id)
    assert position is not None and position.open_qty == 0
    # (S4 raises its own ORDER_REJECTED alert for the refused stop.)
    alert = await pool.fetchrow("SELECT severity, ref_id FROM alerts WHERE kind = $1", PROTECT)
    assert tuple(alert) == ("CRITICAL", entry.intent_id)


async def test_a_stop_that_cannot_be_placed_leaves_it_unprotected_and_red(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    entry = intent("entry", qty=Decimal("0.002"))
    await make_router(rclient, pool, runtime).submit(entry)
    # An unusable pinned stop (zero): S4 refuses the intent before it reaches the venue.
    await rclient.set(names.entry_protection_key(entry.intent_id), "0|0")
    report = await reconciler(rclient, pool, runtime, protect_grace_ms=0).run("ALL")
    assert not report.ok and report.severity == "RED"
    assert [a.kind for a in report.actions] == ["UNPROTECTED"]
    assert report.positions is not None and report.positions.unprotected == 1
    assert await rclient.get(names.HEALTH_STATE) == b"RED"
    assert await rclient.exists(names.RECON_LAST_RUN_TS) == 0
