"""Issue D §4, venue faults: S4 (``s4-intents``) and S6 (``s6-entry``) on the root topology
against the paper venue with one fault injected per scenario.

Each scenario opens a FUT entry the way S3 does (B7 reservation, then the intent), lets S6
protect it (reduce-only SL and TP through S4's algo-order endpoint), and faults the entry's
send (``/fapi/v1/order``) or the protective legs' (``/fapi/v1/algoOrder``). At the end:
exactly one venue order per client order id and every row equal to the venue's order
(``tests.flows.invariants``), the B7 counters equal to what the open entries hold, and an
``alerts`` row only where a person should know. Rejects and partial fills are in
``test_venue_faults_rejects.py``; lost answers (duplicates, unknown, missed fills) in
``test_venue_faults_unknown.py``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from chimera import names
from chimera.risk import RiskLedger
from chimera_workers.connections import RedisClient
from handlers.s4_router.ids import client_order_id
from tests.chimera.paper.venue_fixtures import ccxt_exchange
from tests.flows.fault_rig import ALGO, ORDER, PERP, fault_rig
from tests.flows.invariants import (
    VenueView,
    assert_no_double_orders,
    assert_positions_match,
    assert_risk_counters_match,
    settled,
)
from tests.handlers.s4_router.support import results

pytestmark = pytest.mark.timeout(60)


async def statuses(redis: RedisClient, coid: str) -> list[str]:
    """Return the ``ord:{results}`` statuses of one order, in stream order."""
    return [r.status for r in await results(redis) if r.client_order_id == coid]


async def test_timeout_after_accept_is_adopted_not_resent(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    async with fault_rig(tmp_path, rclient, pool) as rig:
        # The venue executes the entry and its stop, then never answers either request.
        await rig.fault("timeout_after_accept", ORDER)
        await rig.fault("timeout_after_accept", ALGO)
        entry = await rig.open_entry("taa")
        await rig.wait_protected(entry)
        await settled(rig.venue, rclient, pool)
        mk = client_order_id(entry.intent_id, "mk")
        assert await statuses(rclient, mk) == ["PENDING", "UNKNOWN", "FILLED"]
        legs = [client_order_id(f"{entry.intent_id}:{leg}", "cd") for leg in ("sl", "tp")]
        first = [s for s in [await statuses(rclient, c) for c in legs] if "UNKNOWN" in s]
        assert first == [["PENDING", "UNKNOWN", "NEW"]]  # one of the two met the fault
        assert await rig.alerts() == []  # resolved by lookup: nobody needs to know


@pytest.mark.parametrize("kind", ["http_5xx", "http_429"])
async def test_5xx_and_429_are_resent_once_after_the_window(
    kind: str, tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    async with fault_rig(tmp_path, rclient, pool) as rig:
        # Not executed by the venue; S4 cannot know that, so it waits out the window, looks
        # the order up (absent) and only then sends it again under the same client order id.
        await rig.fault(kind, ORDER)
        await rig.fault(kind, ALGO)
        entry = await rig.open_entry(kind)
        await rig.wait_protected(entry)
        await settled(rig.venue, rclient, pool)
        # Both faults fired (their sends failed), and each order exists once (``settled``):
        # the retried delivery re-sent it, after looking it up.
        assert await rig.control.faults() == []
        mk = client_order_id(entry.intent_id, "mk")
        row = await pool.fetchrow("SELECT * FROM orders WHERE client_order_id = $1", mk)
        assert row["status"] == "FILLED" and row["filled_qty"] == entry.qty
        assert await rig.alerts() == []
        assert int(await rclient.get(names.risk_concurrency_key("BTCUSDT"))) == 1


async def test_the_invariants_catch_a_double_order_and_a_leaked_reservation(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    async with fault_rig(tmp_path, rclient, pool) as rig:
        entry = await rig.open_entry("inv")
        await rig.wait_protected(entry)
        await settled(rig.venue, rclient, pool)
        # A reservation nobody will release (an entry that never reached S4).
        leaked = await RiskLedger(rclient).reserve(
            "leaked", "ETHUSDT", Decimal("5"), rig.config.risk
        )
        assert leaked.ok
        with pytest.raises(AssertionError, match="held by no open position"):
            await assert_risk_counters_match(rclient, pool)
        # The entry's market order sent a second time under its client order id.
        mk = client_order_id(entry.intent_id, "mk")
        async with ccxt_exchange(rig.venue, "perp") as exchange:
            await exchange.create_order(  # type: ignore[attr-defined]
                PERP, "market", "buy", float(entry.qty), None, {"newClientOrderId": mk}
            )
        view = await VenueView.read(rig.venue, pool)
        with pytest.raises(AssertionError, match=f"'{mk}' is 2 venue orders"):
            assert_no_double_orders(view)
        with pytest.raises(AssertionError, match="orders net"):
            assert_positions_match(view)
