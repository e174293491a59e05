"""The PostgreSQL pool: one round trip per pooled query, and nothing leaks between borrowers."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from chimera_workers.connections import open_db_pool
from chimera_workers.errors import ServerUnavailable


async def test_a_transaction_left_open_is_rolled_back_on_release(db_url: str) -> None:
    pool = await open_db_pool(db_url, min_size=1, max_size=1)
    try:
        await pool.execute("CREATE TABLE kept (id int)")
        async with pool.acquire() as conn:
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO kept VALUES (1)")
            # released mid-transaction, as a cancelled caller would leave it
        async with pool.acquire() as conn:  # the same (only) connection
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM kept") == 0
    finally:
        await pool.close()


async def test_a_cancelled_transaction_leaves_nothing_behind(db_url: str) -> None:
    pool = await open_db_pool(db_url, min_size=1, max_size=1)
    try:
        await pool.execute("CREATE TABLE kept (id int)")
        started = asyncio.Event()

        async def slow_writer() -> None:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("INSERT INTO kept VALUES (1)")
                started.set()
                await conn.execute("SELECT pg_sleep(5)")

        task = asyncio.create_task(slow_writer())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await pool.fetchval("SELECT count(*) FROM kept") == 0
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()


async def test_a_pooled_query_is_one_statement(db_url: str) -> None:
    # Counted by the server: asyncpg's default reset would add a second statement per release.
    pool = await open_db_pool(db_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
        watcher = await asyncpg.connect(db_url)
        try:
            for _ in range(3):
                await pool.fetchval("SELECT 42")
            last = await watcher.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid)
        finally:
            await watcher.close()
        assert last == "SELECT 42"
    finally:
        await pool.close()


async def test_an_unreachable_server_is_one_clear_error() -> None:
    with pytest.raises(ServerUnavailable, match="cannot reach PostgreSQL at"):
        await open_db_pool("postgresql://nobody@127.0.0.1:9/none")
