"""Read-only views of streams and groups: length, lag, pending, oldest pending age, consumers.

Shared by ``chimera inspect``, the worker's metric gauges, the retention floor and the demo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ResponseError

from chimera_workers.connections import RedisClient
from chimera_workers.scripts import run_script
from chimera_workers.stream_ids import StreamId, decode, parse_id

_LAG_SCAN_CAP = 10_000


@dataclass(frozen=True, slots=True)
class ConsumerStats:
    name: str
    pending: int
    idle_ms: int


@dataclass(frozen=True, slots=True)
class GroupStats:
    name: str
    pending: int
    last_delivered_id: StreamId
    lag: int | None
    lag_capped: bool
    oldest_pending_id: StreamId | None
    oldest_pending_age_ms: int | None
    consumers: tuple[ConsumerStats, ...] = ()


@dataclass(frozen=True, slots=True)
class StreamStats:
    name: str
    length: int
    first_id: StreamId | None
    last_id: StreamId | None
    groups: tuple[GroupStats, ...] = field(default_factory=tuple)


async def group_stats(
    redis: RedisClient, stream: str, now_ms: int, *, with_consumers: bool = False
) -> list[GroupStats]:
    """Describe every consumer group of ``stream``; a missing stream has none."""
    try:
        groups: list[dict[str, Any]] = await redis.xinfo_groups(stream)
    except ResponseError:
        return []
    out = []
    for g in groups:
        name = decode(g["name"])
        last = parse_id(g["last-delivered-id"])
        pending = int(g["pending"])
        oldest: StreamId | None = None
        if pending:
            summary = await redis.xpending(stream, name)
            if summary.get("min"):
                oldest = parse_id(summary["min"])
        lag, capped = await _lag(redis, stream, g, last)
        consumers: tuple[ConsumerStats, ...] = ()
        if with_consumers:
            rows = await redis.xinfo_consumers(stream, name)
            consumers = tuple(
                ConsumerStats(decode(c["name"]), int(c["pending"]), int(c["idle"])) for c in rows
            )
        out.append(
            GroupStats(
                name=name,
                pending=pending,
                last_delivered_id=last,
                lag=lag,
                lag_capped=capped,
                oldest_pending_id=oldest,
                oldest_pending_age_ms=max(0, now_ms - oldest[0]) if oldest else None,
                consumers=consumers,
            )
        )
    return out


async def _lag(
    redis: RedisClient, stream: str, info: dict[str, Any], last: StreamId
) -> tuple[int | None, bool]:
    # Redis 7.0+ reports lag itself; 6.2 does not, so count what lies after the group's
    # last-delivered id, capped to keep the scan cheap.
    if "lag" in info:
        return (None if info["lag"] is None else int(info["lag"])), False
    count = int(
        await run_script(redis, "count_after", [stream], [f"({last[0]}-{last[1]}", _LAG_SCAN_CAP])
    )
    return count, count >= _LAG_SCAN_CAP


async def stream_stats(
    redis: RedisClient, stream: str, now_ms: int, *, with_consumers: bool = False
) -> StreamStats:
    """Describe ``stream`` and its groups; a missing stream reports length 0."""
    length = int(await redis.xlen(stream))
    first: Any = await redis.xrange(stream, count=1)
    last: Any = await redis.xrevrange(stream, count=1)
    return StreamStats(
        name=stream,
        length=length,
        first_id=parse_id(first[0][0]) if first else None,
        last_id=parse_id(last[0][0]) if last else None,
        groups=tuple(await group_stats(redis, stream, now_ms, with_consumers=with_consumers)),
    )
