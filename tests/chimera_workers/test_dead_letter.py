"""Dead-letter moves, listing, retry and drop on a real Redis and a real Cluster."""

from __future__ import annotations

import asyncio

import pytest

from chimera_workers.connections import RedisClient
from chimera_workers.dead_letter import (
    DeadLetterError,
    drop_dead_letter,
    list_dead_letters,
    move_to_dead_letter,
    retry_dead_letter,
)
from chimera_workers.errors import ConfigError
from chimera_workers.topology import dead_letter_name

STREAM = "{orders}:in"
DLQ = dead_letter_name(STREAM)
GROUP = "g"


async def deliver(redis: RedisClient, *payloads: dict[bytes, bytes]) -> list[str]:
    """Add ``payloads`` to STREAM and read them once in GROUP, leaving them pending."""
    await redis.xgroup_create(STREAM, GROUP, id="$", mkstream=True)
    ids = [(await redis.xadd(STREAM, dict(p))).decode() for p in payloads]
    await redis.xreadgroup(GROUP, "c1", {STREAM: ">"}, count=len(ids))
    return ids


async def move(redis: RedisClient, entry_id: str, *, deliveries: int = 5) -> str | None:
    return await move_to_dead_letter(
        redis,
        stream=STREAM,
        group=GROUP,
        entry_id=entry_id,
        dead_letter=DLQ,
        error="ValueError: bad",
        traceback="Traceback ...",
        handler="pkg.mod:handle",
        delivery_count=deliveries,
        now_ms=1_700_000_000_123,
    )


async def pending_ids(redis: RedisClient) -> set[str]:
    rows = await redis.xpending_range(STREAM, GROUP, "-", "+", 100)
    return {r["message_id"].decode() for r in rows}


async def test_move_copies_fields_and_acks_atomically(redis: RedisClient) -> None:
    a, b = await deliver(redis, {b"d": b'{"x":1}', b"_eid": b"src/1-0/0"}, {b"d": b"2"})
    dlq_id = await move(redis, a, deliveries=3)
    assert dlq_id is not None
    assert await pending_ids(redis) == {b}
    [letter] = await list_dead_letters(redis, DLQ, count=10)
    assert letter.id == dlq_id
    assert letter.payload == {b"d": b'{"x":1}', b"_eid": b"src/1-0/0"}
    assert (letter.source, letter.group, letter.original_id) == (STREAM, GROUP, a)
    assert (letter.error, letter.traceback, letter.handler) == (
        "ValueError: bad",
        "Traceback ...",
        "pkg.mod:handle",
    )
    assert (letter.deliveries, letter.failed_at_ms, letter.missing) == (3, 1_700_000_000_123, False)
    raw = await redis.xrange(DLQ)
    assert set(raw[0][1]) == {
        b"d",
        b"_eid",
        b"_error",
        b"_traceback",
        b"_handler",
        b"_source",
        b"_group",
        b"_original_id",
        b"_deliveries",
        b"_failed_at_ms",
    }


async def test_move_is_idempotent(redis: RedisClient) -> None:
    [a] = await deliver(redis, {b"d": b"1"})
    assert await move(redis, a) is not None
    assert await move(redis, a) is None
    assert await redis.xlen(DLQ) == 1


async def test_concurrent_moves_make_one_copy(redis: RedisClient) -> None:
    [a] = await deliver(redis, {b"d": b"1"})
    results = await asyncio.gather(*(move(redis, a) for _ in range(20)))
    assert sum(r is not None for r in results) == 1
    assert await redis.xlen(DLQ) == 1
    assert await pending_ids(redis) == set()


async def test_entry_not_pending_is_left_alone(redis: RedisClient) -> None:
    await redis.xgroup_create(STREAM, GROUP, id="$", mkstream=True)
    never_read = (await redis.xadd(STREAM, {b"d": b"1"})).decode()
    assert await move(redis, never_read) is None
    assert await redis.xlen(DLQ) == 0


async def test_missing_stream_or_group_is_not_pending(redis: RedisClient) -> None:
    assert await move(redis, "1-0") is None
    await redis.xadd(STREAM, {b"d": b"1"})
    assert await move(redis, "1-0") is None
    assert await redis.exists(DLQ) == 0


async def test_trimmed_entry_is_recorded_as_missing_and_acked(redis: RedisClient) -> None:
    [a] = await deliver(redis, {b"d": b"1"})
    await redis.xdel(STREAM, a)
    assert await pending_ids(redis) == {a}
    assert await move(redis, a) is not None
    assert await pending_ids(redis) == set()
    [letter] = await list_dead_letters(redis, DLQ, count=10)
    assert letter.missing and letter.payload == {} and letter.original_id == a
    with pytest.raises(DeadLetterError, match="no payload"):
        await retry_dead_letter(redis, DLQ, letter.id)
    assert await redis.xlen(DLQ) == 1


async def test_retry_re_adds_the_payload_and_removes_the_dead_letter(redis: RedisClient) -> None:
    payload = {b"d": b'{"x":1}', b"_eid": b"src/1-0/0"}
    [a] = await deliver(redis, payload)
    dlq_id = await move(redis, a)
    assert dlq_id is not None
    new_id = await retry_dead_letter(redis, DLQ, dlq_id)
    assert new_id > a
    assert await redis.xlen(DLQ) == 0
    rows = await redis.xrange(STREAM, min=new_id, max=new_id)
    assert rows[0][1] == payload
    # The group sees it as a new entry.
    reply = await redis.xreadgroup(GROUP, "c1", {STREAM: ">"})
    assert [e[0].decode() for e in reply[0][1]] == [new_id]
    with pytest.raises(DeadLetterError, match="no dead letter"):
        await retry_dead_letter(redis, DLQ, dlq_id)


async def test_list_pages_and_drop(redis: RedisClient) -> None:
    ids = await deliver(redis, *({b"d": str(i).encode()} for i in range(5)))
    dlq_ids = [await move(redis, i) for i in ids]
    first = await list_dead_letters(redis, DLQ, count=2)
    assert [d.id for d in first] == dlq_ids[:2]
    rest = await list_dead_letters(redis, DLQ, count=10, start=f"({first[-1].id}")
    assert [d.id for d in rest] == dlq_ids[2:]
    assert await drop_dead_letter(redis, DLQ, [d.id for d in first]) == 2
    assert await drop_dead_letter(redis, DLQ, [first[0].id]) == 0
    assert await drop_dead_letter(redis, DLQ, []) == 0
    assert [d.id for d in await list_dead_letters(redis, DLQ, count=10)] == dlq_ids[2:]


async def test_dead_letter_in_another_slot_is_a_config_error(redis: RedisClient) -> None:
    [a] = await deliver(redis, {b"d": b"1"})
    with pytest.raises(ConfigError, match="hash slot"):
        await move_to_dead_letter(
            redis,
            stream=STREAM,
            group=GROUP,
            entry_id=a,
            dead_letter="elsewhere:dlq",
            error="e",
            traceback="",
            handler="h",
            delivery_count=1,
            now_ms=0,
        )
    assert await pending_ids(redis) == {a}


async def test_untagged_stream_and_its_default_dead_letter_share_a_slot(
    redis: RedisClient,
) -> None:
    stream = "plain-stream"
    await redis.xgroup_create(stream, GROUP, id="$", mkstream=True)
    entry = (await redis.xadd(stream, {b"d": b"1"})).decode()
    await redis.xreadgroup(GROUP, "c1", {stream: ">"})
    dlq_id = await move_to_dead_letter(
        redis,
        stream=stream,
        group=GROUP,
        entry_id=entry,
        dead_letter=dead_letter_name(stream),
        error="e",
        traceback="",
        handler="h",
        delivery_count=1,
        now_ms=0,
    )
    assert dlq_id is not None
    new_id = await retry_dead_letter(redis, dead_letter_name(stream), dlq_id)
    assert await redis.xlen(stream) == 2 and new_id > entry
