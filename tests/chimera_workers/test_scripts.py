"""The Lua script runner: packaging, NOSCRIPT fallback, slot checks, Cluster routing."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from chimera_workers.connections import RedisClient, is_cluster, open_redis
from chimera_workers.errors import ConfigError
from chimera_workers.locks import FencedLock
from chimera_workers.scripts import (
    Scripts,
    check_same_slot,
    load_script,
    run_script,
    script_names,
    slot_of,
)
from tests.harness.servers import RedisClusterProcesses, free_port

MINE = {
    "budget_release",
    "budget_reserve",
    "budget_snapshot",
    "dlq_move",
    "dlq_retry",
    "idem_abandon",
    "idem_claim",
    "idem_complete",
    "lock_acquire",
    "lock_extend",
    "lock_release",
}


def test_every_script_is_packaged_with_a_documented_header() -> None:
    names = script_names()
    assert names == sorted(names)
    assert set(names) >= MINE
    for name in names:
        assert load_script(name).source.startswith("--"), name
    for name in MINE:
        header = load_script(name).source
        assert "-- KEYS[1]" in header and "-- Returns" in header, name


def test_load_script_is_cached_and_unknown_names_fail() -> None:
    assert load_script("lock_acquire") is load_script("lock_acquire")
    with pytest.raises(ConfigError, match="no Lua script named 'nope'"):
        load_script("nope")


async def test_every_script_compiles(redis: RedisClient) -> None:
    for name in script_names():
        script = load_script(name)
        assert await redis.script_load(script.source) == script.sha


def test_check_same_slot_names_the_keys() -> None:
    check_same_slot(["{a}:x", "{a}:y", "b{a}"])
    check_same_slot([])
    assert slot_of("x") != slot_of("y")
    with pytest.raises(ConfigError) as info:
        check_same_slot(["x", "y"], what="test")
    text = str(info.value)
    assert "'x'" in text and "'y'" in text and "hash tag" in text


async def test_cross_slot_keys_fail_before_touching_redis() -> None:
    # Nothing listens on this port: a ConfigError proves the check ran before any I/O.
    client = aioredis.Redis(port=free_port())
    try:
        with pytest.raises(ConfigError, match="'x'"):
            await run_script(client, "lock_release", ["x", "y"], ["1"])
        with pytest.raises(ConfigError):
            FencedLock(client, "unlocked", ttl_ms=1000)
    finally:
        await client.aclose()


@pytest.mark.cluster
async def test_cross_slot_keys_fail_before_touching_the_cluster(cluster_url: str) -> None:
    client = await open_redis(cluster_url)
    try:
        assert is_cluster(client)
        with pytest.raises(ConfigError):
            await run_script(client, "lock_acquire", ["{a}:lock", "{b}:fence"], [1000])
        assert await client.exists("{a}:lock", "{b}:fence") == 0
    finally:
        await client.aclose()


async def test_noscript_fallback_after_script_flush(redis: RedisClient) -> None:
    scripts = Scripts(redis)
    lock = FencedLock(redis, "{s}:lock", ttl_ms=5000)
    sha = load_script("lock_acquire").sha
    assert await lock.acquire() == 1
    assert await redis.script_flush()
    assert await redis.script_exists(sha) == [False]
    assert await lock.release(1)
    assert await lock.acquire() == 2
    assert await scripts.run("lock_release", ["{s}:lock"], ["2"]) == 1
    # The fallback EVAL cached the script again on the node owning the keys.
    if is_cluster(redis):
        node = redis.get_node_from_key("{s}:lock")
        direct = aioredis.Redis(host=node.host, port=node.port)
        try:
            assert await direct.script_exists(sha) == [True]
        finally:
            await direct.aclose()
    else:
        assert await redis.script_exists(sha) == [True]


@pytest.mark.cluster
async def test_scripts_run_on_the_node_owning_their_keys(
    cluster_url: str, redis_cluster: RedisClusterProcesses
) -> None:
    client = await open_redis(cluster_url)
    try:
        # Tags spread over the three masters, so every node runs the script at least once.
        tags = [f"t{i}" for i in range(30)]
        for tag in tags:
            lock = FencedLock(client, f"{{{tag}}}:lock", ttl_ms=60_000)
            assert await lock.acquire() == 1
        ports = set()
        for tag in tags:
            for node in redis_cluster.nodes:
                direct = aioredis.Redis(port=node.port)
                try:
                    if await direct.execute_command("CLUSTER COUNTKEYSINSLOT", slot_of(tag)):
                        assert await direct.get(f"{{{tag}}}:lock") == b"1"
                        ports.add(node.port)
                finally:
                    await direct.aclose()
        assert len(ports) == 3
    finally:
        await client.aclose()
