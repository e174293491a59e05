"""TWAP slices in ``prod:{exec}:twap:queue``: a sorted set of ``<intent_id>|<slice>`` by due time.

Accepting a TWAP intent queues each slice that has no order yet (``ZADD NX``: a repeat keeps the
original due times), slice ``i`` due at acceptance + ``i x interval``. The scheduled TWAP tick
(one worker cluster-wide) takes due members, places each slice through the intent's desk (an
idempotent ``ensure``), removes it, and re-queues ``router.twap_retry_ms`` later a slice whose
outcome is not known yet or whose intent another process holds.
"""

from __future__ import annotations

from chimera import names
from chimera_workers.connections import RedisClient

_SEPARATOR = "|"


def member(intent_id: str, index: int) -> str:
    """Return the queue member of slice ``index`` of ``intent_id``."""
    return f"{intent_id}{_SEPARATOR}{index}"


def parse_member(raw: bytes | str) -> tuple[str, int] | None:
    """Return (intent_id, slice index) of a queue member, or None if it is not one."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    intent_id, _, index = text.rpartition(_SEPARATOR)
    if not intent_id or not index.isdigit():
        return None
    return intent_id, int(index)


async def queue_slices(redis: RedisClient, due: dict[str, int]) -> None:
    """Queue members at their due times, keeping the time of any member already queued."""
    if due:
        await redis.zadd(names.TWAP_QUEUE, dict(due), nx=True)


async def due_members(redis: RedisClient, now_ms: int, limit: int) -> list[bytes]:
    """Return up to ``limit`` members due at ``now_ms``, earliest first."""
    result = await redis.zrangebyscore(names.TWAP_QUEUE, "-inf", now_ms, start=0, num=limit)
    return [item if isinstance(item, bytes) else str(item).encode() for item in result]


async def requeue(redis: RedisClient, raw: bytes, due_ms: int) -> None:
    """Move a member that is still queued to ``due_ms``."""
    await redis.zadd(names.TWAP_QUEUE, {raw: due_ms}, xx=True)


async def remove(redis: RedisClient, *members: bytes | str) -> int:
    """Remove members; return how many were queued."""
    if not members:
        return 0
    return int(await redis.zrem(names.TWAP_QUEUE, *members))


async def queued_of(redis: RedisClient, intent_id: str, slices: int) -> list[int]:
    """Return the slice indexes of ``intent_id`` still queued."""
    scores = await redis.zmscore(names.TWAP_QUEUE, [member(intent_id, i) for i in range(slices)])
    return [i for i, score in enumerate(scores) if score is not None]


__all__ = [
    "due_members",
    "member",
    "parse_member",
    "queue_slices",
    "queued_of",
    "remove",
    "requeue",
]
