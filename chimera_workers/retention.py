"""Stream retention: approximate MAXLEN and age limits that never trim unread entries.

The floor is the smallest id any consumer group still needs: its oldest pending entry, or
the first entry after its last-delivered id. Groups a binding declares are created before
the first trim, so events enqueued before any worker started are kept for it.
"""

from __future__ import annotations

from chimera_workers.connections import RedisClient
from chimera_workers.inspection import group_stats
from chimera_workers.scripts import Scripts
from chimera_workers.stream_ids import StreamId, format_id, next_id
from chimera_workers.topology import Retention

_SCAN_CAP = 50_000


async def retention_floor(redis: RedisClient, stream: str, now_ms: int) -> StreamId | None:
    """Return the smallest id some group still needs, or None when the stream has no group."""
    floor: StreamId | None = None
    for g in await group_stats(redis, stream, now_ms):
        needed = g.oldest_pending_id or next_id(g.last_delivered_id)
        floor = needed if floor is None or needed < floor else floor
    return floor


async def trim_stream(
    redis: RedisClient, scripts: Scripts, stream: str, retention: Retention, now_ms: int
) -> int:
    """Apply ``retention`` to ``stream`` below the group floor; return entries removed."""
    if retention.maxlen is None and retention.max_age_ms is None:
        return 0
    floor = await retention_floor(redis, stream, now_ms)
    if floor is None:
        # No group has ever been attached: nobody is waiting for these entries.
        floor = (now_ms + 1, 0)
    by_age = (max(0, now_ms - retention.max_age_ms), 0) if retention.max_age_ms else (0, 0)
    removed = await scripts.run(
        "retention_trim",
        [stream],
        [format_id(floor), str(retention.maxlen or 0), format_id(by_age), str(_SCAN_CAP)],
    )
    return int(removed)
