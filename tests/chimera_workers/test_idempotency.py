"""Idempotency claims on a real Redis and a real Cluster."""

from __future__ import annotations

import asyncio

import pytest

from chimera_workers.connections import RedisClient
from chimera_workers.errors import ConfigError
from chimera_workers.idempotency import Claim, abandon, claim, complete


async def test_first_writer_wins_and_later_callers_get_the_result(redis: RedisClient) -> None:
    first = await claim(redis, "idem:order-1", "w1", 10_000)
    assert first == Claim(True, "pending", "w1")
    assert await claim(redis, "idem:order-1", "w2", 10_000) == Claim(False, "pending", "w1")
    assert await complete(redis, "idem:order-1", "w2", b"stolen", 10_000) is False
    assert await complete(redis, "idem:order-1", "w1", b"\x00result", 60_000)
    # Completing again keeps the first result.
    assert await complete(redis, "idem:order-1", "w1", b"other", 60_000)
    later = await claim(redis, "idem:order-1", "w3", 10_000)
    assert later == Claim(False, "done", "w1", b"\x00result")
    assert await redis.pttl("idem:order-1") > 10_000
    # A finished claim cannot be abandoned or re-claimed by its owner.
    assert await abandon(redis, "idem:order-1", "w1") is False
    assert (await claim(redis, "idem:order-1", "w1", 10_000)).state == "done"


async def test_empty_result_is_a_result(redis: RedisClient) -> None:
    assert (await claim(redis, "idem:e", "w1", 10_000)).acquired
    assert await complete(redis, "idem:e", "w1", b"", 10_000)
    assert await claim(redis, "idem:e", "w2", 10_000) == Claim(False, "done", "w1", b"")


async def test_claim_of_a_dead_owner_expires(redis: RedisClient) -> None:
    assert (await claim(redis, "idem:k", "dead", 100)).acquired
    await asyncio.sleep(0.25)
    assert await claim(redis, "idem:k", "alive", 10_000) == Claim(True, "pending", "alive")
    assert await complete(redis, "idem:k", "dead", b"late", 10_000) is False
    assert await complete(redis, "idem:k", "alive", b"ok", 10_000)


async def test_result_expires_with_its_ttl(redis: RedisClient) -> None:
    assert (await claim(redis, "idem:r", "w1", 10_000)).acquired
    assert await complete(redis, "idem:r", "w1", b"ok", 100)
    await asyncio.sleep(0.25)
    assert (await claim(redis, "idem:r", "w2", 10_000)).acquired


async def test_same_owner_reclaims_and_refreshes(redis: RedisClient) -> None:
    assert (await claim(redis, "idem:s", "w1", 200)).acquired
    assert (await claim(redis, "idem:s", "w1", 60_000)).acquired
    assert await redis.pttl("idem:s") > 10_000


async def test_abandon_frees_the_key_for_the_next_caller(redis: RedisClient) -> None:
    assert (await claim(redis, "idem:a", "w1", 60_000)).acquired
    assert await abandon(redis, "idem:a", "w2") is False
    assert await abandon(redis, "idem:a", "w1")
    assert (await claim(redis, "idem:a", "w2", 60_000)).acquired


async def test_concurrent_claims_have_one_winner(redis: RedisClient) -> None:
    claims = await asyncio.gather(*(claim(redis, "idem:c", f"w{i}", 10_000) for i in range(40)))
    winners = [c.owner for c in claims if c.acquired]
    assert len(winners) == 1
    assert {c.owner for c in claims} == set(winners)


async def test_ttl_is_mandatory(redis: RedisClient) -> None:
    with pytest.raises(ConfigError):
        await claim(redis, "idem:t", "w1", 0)
    with pytest.raises(ConfigError):
        await complete(redis, "idem:t", "w1", b"", -1)
    assert await redis.exists("idem:t") == 0
