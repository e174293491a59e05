"""Config bundles in PostgreSQL: store, activate (DB first, then cfg:events), load, hot reload."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import msgspec
import pytest
import yaml

from chimera import names
from chimera.config import store
from chimera.config.bundle import ConfigBundle, load_bundle
from chimera.domain.config import ConfigActivated
from chimera_workers.connections import RedisClient
from chimera_workers.errors import ConfigError
from chimera_workers.keys import PAYLOAD_FIELD
from chimera_workers.topology_loader import load_app
from chimera_workers.worker import Worker
from tests.runner_app.topology import write_topology

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "config" / "bundle.yaml"


def bundle(lock_ttl_ms: int) -> ConfigBundle:
    base = load_bundle(SHIPPED)
    treasury = msgspec.structs.replace(base.treasury, lock_ttl_ms=lock_ttl_ms)
    return msgspec.structs.replace(base, treasury=treasury)


async def announced(redis: RedisClient) -> list[ConfigActivated]:
    entries = await redis.xrange(names.CFG_EVENTS)
    decoder = msgspec.json.Decoder(ConfigActivated)
    return [decoder.decode(fields[PAYLOAD_FIELD]) for _, fields in entries]


async def test_without_an_active_revision_the_file_is_rev_0(pool: asyncpg.Pool) -> None:
    loaded, rev = await store.load_active(pool, default_path=SHIPPED)
    assert rev == store.FILE_REV == 0
    assert loaded == msgspec.structs.replace(load_bundle(SHIPPED), rev="0")


async def test_store_activate_and_load(pool: asyncpg.Pool, rclient: RedisClient) -> None:
    first = await store.insert_bundle(pool, bundle(1111), name="a", created_by="t")
    second = await store.insert_bundle(pool, bundle(2222), name="b", created_by="t")
    assert second > first
    event = await store.activate(pool, rclient, second, by="alice")
    assert (event.rev, event.by) == (second, "alice")
    loaded, rev = await store.load_active(pool)
    assert rev == second and loaded.rev == str(second)
    assert loaded.treasury.lock_ttl_ms == 2222
    # A rollback is just activating an older revision.
    await store.activate(pool, rclient, first, by="bob")
    loaded, rev = await store.load_active(pool)
    assert (rev, loaded.treasury.lock_ttl_ms) == (first, 1111)
    assert [(e.rev, e.by) for e in await announced(rclient)] == [(second, "alice"), (first, "bob")]
    row = await pool.fetchrow("SELECT rev, activated_by FROM config_active")
    assert tuple(row) == (first, "bob")
    listed = await store.list_bundles(pool)
    assert [(r.rev, r.active) for r in listed] == [(second, False), (first, True)]


async def test_activating_an_unknown_rev_writes_nothing(
    pool: asyncpg.Pool, rclient: RedisClient
) -> None:
    rev = await store.insert_bundle(pool, bundle(1111), name="a")
    await store.activate(pool, rclient, rev, by="t")
    with pytest.raises(ConfigError, match="config revision 999 does not exist"):
        await store.activate(pool, rclient, 999, by="t")
    assert await pool.fetchval("SELECT rev FROM config_active") == rev
    assert len(await announced(rclient)) == 1
    with pytest.raises(ConfigError, match="revision 999"):
        await store.load_rev(pool, 999)


async def test_load_and_activate_is_one_transaction(
    pool: asyncpg.Pool, rclient: RedisClient
) -> None:
    event = await store.load_and_activate(
        pool, rclient, bundle(3333), name="x", source="f.yaml", by="t"
    )
    assert (await store.load_rev(pool, event.rev)).treasury.lock_ttl_ms == 3333
    assert (await store.load_active(pool))[1] == event.rev


async def test_missing_tables_are_a_config_error(db_url: str, rclient: RedisClient) -> None:
    bare = await asyncpg.create_pool(db_url, min_size=1, max_size=1)
    try:
        with pytest.raises(ConfigError) as err:
            await store.insert_bundle(bare, bundle(1), name="a")
        assert err.value.hint is not None and "chimera db upgrade" in err.value.hint
    finally:
        await bare.close()


async def test_a_worker_hot_reloads_from_the_store(
    tmp_path: Path, pool: asyncpg.Pool, rclient: RedisClient
) -> None:
    path = write_topology(tmp_path)
    doc = yaml.safe_load(path.read_text())
    doc["config"] = {"loader": "chimera.config.store:worker_loader"}
    path.write_text(yaml.safe_dump(doc))
    first = await store.insert_bundle(pool, bundle(1111), name="a")
    await store.activate(pool, rclient, first, by="t")
    worker = Worker(load_app(path), rclient, consumer="w", db=pool, shutdown_grace_s=2)
    await worker.start()
    try:
        assert worker.config.rev == first
        assert worker.context().config.treasury.lock_ttl_ms == 1111
        second = await store.insert_bundle(pool, bundle(2222), name="b")
        await store.activate(pool, rclient, second, by="t")
        for _ in range(200):
            if worker.config.rev == second:
                break
            await asyncio.sleep(0.02)
        assert worker.context().config.treasury.lock_ttl_ms == 2222
    finally:
        await worker.stop()
