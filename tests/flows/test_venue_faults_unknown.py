"""Issue D §4, venue faults where S4 does not hear the venue's answer.

* Duplicate client order id: the venue holds the order while its lookups say "does not exist"
  (a lagging read); S4's re-send is refused as a duplicate, S4 keeps looking it up (it never
  re-sends in a loop) and adopts the order once the lookup sees it. And a duplicate refusal
  with no order behind it: looked up, absent, re-sent once after the window.
* An order left UNKNOWN (every send times out before the venue takes it): an ``ORDER_UNKNOWN``
  alert once it stays unresolved for two re-send windows; sent once when the venue recovers.
* Websocket drop with a missed fill: S4 follows its orders over REST only, so the drop itself
  loses nothing, but while nothing follows the conditional legs (the ``s4-conditionals``
  schedule is not running) the stop triggers at the venue; the next tick finds the fill,
  records it, cancels the take-profit and writes a ``FILL_FOUND_LATE`` alert; S6 releases the
  B7 reservation.
Every scenario ends with ``tests.flows.invariants.settled``.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from chimera.config.router import RouterConfig
from chimera.paper.faults import FaultRule
from chimera.risk import RiskLedger
from chimera_workers.connections import RedisClient
from handlers.s4_router.ids import client_order_id
from tests.chimera.paper.venue_fixtures import print_trade
from tests.flows.fault_rig import ALGO, ORDER, fault_rig
from tests.flows.invariants import VenueView, assert_db_matches_venue, settled
from tests.harness.polling import until

pytestmark = pytest.mark.timeout(60)


async def test_a_duplicate_refusal_is_looked_up_not_resent_in_a_loop(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    async with fault_rig(tmp_path, rclient, pool) as rig:
        # The first protective leg lands but its answer is lost, and the venue's lookups of
        # conditional orders say "does not exist" until cleared.
        await rig.fault("timeout_after_accept", ALGO)
        await rig.fault("reject", ALGO, method="GET", count=-1, code=-2013,
                        msg="Order does not exist.")  # fmt: skip
        entry = await rig.open_entry("dup")

        async def refused_as_duplicate() -> bool:
            got = await pool.fetchval(
                "SELECT count(*) FROM orders WHERE pos_id = $1 AND status = 'UNKNOWN' "
                "AND message LIKE 'duplicate client order id%'",
                entry.intent_id,
            )
            return bool(got == 1)

        await until(refused_as_duplicate, 20, "a leg re-sent and refused as a duplicate")
        await asyncio.sleep(1.5)  # retries meanwhile look it up; none re-sends it
        await rig.control.clear_faults()
        await rig.wait_protected(entry)
        await settled(rig.venue, rclient, pool)  # one venue order per leg
        assert {a["kind"] for a in await rig.alerts()} <= {"ORDER_UNKNOWN"}


async def test_a_duplicate_refusal_without_an_order_is_resent_once(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    async with fault_rig(tmp_path, rclient, pool) as rig:
        await rig.fault("reject", ORDER, code=-4116, msg="ClientOrderId is duplicated.")
        entry = await rig.open_entry("dup0")
        await rig.wait_protected(entry)
        await settled(rig.venue, rclient, pool)
        assert await rig.control.faults() == []  # the refusal happened
        assert await rig.status(entry.intent_id) == "FILLED"
        assert await rig.alerts() == []


async def test_an_order_left_unknown_is_alerted_then_sent_once(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    async with fault_rig(tmp_path, rclient, pool) as rig:
        await rig.fault("timeout_before_accept", ORDER, count=-1)
        entry = await rig.open_entry("unk")
        coid = client_order_id(entry.intent_id, "mk")

        async def alerted() -> bool:
            return any(a["alert_id"] == f"ORDER_UNKNOWN:{coid}" for a in await rig.alerts())

        await until(alerted, 20, "ORDER_UNKNOWN alert")
        assert await rig.status(entry.intent_id) == "UNKNOWN"
        (alert,) = await rig.alerts()
        assert alert["severity"] == "WARN" and alert["ref_id"] == entry.intent_id
        assert json.loads(alert["body"])["unresolved_for_ms"] >= 2_000
        await rig.control.clear_faults()  # the venue recovers
        await rig.wait_protected(entry)
        await settled(rig.venue, rclient, pool)
        assert await rig.status(entry.intent_id) == "FILLED"
        assert len(await rig.alerts()) == 1


async def test_a_fill_missed_during_a_websocket_drop_is_found_and_alerted(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    async with fault_rig(tmp_path, rclient, pool, schedules=[]) as rig:
        entry = await rig.open_entry("wsd")
        await rig.wait_protected(entry)
        await rig.control.arm_fault(FaultRule(kind="ws_drop", count=-1))
        sl = await pool.fetchrow(
            "SELECT * FROM orders WHERE intent_id = $1", f"{entry.intent_id}:sl"
        )
        print_trade(rig.venue, sl["trigger_price"] - 1, kind="perp")  # the stop triggers
        await asyncio.sleep(RouterConfig().late_fill_alert_ms / 1000 + 0.5)
        with pytest.raises(AssertionError, match="row NEW 0, venue FILLED"):
            assert_db_matches_venue(await VenueView.read(rig.venue, pool))
        # The process that follows conditional legs is back.
        tick = rig.worker_for([], ["s4-conditionals"], "faults-conditionals")
        await tick.start()
        try:
            await rig.wait_status(f"{entry.intent_id}:sl", "FILLED")
            await rig.wait_status(f"{entry.intent_id}:tp", "CANCELED")
            await settled(rig.venue, rclient, pool)
        finally:
            await tick.stop()
        (alert,) = await rig.alerts()
        assert alert["alert_id"] == f"FILL_FOUND_LATE:{sl['client_order_id']}"
        assert alert["severity"] == "CRITICAL"  # a stop: S6 did not know the position closed
        assert json.loads(alert["body"])["late_by_ms"] >= RouterConfig().late_fill_alert_ms
        assert (await RiskLedger(rclient).usage("BTCUSDT")) == (Decimal(0), 0)
