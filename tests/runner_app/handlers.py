"""Handlers whose effects the tests count in Redis (and PostgreSQL for the kill test).

Effects are idempotent by the event's ``seq`` (``HSETNX``), and every invocation is counted
separately, so a test can tell "ran twice" from "took effect twice".
"""

from __future__ import annotations

import asyncio

from chimera_workers import Context
from chimera_workers.errors import Retry
from tests.runner_app.events import Done, Job


async def record(event: Job, ctx: Context) -> None:
    await ctx.redis.hincrby("t:runs", str(event.seq), 1)
    if event.poison:
        raise RuntimeError(f"poison event {event.seq}")
    if ctx.delivery_count <= event.fail_times:
        raise Retry(f"transient failure {ctx.delivery_count} of {event.fail_times}", delay_ms=10)
    if event.sleep_ms:
        await asyncio.sleep(event.sleep_ms / 1000)
    await ctx.redis.hsetnx("t:effects", str(event.seq), ctx.entry_id or "")
    await ctx.redis.rpush(f"t:order:{event.key}", event.seq)


async def record_and_emit(event: Job, ctx: Context) -> None:
    await record(event, ctx)
    ctx.emit("t:done", Done(seq=event.seq, key=event.key))


async def record_in_db(event: Job, ctx: Context) -> None:
    assert ctx.db is not None
    await ctx.redis.hincrby("t:runs", str(event.seq), 1)
    if event.sleep_ms:
        await asyncio.sleep(event.sleep_ms / 1000)
    await ctx.db.execute(
        "INSERT INTO t_effects(seq, entry_id) VALUES ($1, $2) ON CONFLICT (seq) DO NOTHING",
        event.seq,
        ctx.entry_id,
    )


async def count_done(event: Done, ctx: Context) -> None:
    await ctx.redis.hsetnx("t:done_seen", ctx.idempotency_key, event.seq)


async def noop(event: Job, ctx: Context) -> None:
    return None


async def tick(ctx: Context) -> None:
    await ctx.redis.incr("t:ticks")


async def tick_hiding_its_cancel(ctx: Context) -> None:
    """A tick whose library turns the task's cancel into an error (redis-py's and aiohttp's
    ``asyncio.timeout`` can on Python 3.11), or swallows it outright."""
    await ctx.redis.incr("t:ticks")
    try:
        await asyncio.sleep(0.5)
    except asyncio.CancelledError:
        if await ctx.redis.incr("t:hidden") % 2:
            raise TimeoutError("converted by a library") from None
