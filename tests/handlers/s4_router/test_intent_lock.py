"""The intent lock is a lease: a dead router frees it within the lease, a live one keeps it."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec
import pytest

from chimera import names
from chimera.config.router import RouterConfig
from chimera_workers.connections import RedisClient
from chimera_workers.locks import FencedLock
from handlers.s4_router.errors import IntentBusy
from handlers.s4_router.runtime import RouterRuntime
from tests.handlers.s4_router.support import (
    FAST,
    intent,
    make_router,
    order_rows,
    perp,
    runtime,
    venue,
)

__all__ = ["perp", "runtime", "venue"]  # fixtures

PERP = "BTC/USDT:USDT"
LEASED = msgspec.structs.replace(FAST, intent_lock_lease_ms=500, intent_lock_wait_ms=200)


async def test_a_crashed_holder_frees_the_intent_within_the_lease(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    entry = intent("lease")
    # A router SIGKILLed while routing: it took the lock and will never renew or release it.
    dead = FencedLock(
        rclient,
        names.intent_lock_key(entry.intent_id),
        ttl_ms=LEASED.intent_lock_lease_ms,
        fence_key=names.INTENT_LOCK_FENCE,
    )
    assert await dead.acquire() is not None
    router = make_router(rclient, pool, runtime, LEASED)
    with pytest.raises(IntentBusy):
        await router.submit(entry)  # waited intent_lock_wait_ms (200 ms): still held
    await asyncio.sleep(0.4)  # the lease (500 ms) has run out
    outcome = await router.submit(entry)
    assert outcome.state == "DONE" and len(await order_rows(pool, entry.intent_id)) == 1


async def test_a_live_holder_keeps_the_intent_past_the_lease(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, perp: Any
) -> None:
    book = await perp.fetch_order_book(PERP, 5)
    far = Decimal(str(book["bids"][0][0])) * Decimal("0.98")  # rests for the whole maker wait
    config = msgspec.structs.replace(LEASED, maker_wait_ms=1_500)
    entry = intent("lease-live", exec="MAKER_TAKER", limit_price=far)
    router = make_router(rclient, pool, runtime, config)
    first = asyncio.create_task(router.submit(entry))
    await asyncio.sleep(0.9)  # well past one lease
    # Held on a lease (what a SIGKILL leaves behind expires this soon), renewed while alive.
    assert 0 < await rclient.pttl(names.intent_lock_key(entry.intent_id)) <= 500
    with pytest.raises(IntentBusy):
        await make_router(rclient, pool, runtime, config).submit(entry)
    outcome = await first
    assert outcome.state == "DONE"
    assert [r["status"] for r in await order_rows(pool, entry.intent_id)] == ["CANCELED", "FILLED"]
    assert await rclient.get(names.intent_lock_key(entry.intent_id)) is None  # released


def test_the_lease_cannot_outlast_the_hold() -> None:
    with pytest.raises(ValueError, match="intent_lock_lease_ms"):
        RouterConfig(intent_lock_lease_ms=90_000, intent_lock_ttl_ms=60_000)
    with pytest.raises(msgspec.ValidationError, match="intent_lock_lease_ms"):
        msgspec.convert({"intent_lock_lease_ms": 100}, RouterConfig)
