"""A redis-py asyncio connection that packs commands with hiredis.

redis-py's synchronous client packs commands with ``hiredis.pack_command`` when hiredis is
installed; its asyncio client still packs them in Python, which dominates the cost of the
worker's large XACKs (hundreds of ids each). This connection class reuses redis-py's own
``HiredisRespSerializer`` so the asyncio client packs the same bytes the sync one does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection
from redis.connection import HiredisRespSerializer

try:
    import hiredis  # noqa: F401  (imported to decide whether the fast packer is available)

    HIREDIS_AVAILABLE = True
except ImportError:  # pragma: no cover - hiredis is a dependency (redis[hiredis])
    HIREDIS_AVAILABLE = False

if TYPE_CHECKING:
    from chimera_workers.connections import RedisClient

_SERIALIZER = HiredisRespSerializer()


class HiredisPackingConnection(Connection):
    """A TCP connection whose commands are packed by hiredis."""

    def pack_command(self, *args: Any) -> list[bytes]:
        packed: list[bytes] = _SERIALIZER.pack(*args)
        return packed

    def pack_commands(self, commands: Any) -> list[bytes]:
        return [chunk for command in commands for chunk in _SERIALIZER.pack(*command)]


Entry = tuple[bytes, dict[bytes, bytes] | None]


async def read_group(
    redis: RedisClient,
    group: str,
    consumer: str,
    stream: str,
    start: str,
    *,
    count: int,
    block_ms: int | None,
) -> list[Entry]:
    """XREADGROUP one stream; return ``(entry id, fields or None if deleted)`` pairs.

    On a single Redis the reply is taken raw (the command is sent under a name redis-py
    has no reply callback for) and each entry's field list becomes a dict in C; redis-py's
    generic parser costs more than everything else the worker does per message. A Cluster
    client keeps redis-py's path, which routes the command by its key.
    """
    if isinstance(redis, RedisCluster):
        reply: Any = await redis.xreadgroup(
            group, consumer, {stream: start}, count=count, block=block_ms
        )
        return list(reply[0][1]) if reply else []
    args: list[Any] = ["XREADGROUP GROUP", group, consumer, "COUNT", count]
    if block_ms is not None:
        args += ["BLOCK", block_ms]
    args += ["STREAMS", stream, start]
    raw: Any = await redis.execute_command(*args)  # type: ignore[no-untyped-call]
    if not raw:
        return []
    # RESP3 answers a map {stream: entries}; RESP2 a list [[stream, entries]].
    rows = next(iter(raw.values())) if isinstance(raw, dict) else raw[0][1]
    return [(entry_id, _pairs(fields)) for entry_id, fields in rows]


def _pairs(flat: list[bytes] | None) -> dict[bytes, bytes] | None:
    if not flat:
        return None
    if len(flat) == 2:  # the usual entry: one payload field
        return {flat[0]: flat[1]}
    it = iter(flat)
    return dict(zip(it, it, strict=False))
