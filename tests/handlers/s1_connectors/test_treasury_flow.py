"""The transfer flow's branches on real Redis + PostgreSQL, with the in-memory venue double.

The venue double stands in only here, to reach every branch fast; test_treasury_paper.py runs
the acceptance scenarios through ccxt against the paper venue.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import msgspec
import pytest
import redis.asyncio as aioredis

from chimera.http import Conflict, ServiceBusy
from chimera.names import treasury_lock
from chimera_workers.locks import FencedLock
from handlers.s1_connectors.treasury import TransferRequest, TreasuryService
from handlers.s1_connectors.treasury_store import TreasuryStore
from tests.handlers.s1_connectors.treasury_support import (
    POLICY,
    LedgerVenue,
    audits,
    create_schema,
    table_states,
)


class Harness(msgspec.Struct):
    service: TreasuryService
    venue: LedgerVenue
    redis: aioredis.Redis
    db_url: str


@pytest.fixture
async def harness(redis_url: str, db_url: str) -> AsyncIterator[Harness]:
    await create_schema(db_url)
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=4)
    redis = aioredis.Redis.from_url(redis_url)
    venue = LedgerVenue()
    service = TreasuryService(store=TreasuryStore(pool), redis=redis, venue=venue, policy=POLICY)
    try:
        yield Harness(service, venue, redis, db_url)
    finally:
        await redis.aclose()
        await pool.close()


def request(transfer_id: str = "t-1", amount: str = "100", **kw: str) -> TransferRequest:
    fields = {
        "transfer_id": transfer_id, "asset": "USDT", "amount": amount, "from_account": "SPOT",
        "to_account": "FUTURES", "requested_by": "s6", **kw,
    }  # fmt: skip
    return msgspec.convert(fields, TransferRequest)


async def test_success_records_every_state_and_audits_it(harness: Harness) -> None:
    row = await harness.service.transfer(request())
    assert row.state == "SUCCEEDED"
    assert row.venue_tran_id == "1000"
    assert harness.venue.balances[("USDT", "FUTURES")] == Decimal("100")
    state, history = await table_states(harness.db_url, "t-1")
    assert state == "SUCCEEDED"
    assert history == [("-", "PENDING"), ("PENDING", "SUBMITTED"), ("SUBMITTED", "SUCCEEDED")]
    trail = await audits(harness.redis)
    assert [(a.from_state, a.to_state, a.seq) for a in trail] == [
        (None, "PENDING", 1),
        ("PENDING", "SUBMITTED", 2),
        ("SUBMITTED", "SUCCEEDED", 3),
    ]
    assert trail[0].amount == Decimal("100") and trail[0].actor == "s6"


async def test_a_repeat_returns_the_stored_result_without_the_venue(harness: Harness) -> None:
    first = await harness.service.transfer(request())
    again = await harness.service.transfer(request())
    assert again == first
    assert harness.venue.submit_calls == 1
    assert len(await audits(harness.redis)) == 3


async def test_the_same_id_with_other_parameters_is_a_conflict(harness: Harness) -> None:
    await harness.service.transfer(request())
    with pytest.raises(Conflict, match="amount '100' vs '200'"):
        await harness.service.transfer(request(amount="200"))
    assert harness.venue.submit_calls == 1


async def test_over_the_per_transfer_limit_is_rejected_and_stored(harness: Harness) -> None:
    row = await harness.service.transfer(request(amount="1000.00000001"))
    assert row.state == "REJECTED"
    assert "exceeds the per-transfer limit of 1000 USDT" in row.message
    assert harness.venue.submit_calls == 0
    assert (await table_states(harness.db_url, "t-1"))[1] == [("-", "REJECTED")]
    assert [a.to_state for a in await audits(harness.redis)] == ["REJECTED"]


async def test_a_route_off_the_whitelist_is_rejected(harness: Harness) -> None:
    row = await harness.service.transfer(request(asset="BTC"))
    assert row.state == "REJECTED"
    assert "route BTC SPOT->FUTURES is not whitelisted" in row.message
    assert harness.venue.submit_calls == 0


async def test_the_daily_limit_counts_both_directions(harness: Harness) -> None:
    assert (await harness.service.transfer(request("a", "900"))).state == "SUCCEEDED"
    back = request("b", "500", from_account="FUTURES", to_account="SPOT")
    assert (await harness.service.transfer(back)).state == "SUCCEEDED"
    row = await harness.service.transfer(request("c", "100.5"))
    assert row.state == "REJECTED"
    assert "over the daily limit of 1500 USDT (1400 already used)" in row.message
    # Exactly up to the limit is fine.
    assert (await harness.service.transfer(request("d", "100"))).state == "SUCCEEDED"


async def test_a_venue_refusal_is_failed(harness: Harness) -> None:
    harness.venue.faults.append("reject")
    row = await harness.service.transfer(request())
    assert row.state == "FAILED"
    assert "the venue refused" in row.message
    assert (await harness.service.transfer(request())).state == "FAILED"
    assert harness.venue.submit_calls == 1


async def test_unknown_after_accept_is_found_on_retry_not_resent(harness: Harness) -> None:
    harness.venue.faults.append("timeout_after_accept")
    first = await harness.service.transfer(request())
    assert first.state == "UNKNOWN"
    assert "retry with the same transfer_id" in first.message
    second = await harness.service.transfer(request())
    assert second.state == "SUCCEEDED"
    assert second.venue_tran_id == "1000"
    assert harness.venue.submit_calls == 1
    assert len(harness.venue.transfers) == 1
    assert (await table_states(harness.db_url, "t-1"))[1][-2:] == [
        ("SUBMITTED", "UNKNOWN"),
        ("UNKNOWN", "SUCCEEDED"),
    ]


async def test_unknown_before_accept_is_resent_only_after_the_window(harness: Harness) -> None:
    harness.venue.faults.append("timeout_before_accept")
    assert (await harness.service.transfer(request())).state == "UNKNOWN"
    early = await harness.service.transfer(request())
    assert early.state == "UNKNOWN"
    assert "can be re-sent safely in 500 ms" in early.message
    assert harness.venue.submit_calls == 1
    harness.venue.clock_ms += 500
    done = await harness.service.transfer(request())
    assert done.state == "SUCCEEDED"
    assert harness.venue.submit_calls == 2 and len(harness.venue.transfers) == 1
    assert (await table_states(harness.db_url, "t-1"))[1][-3:] == [
        ("SUBMITTED", "UNKNOWN"),
        ("UNKNOWN", "SUBMITTED"),
        ("SUBMITTED", "SUCCEEDED"),
    ]


async def test_a_venue_transfer_claimed_by_another_id_is_not_adopted(harness: Harness) -> None:
    # Two same-amount transfers: the first succeeds; the second's request is lost unexecuted.
    await harness.service.transfer(request("a"))
    harness.venue.faults.append("timeout_before_accept")
    assert (await harness.service.transfer(request("b"))).state == "UNKNOWN"
    harness.venue.clock_ms += 500
    row = await harness.service.transfer(request("b"))
    assert row.state == "SUCCEEDED" and row.venue_tran_id == "1001"
    assert len(harness.venue.transfers) == 2


async def test_submitted_left_by_a_crash_is_resolved_first(harness: Harness) -> None:
    harness.venue.faults.append("timeout_after_accept")
    await harness.service.transfer(request())
    conn = await asyncpg.connect(harness.db_url)
    # Make the row look like the process died mid-call (SUBMITTED, no answer recorded).
    await conn.execute("UPDATE treasury_transfers SET state = 'SUBMITTED'")
    await conn.close()
    row = await harness.service.transfer(request())
    assert row.state == "SUCCEEDED"
    assert harness.venue.submit_calls == 1


async def test_a_busy_route_answers_retry(harness: Harness) -> None:
    lock = FencedLock(harness.redis, treasury_lock("SPOT", "FUTURES"), ttl_ms=5_000)
    token = await lock.acquire()
    assert token is not None
    with pytest.raises(ServiceBusy, match="another transfer on SPOT->FUTURES is in progress"):
        await harness.service.transfer(request())
    await lock.release(token)
    assert (await harness.service.transfer(request())).state == "SUCCEEDED"


async def test_concurrent_repeats_move_money_once(harness: Harness) -> None:
    results = await asyncio.gather(
        *(harness.service.transfer(request()) for _ in range(5)), return_exceptions=True
    )
    done = [r for r in results if not isinstance(r, BaseException)]
    assert all(r.state == "SUCCEEDED" for r in done)
    assert all(isinstance(r, ServiceBusy) for r in results if isinstance(r, BaseException))
    assert harness.venue.submit_calls == 1


async def test_pending_approval_runs_only_once_approved(harness: Harness) -> None:
    conn = await asyncpg.connect(harness.db_url)
    await conn.execute(
        "INSERT INTO treasury_transfers (transfer_id, asset, amount, from_account, to_account, "
        "state, requested_by, created_ms, updated_ms) VALUES "
        "('t-1', 'USDT', 100, 'SPOT', 'FUTURES', 'PENDING_APPROVAL', 's6', 1, 1)"
    )
    row = await harness.service.transfer(request())
    assert row.state == "PENDING_APPROVAL" and harness.venue.submit_calls == 0
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE treasury_transfers SET approved_by = 's6'")
    await conn.execute("UPDATE treasury_transfers SET approved_by = 'alice'")
    await conn.close()
    row = await harness.service.transfer(request())
    assert row.state == "SUCCEEDED"
    assert (await table_states(harness.db_url, "t-1"))[1][0] == ("PENDING_APPROVAL", "PENDING")
