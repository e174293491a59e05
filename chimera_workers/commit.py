"""Commit finished deliveries: write their emits and XACK them, exactly once.

On a single Redis the emits and the acks go in one MULTI/EXEC, so they happen together or
not at all. When the connection drops mid-commit the outcome is unknown; the entries still
pending in the group tell which half of the batch did not happen, and only that half is
redone. On a Cluster the emitted streams may live on other nodes, so emits are written first
and acked after (at-least-once emits); each emitted entry carries its origin id so a consumer
can drop the rare duplicate (``Context.idempotency_key``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chimera_workers.connections import RedisClient, is_cluster
from chimera_workers.context import Emit
from chimera_workers.errors import raise_if_cancelling

log = logging.getLogger(__name__)

Emitted = tuple[bytes, list[Emit]]
"""An entry id and the emits of its handler run (only entries that emitted have one)."""
_TRANSIENT = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


class Committer:
    """Write emits and acks for one (stream, group, consumer)."""

    def __init__(
        self,
        redis: RedisClient,
        stream: str,
        group: str,
        *,
        max_backoff_s: float = 2.0,
    ) -> None:
        self._redis = redis
        self._stream = stream
        self._group = group
        self._cluster = is_cluster(redis)
        self._max_backoff_s = max_backoff_s

    async def commit(
        self,
        ids: Sequence[bytes],
        emitted: Sequence[Emitted] = (),
        *,
        deadline: float | None = None,
    ) -> bool:
        """Emit and ack entries ``ids``, retrying through connection loss until it is durable.

        ``emitted`` holds the emits of those of ``ids`` whose handler emitted (in order); the
        ids and emits are kept apart so the common batch without emits is one plain XACK.
        With a ``deadline`` (a ``time.monotonic()`` value, used during shutdown) give up when
        it passes and return False: the unacked entries stay pending and are delivered again.
        """
        todo, todo_emits = list(ids), list(emitted)
        delay = 0.05
        while todo:
            try:
                await self._write(todo, todo_emits)
                return True
            except _TRANSIENT as exc:
                raise_if_cancelling()
                log.warning("commit of %d entries on %s failed: %s", len(todo), self._stream, exc)
            # Learn what the failed attempt did before trying again, however long that takes.
            while True:
                if deadline is not None and time.monotonic() + delay > deadline:
                    log.error(
                        "shutdown: %d finished entries on %s left pending", len(todo), self._stream
                    )
                    return False
                await asyncio.sleep(delay)
                delay = min(self._max_backoff_s, delay * 2)
                try:
                    pending = await self._still_pending(todo)
                    break
                except _TRANSIENT:
                    raise_if_cancelling()
                    continue
            todo = [entry_id for entry_id in todo if entry_id in pending]
            todo_emits = [item for item in todo_emits if item[0] in pending]
        return True

    async def _write(self, ids: list[bytes], emitted: list[Emitted]) -> None:
        emits = [emit for _, entry_emits in emitted for emit in entry_emits]
        if self._cluster:
            if emits:
                pipe = self._redis.pipeline(transaction=False)
                for stream, fields in emits:
                    pipe.xadd(stream, fields)  # type: ignore[arg-type]
                await pipe.execute()
            await self._redis.xack(self._stream, self._group, *ids)
            return
        if not emits:
            await self._redis.xack(self._stream, self._group, *ids)
            return
        pipe = self._redis.pipeline(transaction=True)
        for stream, fields in emits:
            pipe.xadd(stream, fields)  # type: ignore[arg-type]
        pipe.xack(self._stream, self._group, *ids)
        await pipe.execute()

    async def _still_pending(self, ids: list[bytes]) -> set[bytes]:
        # Entries no longer pending were acked by a MULTI that did run (its reply was lost):
        # their emits happened with the ack, so redoing them would emit twice.
        pipe = self._redis.pipeline(transaction=False)
        for entry_id in ids:
            pipe.xpending_range(self._stream, self._group, entry_id, entry_id, 1)
        replies = await pipe.execute()
        return {entry_id for entry_id, rows in zip(ids, replies, strict=True) if rows}
