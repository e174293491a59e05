"""FencedLock on a real Redis and a real Cluster."""

from __future__ import annotations

import asyncio

import pytest

from chimera_workers.connections import RedisClient
from chimera_workers.errors import ConfigError
from chimera_workers.locks import DEFAULT_LEASE_MS, FencedLock, lease_for


async def test_acquire_is_exclusive_and_tokens_grow(redis: RedisClient) -> None:
    lock = FencedLock(redis, "{job}:lock", ttl_ms=10_000)
    assert await lock.acquire() == 1
    assert await lock.acquire() is None
    assert await lock.holder() == 1
    assert await lock.release(1)
    assert await lock.holder() is None
    assert await lock.release(1) is False
    assert await lock.acquire() == 2


async def test_ttl_expiry_admits_a_new_holder_and_fences_the_stale_one(redis: RedisClient) -> None:
    stale = FencedLock(redis, "{job}:lock", ttl_ms=100)
    fresh = FencedLock(redis, "{job}:lock", ttl_ms=10_000)
    old = await stale.acquire()
    assert old is not None
    assert await fresh.acquire() is None
    await asyncio.sleep(0.25)
    new = await fresh.acquire()
    assert new is not None and new > old
    assert await stale.extend(old) is False
    assert await stale.release(old) is False
    assert await fresh.holder() == new
    assert await fresh.release(new)


async def test_extend_only_by_the_current_token(redis: RedisClient) -> None:
    lock = FencedLock(redis, "{job}:lock", ttl_ms=200)
    token = await lock.acquire()
    assert token is not None
    assert await lock.extend(token + 1) is False
    assert await lock.extend(token, ttl_ms=60_000)
    assert await redis.pttl("{job}:lock") > 10_000
    await asyncio.sleep(0.3)
    assert await lock.holder() == token
    assert await lock.extend(token)
    assert 0 < await redis.pttl("{job}:lock") <= 200


async def test_concurrent_acquires_admit_exactly_one(redis: RedisClient) -> None:
    lock = FencedLock(redis, "{race}:lock", ttl_ms=10_000)
    tokens = await asyncio.gather(*(lock.acquire() for _ in range(50)))
    winners = [t for t in tokens if t is not None]
    assert winners == [1]


async def test_fence_counter_survives_the_lock(redis: RedisClient) -> None:
    lock = FencedLock(redis, "{job}:lock", ttl_ms=10_000, fence_key="{job}:tokens")
    seen = []
    for _ in range(5):
        token = await lock.acquire()
        assert token is not None
        seen.append(token)
        assert await lock.release(token)
    assert seen == [1, 2, 3, 4, 5]
    assert await redis.get("{job}:tokens") == b"5"
    assert await redis.pttl("{job}:tokens") == -1


@pytest.mark.parametrize("ttl", [0, -1, 1.5, True])
async def test_ttl_is_mandatory(redis: RedisClient, ttl: int) -> None:
    with pytest.raises(ConfigError, match="ttl_ms"):
        FencedLock(redis, "{job}:lock", ttl_ms=ttl)
    lock = FencedLock(redis, "{job}:lock", ttl_ms=1000)
    with pytest.raises(ConfigError):
        await lock.acquire(ttl_ms=ttl)
    with pytest.raises(ConfigError):
        await lock.extend(1, ttl_ms=ttl)
    assert await redis.exists("{job}:lock", "{job}:lock:fence") == 0


async def test_lock_and_fence_must_share_a_slot(redis: RedisClient) -> None:
    with pytest.raises(ConfigError, match="hash slot"):
        FencedLock(redis, "{a}:lock", ttl_ms=1000, fence_key="{b}:fence")


async def test_kept_renews_the_lease_while_the_body_runs(redis: RedisClient) -> None:
    lock = FencedLock(redis, "{job}:lock", ttl_ms=300)
    token = await lock.acquire()
    assert token is not None
    async with lock.kept(token):
        await asyncio.sleep(1.0)  # three leases long
        assert await lock.holder() == token
    assert await lock.holder() == token  # renewal ends with the body; release is the caller's
    await asyncio.sleep(0.4)
    assert await lock.holder() is None


async def test_kept_stops_renewing_after_up_to_ms(redis: RedisClient) -> None:
    lock = FencedLock(redis, "{job}:lock", ttl_ms=300)
    token = await lock.acquire()
    assert token is not None
    async with lock.kept(token, up_to_ms=600):
        await asyncio.sleep(1.3)  # a hung holder: the lock frees by up_to_ms + one lease
        assert await lock.holder() is None
        assert await lock.acquire() == token + 1


async def test_kept_ends_quietly_when_the_hold_is_taken_over(redis: RedisClient) -> None:
    lock = FencedLock(redis, "{job}:lock", ttl_ms=300)
    token = await lock.acquire()
    assert token is not None
    async with lock.kept(token):
        await redis.delete("{job}:lock")  # lost (e.g. an operator's repair)
        newer = await lock.acquire(ttl_ms=10_000)
        await asyncio.sleep(0.5)  # the renewal is refused and stops; the newer holder stays
        assert await lock.holder() == newer


def test_lease_for_caps_the_lease_at_the_longest_hold() -> None:
    assert lease_for(30_000) == DEFAULT_LEASE_MS == 5_000
    assert lease_for(1_000) == 1_000
    with pytest.raises(ConfigError):
        lease_for(0)
