"""Issue D §4, venue faults: refusals (InsufficientFunds, InvalidOrder) and partial fills.

A refused entry is REJECTED with the venue's message, a ``WARN`` alert is written, and S6 gives
its B7 reservation back. A refused protective leg is REJECTED with a ``CRITICAL`` alert (the
position is open without that stop or take-profit); the entry keeps its reservation. A market
entry larger than the book fills partly (the venue expires the rest): S6 protects exactly what
filled, and nothing is alerted. Every scenario ends with ``tests.flows.invariants.settled``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from chimera.risk import RiskLedger
from chimera_workers.connections import RedisClient
from handlers.s4_router.ids import client_order_id
from tests.flows.fault_rig import ALGO, ORDER, fault_rig
from tests.flows.invariants import settled

pytestmark = pytest.mark.timeout(60)

INSUFFICIENT = (-2019, "Margin is insufficient.")  # ccxt InsufficientFunds
INVALID = (-4164, "Order's notional must be no smaller than 5 (unless you choose reduce only).")
WOULD_TRIGGER = (-2021, "Order would immediately trigger.")  # ccxt OrderImmediatelyFillable


@pytest.mark.parametrize("code_msg", [INSUFFICIENT, INVALID], ids=["insufficient", "invalid"])
async def test_a_refused_entry_is_rejected_alerted_and_released(
    code_msg: tuple[int, str], tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    code, msg = code_msg
    async with fault_rig(tmp_path, rclient, pool) as rig:
        await rig.fault("reject", ORDER, code=code, msg=msg)
        entry = await rig.open_entry("rej")
        await rig.wait_status(entry.intent_id, "REJECTED")
        await settled(rig.venue, rclient, pool)  # the reservation is released
        assert (await RiskLedger(rclient).usage("BTCUSDT")) == (Decimal(0), 0)
        coid = client_order_id(entry.intent_id, "mk")
        row = await pool.fetchrow("SELECT * FROM orders WHERE client_order_id = $1", coid)
        assert msg in row["message"]
        (alert,) = await rig.alerts()
        assert (alert["alert_id"], alert["severity"], alert["kind"]) == (
            f"ORDER_REJECTED:{coid}",
            "WARN",
            "ORDER_REJECTED",
        )
        assert (alert["symbol"], alert["ref_id"]) == ("BTCUSDT", entry.intent_id)
        body = json.loads(alert["body"])
        assert body["purpose"] == "ENTRY" and msg in body["message"]
        # Nothing else was sent for the entry (no stops for a position that does not exist).
        assert await pool.fetchval("SELECT count(*) FROM orders") == 1


@pytest.mark.parametrize("code_msg", [INSUFFICIENT, WOULD_TRIGGER], ids=["insufficient", "invalid"])
async def test_a_refused_protective_leg_is_a_critical_alert(
    code_msg: tuple[int, str], tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    code, msg = code_msg
    async with fault_rig(tmp_path, rclient, pool) as rig:
        await rig.fault("reject", ALGO, code=code, msg=msg)  # the first of the two legs
        entry = await rig.open_entry("prot")
        for leg in ("sl", "tp"):
            await rig.wait_status(f"{entry.intent_id}:{leg}", "NEW", "REJECTED")
        await settled(rig.venue, rclient, pool)
        legs = await pool.fetch(
            "SELECT * FROM orders WHERE pos_id = $1 ORDER BY status", entry.intent_id
        )
        assert [r["status"] for r in legs] == ["NEW", "REJECTED"]
        refused = legs[1]
        assert msg in refused["message"] and refused["reduce_only"]
        (alert,) = await rig.alerts()
        assert alert["alert_id"] == f"ORDER_REJECTED:{refused['client_order_id']}"
        assert alert["severity"] == "CRITICAL" and alert["ref_id"] == refused["intent_id"]
        assert json.loads(alert["body"])["purpose"] == refused["purpose"]
        # The position is open: its reservation is still held.
        assert (await RiskLedger(rclient).usage("BTCUSDT"))[1] == 1


async def test_a_partial_fill_is_protected_for_what_filled(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    async with fault_rig(tmp_path, rclient, pool) as rig:
        # More than the whole book: the market order walks every level, the rest expires.
        entry = await rig.open_entry("partial", qty=Decimal("12"))
        await rig.wait_status(entry.intent_id, "EXPIRED")
        await rig.wait_protected(entry)
        await settled(rig.venue, rclient, pool)
        row = await pool.fetchrow("SELECT * FROM orders WHERE intent_id = $1", entry.intent_id)
        assert 0 < row["filled_qty"] < entry.qty
        legs = await pool.fetch("SELECT * FROM orders WHERE pos_id = $1", entry.intent_id)
        assert sorted(r["purpose"] for r in legs) == ["SL", "TP"]
        assert all(r["qty"] == row["filled_qty"] for r in legs)
        assert await rig.alerts() == []
        assert (await RiskLedger(rclient).usage("BTCUSDT"))[1] == 1
