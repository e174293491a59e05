"""Recovery of a group's pending entries: renew our claims, reclaim idle ones, reap consumers.

* Renew: entries this consumer holds (queued or running) get their idle time reset every
  third of claim-idle, so a handler that runs longer than claim-idle is not run twice.
* Reclaim: entries idle past claim-idle belong to a dead or stuck consumer; XAUTOCLAIM takes
  them (Redis >= 6.2), else XPENDING + XCLAIM. Each stream is claimed on its own, so this
  works the same on a Cluster where streams live on different nodes.
* Reap: a consumer idle for long with an empty pending list is deleted; one that still has
  pending entries is never deleted (its entries would be lost from the PEL).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from chimera_workers.connections import RedisClient
from chimera_workers.scripts import Scripts
from chimera_workers.stream_ids import decode, parse_id

log = logging.getLogger(__name__)

_RENEW_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Claimed:
    entry_id: bytes
    fields: dict[bytes, bytes] | None
    deliveries: int


class Reclaimer:
    """Claim bookkeeping for one (stream, group, consumer)."""

    def __init__(
        self, redis: RedisClient, scripts: Scripts, stream: str, group: str, consumer: str
    ) -> None:
        self._redis = redis
        self._scripts = scripts
        self._stream = stream
        self._group = group
        self._consumer = consumer
        self._cursor = "0-0"
        self._autoclaim: bool | None = None

    async def renew(self, entry_ids: Iterable[bytes]) -> int:
        """Reset the idle time of ``entry_ids`` that this consumer still owns."""
        ids = list(entry_ids)
        renewed = 0
        for i in range(0, len(ids), _RENEW_CHUNK):
            chunk = ids[i : i + _RENEW_CHUNK]
            renewed += int(
                await self._scripts.run(
                    "claim_renew", [self._stream], [self._group, self._consumer, *chunk]
                )
            )
        return renewed

    async def reclaim(self, min_idle_ms: int, count: int) -> list[Claimed]:
        """Take up to ``count`` entries idle for at least ``min_idle_ms`` from any consumer."""
        if count <= 0:
            return []
        if self._autoclaim is None:
            self._autoclaim = await _supports_autoclaim(self._redis)
        if self._autoclaim:
            entries = await self._xautoclaim(min_idle_ms, count)
        else:
            entries = await self._xpending_xclaim(min_idle_ms, count)
        if not entries:
            return []
        counts = await self.delivery_counts([entry_id for entry_id, _ in entries])
        return [Claimed(eid, fields, counts.get(eid, 1)) for eid, fields in entries]

    async def _xautoclaim(
        self, min_idle_ms: int, count: int
    ) -> list[tuple[bytes, dict[bytes, bytes] | None]]:
        reply: Any = await self._redis.xautoclaim(
            self._stream, self._group, self._consumer, min_idle_ms, self._cursor, count=count
        )
        # redis-py returns [next_cursor, entries] on 6.2 and [next_cursor, entries, deleted]
        # on 7.0+ (which already dropped the deleted ids from the PEL itself).
        self._cursor = decode(reply[0])
        return [(_raw(eid), fields) for eid, fields in reply[1]]

    async def _xpending_xclaim(
        self, min_idle_ms: int, count: int
    ) -> list[tuple[bytes, dict[bytes, bytes] | None]]:
        rows: Any = await self._redis.xpending_range(self._stream, self._group, "-", "+", count * 4)
        ids = [r["message_id"] for r in rows if int(r["time_since_delivered"]) >= min_idle_ms][
            :count
        ]
        if not ids:
            return []
        claimed: Any = await self._redis.xclaim(
            self._stream, self._group, self._consumer, min_idle_ms, ids
        )
        found = {_raw(eid): fields for eid, fields in claimed}
        return [(_raw(eid), found[_raw(eid)]) for eid in ids if _raw(eid) in found]

    async def delivery_counts(self, entry_ids: list[bytes]) -> dict[bytes, int]:
        """Return how many times each of ``entry_ids`` has been delivered (from the PEL)."""
        if not entry_ids:
            return {}
        ordered = sorted(entry_ids, key=_id_key)
        rows: Any = await self._redis.xpending_range(
            self._stream,
            self._group,
            ordered[0],
            ordered[-1],
            len(ordered) * 2 + 10,
            consumername=self._consumer,
        )
        wanted = set(entry_ids)
        counts = {_raw(r["message_id"]): int(r["times_delivered"]) for r in rows}
        return {eid: n for eid, n in counts.items() if eid in wanted}

    async def reap_consumers(self, min_idle_ms: int) -> list[str]:
        """Delete other consumers idle for ``min_idle_ms`` whose pending list is empty."""
        try:
            consumers = await self._redis.xinfo_consumers(self._stream, self._group)
        except ResponseError:
            return []
        reaped = []
        for c in consumers:
            name = decode(c["name"])
            if name == self._consumer or int(c["pending"]) or int(c["idle"]) < min_idle_ms:
                continue
            # DELCONSUMER returns the pending count it dropped; with the check above that is 0
            # unless the consumer read in between, in which case it is immediately recreated
            # on its next read and its entries are reclaimed by idle time like any other.
            await self._redis.xgroup_delconsumer(self._stream, self._group, name)
            reaped.append(name)
        return reaped


def _id_key(entry_id: bytes) -> tuple[int, int]:
    return parse_id(entry_id)


def _raw(entry_id: bytes | str) -> bytes:
    return entry_id if isinstance(entry_id, bytes) else entry_id.encode()


async def _supports_autoclaim(redis: RedisClient) -> bool:
    info = await redis.info("server")
    if isinstance(info, dict) and "redis_version" not in info:
        # A Cluster client answers per node; every node runs the same version here.
        info = next(iter(info.values()))
    major, minor, *_ = (int(x) for x in str(info["redis_version"]).split("."))
    return (major, minor) >= (6, 2)
