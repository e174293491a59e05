"""B8 step 1: S6's scheduled treasury check on the paper venue (real Redis, PostgreSQL, ccxt).

The venue is shared by the module, so each test sets ``min_free_fut`` relative to the futures
balance it finds, and checks money moved as a difference of the venue's balances.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import asyncpg
import msgspec
import pytest
import yaml

from chimera.config.bundle import ConfigBundle
from chimera.config.treasury import TreasuryAuto
from chimera.http import ServiceBusy
from chimera.paper.control import PaperControl
from chimera.paper.faults import FaultRule
from chimera.paper.venue import PaperVenue
from chimera_workers.config_ref import ConfigRef
from chimera_workers.connections import RedisClient
from chimera_workers.topology_loader import load_app
from chimera_workers.worker import Worker
from handlers.s1_connectors.treasury import TreasuryService
from handlers.s1_connectors.treasury_store import TreasuryStore
from handlers.s1_connectors.treasury_venue import CcxtVenue
from handlers.s4_router.runtime import RouterRuntime
from handlers.s6_positions.treasury import compute_need, transfer_id_for, treasury_tick
from handlers.s12_gateway.treasury_requests import TreasuryRequests
from tests.handlers.s1_connectors.treasury_support import audits
from tests.handlers.s4_router.support import runtime, venue
from tests.handlers.s12_gateway.support import (
    ROUTE_LOCK,
    alerts,
    events,
    free,
    lock_gone,
    policy,
    tick_context,
    transfers,
    unemitted,
)
from tests.harness.polling import until

__all__ = ["runtime", "venue"]  # fixtures
ROUTER_RUNTIME = "handlers.s4_router.runtime:router_runtime"
TRANSFER_ROUTE = "/sapi/v1/asset/transfer"


async def tick(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime,
    bundle: ConfigBundle,
) -> None:  # fmt: skip
    await treasury_tick(tick_context(tmp_path, rclient, pool, runtime, bundle))


@pytest.mark.parametrize(
    ("minimum", "free_fut", "step", "need"),
    [
        ("100", "100", "0.01", "0"),
        ("100", "150", "0.01", "0"),
        ("100", "99.991", "0.01", "0.01"),
        ("100", "40.5", "1", "60"),
        ("100", "0", "0.01", "100"),
    ],
)
def test_need_is_the_shortfall_rounded_up(
    minimum: str, free_fut: str, step: str, need: str
) -> None:
    auto = TreasuryAuto(min_free_fut=Decimal(minimum), amount_step=Decimal(step))
    assert compute_need(auto, Decimal(free_fut)) == Decimal(need)


async def test_off_does_nothing(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime
) -> None:
    bundle = ConfigBundle(treasury=policy("off", Decimal("10000000")))
    await tick(tmp_path, rclient, pool, runtime, bundle)
    assert await transfers(pool) == [] and await alerts(pool) == []
    assert await rclient.xlen("ops:events") == 0


async def test_manual_files_one_request_and_a_second_tick_adds_none(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime
) -> None:
    before = await free(runtime)
    bundle = ConfigBundle(treasury=policy("manual", before.futures + Decimal("250.004")))
    await tick(tmp_path, rclient, pool, runtime, bundle)
    await tick(tmp_path, rclient, pool, runtime, bundle)
    [row] = await transfers(pool)
    assert row["transfer_id"].startswith("s6-USDT-SPOT-FUTURES-")
    assert row["state"] == "PENDING_APPROVAL"
    assert row["amount"] == Decimal("250.01")  # rounded up to amount_step
    assert (row["from_account"], row["to_account"], row["asset"]) == ("SPOT", "FUTURES", "USDT")
    assert row["requested_by"] == "s6-treasury" and row["approved_by"] is None
    assert "below the minimum" in row["reason"]
    assert await events(pool, row["transfer_id"]) == [("-", "PENDING_APPROVAL", "s6-treasury")]
    [audit] = await audits(rclient)
    assert (audit.transfer_id, audit.to_state, audit.actor) == (
        row["transfer_id"], "PENDING_APPROVAL", "s6-treasury",
    )  # fmt: skip
    assert await unemitted(pool) == 0
    assert await lock_gone(rclient)
    assert await free(runtime) == before  # nothing moves before an operator approves


async def test_auto_within_limits_moves_the_need(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime
) -> None:
    before = await free(runtime)
    bundle = ConfigBundle(treasury=policy("auto", before.futures + Decimal("300")))
    await tick(tmp_path, rclient, pool, runtime, bundle)
    [row] = await transfers(pool)
    assert row["state"] == "SUCCEEDED", row["message"]
    assert row["amount"] == Decimal("300") and row["requested_by"] == "s6-treasury"
    assert row["approved_by"] is None and row["venue_tran_id"] is not None
    after = await free(runtime)
    assert after.spot == before.spot - Decimal("300")
    assert after.futures == before.futures + Decimal("300")
    assert await events(pool, row["transfer_id"]) == [
        ("-", "PENDING", "s6-treasury"),
        ("PENDING", "SUBMITTED", "s1_connectors"),
        ("SUBMITTED", "SUCCEEDED", "s1_connectors"),
    ]
    assert [(a.to_state, a.seq) for a in await audits(rclient)] == [
        ("PENDING", 1), ("SUBMITTED", 2), ("SUCCEEDED", 3),
    ]  # fmt: skip
    assert await lock_gone(rclient)
    # The need is met: the next tick does nothing.
    await tick(tmp_path, rclient, pool, runtime, bundle)
    assert len(await transfers(pool)) == 1 and await free(runtime) == after
    assert await alerts(pool) == []


async def test_auto_over_the_limit_is_rejected_with_one_alert(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime
) -> None:
    before = await free(runtime)
    bundle = ConfigBundle(treasury=policy("auto", before.futures + Decimal("1000.01")))
    await tick(tmp_path, rclient, pool, runtime, bundle)
    await tick(tmp_path, rclient, pool, runtime, bundle)  # same window: no second request
    [row] = await transfers(pool)
    assert row["state"] == "REJECTED"
    assert row["message"] == (
        "refused: amount 1000.01 USDT exceeds the per-transfer limit of 1000 USDT"
    )
    assert await events(pool, row["transfer_id"]) == [("-", "REJECTED", "s6-treasury")]
    assert [a.to_state for a in await audits(rclient)] == ["REJECTED"]
    [alert] = await alerts(pool)
    assert (alert["severity"], alert["kind"], alert["ref_id"]) == (
        "WARN", "TREASURY_REJECTED", row["transfer_id"],
    )  # fmt: skip
    assert "per-transfer limit" in alert["body"]["message"]
    assert await free(runtime) == before


async def test_spot_that_cannot_cover_the_need_only_alerts_once(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime
) -> None:
    before = await free(runtime)
    bundle = ConfigBundle(treasury=policy("auto", before.futures + before.spot + Decimal("1")))
    await tick(tmp_path, rclient, pool, runtime, bundle)
    await tick(tmp_path, rclient, pool, runtime, bundle)
    assert await transfers(pool) == []
    assert await rclient.xlen("ops:events") == 0
    [alert] = await alerts(pool)
    assert (alert["severity"], alert["kind"]) == ("WARN", "TREASURY_SPOT_SHORT")
    assert alert["alert_id"].startswith("treasury:spot-short:USDT:")
    assert Decimal(alert["body"]["need"]) == before.spot + Decimal("1")
    assert await free(runtime) == before


async def test_an_open_operator_request_blocks_a_new_one(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime
) -> None:
    before = await free(runtime)
    manual = policy("manual", before.futures + Decimal("10"))
    await tick(tmp_path, rclient, pool, runtime, ConfigBundle(treasury=manual))
    # Switching to auto does not bypass the request awaiting an operator.
    auto = msgspec.structs.replace(manual, auto=msgspec.structs.replace(manual.auto, mode="auto"))
    await tick(tmp_path, rclient, pool, runtime, ConfigBundle(treasury=auto))
    [row] = await transfers(pool)
    assert row["state"] == "PENDING_APPROVAL"
    assert row["transfer_id"] == transfer_id_for(manual.auto, row["created_ms"])
    assert await free(runtime) == before


async def test_the_schedule_files_one_request_in_a_worker(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool, venue: PaperVenue,
    runtime: RouterRuntime,
) -> None:  # fmt: skip
    topology = {
        "version": 1,
        "streams": [],
        "resources": [{"name": "s4_router", "factory": ROUTER_RUNTIME}],
        "schedules": [{
            "name": "s6-treasury", "handler": "handlers.s6_positions.treasury:treasury_tick",
            "interval_ms": 100, "lock_ttl_ms": 5000,
        }],
    }  # fmt: skip
    path = tmp_path / "streams.yaml"
    path.write_text(yaml.safe_dump(topology, sort_keys=False))
    before = await free(runtime)
    bundle = ConfigBundle(treasury=policy("manual", before.futures + Decimal("5")))
    environ = {"CHIMERA_PAPER_URL": venue.base_url, "CHIMERA_VENUE_TIMEOUT_MS": "1000"}
    worker = Worker(
        load_app(path), rclient, consumer="s6-test", db=pool, config=ConfigRef(bundle, 1),
        environ=environ, shutdown_grace_s=5,
    )  # fmt: skip
    await worker.start()
    try:

        async def filed() -> bool:
            return len(await transfers(pool)) > 0

        await until(filed, within=10)
        await asyncio.sleep(0.5)  # several more ticks
    finally:
        await worker.stop()
    [row] = await transfers(pool)
    assert (row["state"], row["amount"]) == ("PENDING_APPROVAL", Decimal("5"))
    assert len(await audits(rclient)) == 1
    assert await free(runtime) == before


async def test_an_unknown_outcome_is_resolved_by_the_next_tick(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime,
    venue: PaperVenue,
) -> None:  # fmt: skip
    before = await free(runtime)
    bundle = ConfigBundle(treasury=policy("auto", before.futures + Decimal("33")))
    async with PaperControl(venue.base_url) as control:
        await control.arm_fault(
            FaultRule(kind="timeout_after_accept", path_prefix=TRANSFER_ROUTE, method="POST")
        )
    await tick(tmp_path, rclient, pool, runtime, bundle)
    [row] = await transfers(pool)
    assert row["state"] == "UNKNOWN"
    [alert] = await alerts(pool)
    assert (alert["kind"], alert["ref_id"]) == ("TREASURY_UNKNOWN", row["transfer_id"])
    # The venue did move it; the next tick finds it there instead of sending it again.
    await tick(tmp_path, rclient, pool, runtime, bundle)
    [row] = await transfers(pool)
    assert row["state"] == "SUCCEEDED" and row["submit_count"] == 1
    assert [e[1] for e in await events(pool, row["transfer_id"])] == [
        "PENDING", "SUBMITTED", "UNKNOWN", "SUCCEEDED",
    ]  # fmt: skip
    assert (await free(runtime)).futures == before.futures + Decimal("33")
    assert len(await audits(rclient)) == 4


async def test_the_route_lock_has_a_ttl_while_held(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime
) -> None:
    spot = await runtime.venues.exchange("SPOT")
    service = TreasuryService(
        store=TreasuryStore(pool), redis=rclient, venue=CcxtVenue(spot), policy=policy()
    )
    requests = TreasuryRequests(service)
    async with requests.route_lock("SPOT", "FUTURES"):
        ttl = await rclient.pttl(ROUTE_LOCK)
        assert 0 < ttl <= policy().lock_ttl_ms
        with pytest.raises(ServiceBusy, match="another transfer on SPOT->FUTURES"):
            async with requests.route_lock("SPOT", "FUTURES"):
                pass
    assert await lock_gone(rclient)


async def test_an_unapproved_request_expires_and_a_fresh_one_is_filed(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime
) -> None:
    before = await free(runtime)
    manual = policy("manual", before.futures + Decimal("10"))
    quick = msgspec.structs.replace(manual.auto, window_ms=100, approval_ttl_ms=150)
    bundle = ConfigBundle(treasury=msgspec.structs.replace(manual, auto=quick))
    await tick(tmp_path, rclient, pool, runtime, bundle)
    await tick(tmp_path, rclient, pool, runtime, bundle)  # not stale yet: still waiting
    [first] = await transfers(pool)
    assert first["state"] == "PENDING_APPROVAL"
    await asyncio.sleep(0.2)  # past approval_ttl_ms, and in a later window
    await tick(tmp_path, rclient, pool, runtime, bundle)
    expired, fresh = await transfers(pool)
    assert expired["transfer_id"] == first["transfer_id"] and expired["state"] == "REJECTED"
    assert expired["message"] == "rejected by s6-treasury: expired: not approved within 0.15 s"
    assert await events(pool, first["transfer_id"]) == [
        ("-", "PENDING_APPROVAL", "s6-treasury"),
        ("PENDING_APPROVAL", "REJECTED", "s6-treasury"),
    ]
    assert fresh["state"] == "PENDING_APPROVAL" and fresh["transfer_id"] != first["transfer_id"]
    assert [(a.transfer_id, a.to_state) for a in await audits(rclient)] == [
        (first["transfer_id"], "PENDING_APPROVAL"),
        (first["transfer_id"], "REJECTED"),
        (fresh["transfer_id"], "PENDING_APPROVAL"),
    ]
    assert await unemitted(pool) == 0 and await lock_gone(rclient)
    assert await free(runtime) == before
