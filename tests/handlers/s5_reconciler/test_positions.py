"""S5's POSITIONS scope on the paper venue, real Redis and PostgreSQL: the venue is truth."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from chimera import names
from chimera.domain.metrics import MetricEvent
from chimera.domain.positions import PositionEvent
from chimera.risk import RiskLedger
from chimera_workers.connections import RedisClient
from chimera_workers.keys import PAYLOAD_FIELD
from handlers.s4_router.runtime import RouterRuntime
from handlers.s6_positions.position import open_positions
from tests.handlers.s4_router.support import flat, intent, make_router, perp, runtime, venue
from tests.handlers.s5_reconciler.support import (
    PERP,
    count,
    deliver_to_s6,
    ours,
    reconciler,
    venue_net,
)
from tests.handlers.s6_positions.support import CONFIG

__all__ = ["perp", "runtime", "venue"]  # fixtures


async def pos_events(rclient: RedisClient) -> list[PositionEvent]:
    entries: list[tuple[bytes, dict[bytes, bytes]]]
    entries = await rclient.xrange(names.POS_EVENTS)  # type: ignore[assignment]
    return [msgspec.json.decode(f[PAYLOAD_FIELD], type=PositionEvent) for _, f in entries]


async def metrics(rclient: RedisClient) -> list[MetricEvent]:
    entries: list[tuple[bytes, dict[bytes, bytes]]]
    entries = await rclient.xrange(names.METRICS_EVENTS)  # type: ignore[assignment]
    decoded = [msgspec.json.decode(f[PAYLOAD_FIELD], type=MetricEvent) for _, f in entries]
    return [m for m in decoded if m.name == "s5.recon_severity"]


async def test_a_position_only_the_db_holds_is_closed_in_the_db_and_settled_by_s6(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    signal = "BTCUSDT:recon-db-only"
    ledger = RiskLedger(rclient)
    assert (await ledger.reserve(signal, "BTCUSDT", Decimal("20"), CONFIG.risk)).ok
    entry = intent("entry", qty=Decimal("0.002"), signal_id=signal)
    assert (await make_router(rclient, pool, runtime).submit(entry)).state == "DONE"
    await flat(perp)  # the venue closes it behind S4's back (a fill the DB never saw)

    report = await reconciler(rclient, pool, runtime).run("POSITIONS")
    assert report.ok and report.positions is not None
    assert report.positions.jaccard == 0.0 and report.severity == "ORANGE"
    (action,) = report.actions
    assert (action.kind, action.pos_id, action.qty) == (
        "POSITION_REPAIRED", entry.intent_id, Decimal("0.002"),
    )  # fmt: skip
    row = await pool.fetchrow(
        "SELECT * FROM orders WHERE client_order_id = $1", action.client_order_id
    )
    assert (row["purpose"], row["status"], row["filled_qty"], row["reduce_only"]) == (
        "REDUCE", "FILLED", Decimal("0.002"), True,
    )  # fmt: skip
    assert (row["pos_id"], row["signal_id"], row["side"]) == (entry.intent_id, signal, "sell")
    assert await open_positions(pool) == []
    (published,) = await ours(rclient, "recon:")
    assert (published.purpose, published.status, published.pos_id) == (
        "REDUCE", "FILLED", entry.intent_id,
    )  # fmt: skip

    # S6's close path settles it: the reservation is released, EXIT emitted, CLOSED snapshot.
    await deliver_to_s6(tmp_path, rclient, pool, "recon:")
    assert await ledger.usage("BTCUSDT") == (Decimal(0), 0)
    assert [(e.kind, e.pos_id) for e in await pos_events(rclient)] == [("EXIT", entry.intent_id)]
    closed = await pool.fetchval(
        "SELECT status FROM positions_snapshots WHERE snapshot_id = $1", f"{entry.intent_id}:CLOSED"
    )
    assert closed == "CLOSED"
    alert = await pool.fetchrow("SELECT severity, kind, symbol FROM alerts")
    assert tuple(alert) == ("CRITICAL", "RECONCILE_POSITION", "BTCUSDT")
    assert await count(pool, "strategy_events WHERE kind = 'RECONCILE_POSITION'") == 1
    assert await rclient.get(names.HEALTH_STATE) == b"ORANGE"
    assert 0 < await rclient.pttl(names.HEALTH_STATE) <= 600_000
    assert [m.value for m in await metrics(rclient)] == [2.0]

    # A rerun finds both sides flat: nothing is written but its RUN event and its metric.
    orders_before, alerts_before = await count(pool, "orders"), await count(pool, "alerts")
    again = await reconciler(rclient, pool, runtime).run("POSITIONS")
    assert again.ok and again.actions == () and again.severity == "GREEN"
    assert again.positions is not None and again.positions.jaccard == 1.0
    assert (await count(pool, "orders"), await count(pool, "alerts")) == (
        orders_before, alerts_before,
    )  # fmt: skip


async def test_a_venue_only_position_is_adopted_and_protected_by_s6(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    await perp.create_order(PERP, "market", "buy", "0.003")  # a fill S4 never saw
    report = await reconciler(rclient, pool, runtime).run("POSITIONS")
    assert report.ok and report.severity == "ORANGE"
    (action,) = report.actions
    assert (action.kind, action.qty) == ("POSITION_ADOPTED", Decimal("0.003"))
    (position,) = await open_positions(pool)
    assert (position.pos_id, position.side, position.open_qty) == (
        action.pos_id, "buy", Decimal("0.003"),
    )  # fmt: skip
    venue_entry = Decimal(str((await perp.fetch_positions([PERP]))[0]["info"]["entryPrice"]))
    assert position.entry_price == venue_entry
    # It holds B7 margin and a concurrency unit like any position (its own id), so S3's caps
    # count it; S6 releases it when it closes.
    assert position.signal_id == position.pos_id
    margin, slots = await RiskLedger(rclient).usage("BTCUSDT")
    assert slots == 1 and margin == (Decimal("0.003") * venue_entry / 5).quantize(
        Decimal("0.01"), rounding=ROUND_CEILING
    )
    # Its snapshot says where the reconcile found it.
    snapshot = await pool.fetchrow("SELECT source, qty FROM positions_snapshots")
    assert tuple(snapshot) == ("RECONCILE", Decimal("0.003"))

    # S6 protects it as any entry: a reduce-only stop and take-profit for the whole quantity.
    emitted = await deliver_to_s6(tmp_path, rclient, pool, "recon:")
    assert {(i.purpose, i.qty, i.pos_id, i.reduce_only) for i in emitted} == {
        ("SL", Decimal("0.003"), position.pos_id, True),
        ("TP", Decimal("0.003"), position.pos_id, True),
    }
    # A rerun agrees (the new position is within S6's grace: S5 places no stop of its own).
    alerts_before = await count(pool, "alerts")
    again = await reconciler(rclient, pool, runtime).run("POSITIONS")
    assert again.ok and again.actions == () and again.severity == "GREEN"
    assert await count(pool, "alerts") == alerts_before


async def test_derisk_closes_a_venue_only_position_at_market(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    await perp.create_order(PERP, "market", "sell", "0.002")
    report = await reconciler(rclient, pool, runtime, position_mismatch="derisk").run("POSITIONS")
    assert report.ok
    (action,) = report.actions
    assert (action.kind, action.qty, action.detail) == (
        "POSITION_DERISKED", Decimal("0.002"), "FILLED",
    )  # fmt: skip
    assert await venue_net(perp) == 0
    row = await pool.fetchrow("SELECT side, purpose, reduce_only, order_type FROM orders")
    assert tuple(row) == ("buy", "REDUCE", True, "MARKET")
    assert await open_positions(pool) == []


async def test_alert_policy_only_alerts_and_a_rerun_adds_no_alert(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    await perp.create_order(PERP, "market", "buy", "0.002")
    for _ in range(2):
        report = await reconciler(rclient, pool, runtime, position_mismatch="alert").run(
            "POSITIONS"
        )
        assert [a.kind for a in report.actions] == ["POSITION_ALERTED"]
        assert report.severity == "ORANGE"
    assert await count(pool, "orders") == 0
    assert await venue_net(perp) == Decimal("0.002")
    assert await count(pool, "alerts WHERE kind = 'RECONCILE_POSITION'") == 1
    assert await count(pool, "strategy_events WHERE kind = 'RECONCILE_POSITION'") == 1


async def test_a_mismatch_while_orders_are_recent_is_deferred(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    await make_router(rclient, pool, runtime).submit(intent("entry"))
    await flat(perp)
    report = await reconciler(rclient, pool, runtime, quiet_ms=60_000).run("ALL")
    assert not report.ok and [a.kind for a in report.actions] == ["POSITION_DEFERRED"]
    assert report.severity == "GREEN"  # in flight is not (yet) a mismatch
    assert await rclient.exists(names.HEALTH_STATE) == 0
    assert await count(pool, "alerts WHERE kind = 'RECONCILE_POSITION'") == 0
    assert len(await open_positions(pool)) == 1
    assert await rclient.exists(names.RECON_LAST_RUN_TS) == 0  # the gate stays closed


async def test_opposite_sides_flatten_the_db_then_adopt_the_venue_position(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    entry = intent("entry", qty=Decimal("0.002"))
    await make_router(rclient, pool, runtime).submit(entry)  # the DB: long 0.002
    await flat(perp)
    await perp.create_order(PERP, "market", "sell", "0.003")  # the venue: short 0.003
    report = await reconciler(rclient, pool, runtime).run("POSITIONS")
    assert report.ok and report.positions is not None
    (check,) = report.positions.checks
    assert (check.venue_qty, check.db_qty) == (Decimal("-0.003"), Decimal("0.002"))
    assert [(a.kind, a.qty) for a in report.actions] == [
        ("POSITION_REPAIRED", Decimal("0.002")),
        ("POSITION_ADOPTED", Decimal("0.003")),
    ]
    (adopted,) = await open_positions(pool)
    assert (adopted.side, adopted.open_qty) == ("sell", Decimal("0.003"))
    again = await reconciler(rclient, pool, runtime).run("POSITIONS")
    assert again.ok and again.actions == ()


async def test_a_repair_s6_never_settled_is_published_again(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    entry = intent("entry", qty=Decimal("0.002"))
    await make_router(rclient, pool, runtime).submit(entry)
    await flat(perp)
    first = await reconciler(rclient, pool, runtime).run("POSITIONS")
    assert [a.kind for a in first.actions] == ["POSITION_REPAIRED"]
    # As if the result never reached S6 (a crash before the XADD, or a lost delivery).
    await rclient.delete(names.ORD_RESULTS)
    orders_before = await count(pool, "orders")
    again = await reconciler(rclient, pool, runtime).run("POSITIONS")
    assert again.ok and again.actions == ()
    assert await count(pool, "orders") == orders_before
    (republished,) = await ours(rclient, "recon:")
    assert (republished.purpose, republished.pos_id) == ("REDUCE", entry.intent_id)
    await deliver_to_s6(tmp_path, rclient, pool, "recon:")
    assert [e.kind for e in await pos_events(rclient)] == ["EXIT"]
    # Settled now (CLOSED snapshot): nothing is published any more.
    await rclient.delete(names.ORD_RESULTS)
    await reconciler(rclient, pool, runtime).run("POSITIONS")
    assert await ours(rclient, "recon:") == []
