"""Buffer S1's events and write them to Redis in pipelined batches.

Entries use the runtime's format (one field ``d`` holding the msgspec-JSON payload), so the
workers' stream decoders read them. Each XADD carries ``MAXLEN ~ <cap>``: S1 is a firehose and
must bound its streams even when no worker runs the retention job.

One flush sends one small Lua call per stream that XADDs all of that stream's buffered entries
in order (and one pipeline for all of them): per-command client overhead, not Redis, is what
limits a Python producer, and this makes it per batch instead of per entry. A Lua call touches
one key, so it is Cluster-safe.

A flush happens when ``batch_size`` entries are buffered or every ``flush_ms``. A failed flush
keeps the batch and retries on the next tick (Redis restarts lose nothing); if the buffer
exceeds ``max_buffer`` while Redis stays down, ``PublisherOverflow`` is raised: S1 fails fast
rather than drop market data silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import msgspec
from redis.exceptions import RedisError

from chimera_workers.connections import RedisClient
from chimera_workers.errors import ChimeraError, raise_if_cancelling
from chimera_workers.keys import PAYLOAD_FIELD

log = logging.getLogger("chimera.s1.publisher")

_encoder = msgspec.json.Encoder()


# KEYS[1]: the stream; ARGV[1]: the MAXLEN ~ cap (0: none); ARGV[2..]: payloads, in order.
XADD_MANY = f"""
local cap = tonumber(ARGV[1])
for i = 2, #ARGV do
    if cap > 0 then
        redis.call('XADD', KEYS[1], 'MAXLEN', '~', cap, '*', '{PAYLOAD_FIELD.decode()}', ARGV[i])
    else
        redis.call('XADD', KEYS[1], '*', '{PAYLOAD_FIELD.decode()}', ARGV[i])
    end
end
return #ARGV - 1
"""


class PublisherOverflow(ChimeraError):
    """Redis has been unreachable for too long: the in-memory buffer is full."""


class StreamPublisher:
    """Pipelined XADD (and SET) writer shared by every S1 component of one process."""

    def __init__(
        self,
        redis: RedisClient,
        *,
        maxlen: Callable[[str], int | None],
        batch_size: int = 500,
        flush_ms: int = 20,
        max_buffer: int = 200_000,
    ) -> None:
        self.redis = redis
        self._maxlen = maxlen
        self._maxlen_cache: dict[str, int | None] = {}
        self.batch_size = batch_size
        self.flush_ms = flush_ms
        self.max_buffer = max_buffer
        self._entries: list[tuple[str, bytes]] = []
        self._keys: dict[str, bytes] = {}
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.published = 0
        self.failed_flushes = 0

    @property
    def pending(self) -> int:
        return len(self._entries) + len(self._keys)

    def add(self, stream: str, event: msgspec.Struct) -> None:
        """Queue ``event`` for ``stream``."""
        self._entries.append((stream, _encoder.encode(event)))
        if len(self._entries) >= self.batch_size:
            self._wake.set()
        if len(self._entries) > self.max_buffer:
            raise PublisherOverflow(
                f"{len(self._entries)} entries buffered: Redis has not accepted writes",
                hint="check that Redis is up; S1 exits rather than drop market data",
            )

    def set_key(self, key: str, event: msgspec.Struct) -> None:
        """Queue ``SET key <event JSON>``; a later value for the same key replaces this one."""
        self._keys[key] = _encoder.encode(event)

    async def flush(self) -> int:
        """Write everything buffered in one pipeline; return entries written (0 on failure)."""
        async with self._lock:
            entries, keys = self._entries, self._keys
            if not entries and not keys:
                return 0
            self._entries, self._keys = [], {}
            by_stream: dict[str, list[bytes]] = {}
            for stream, payload in entries:
                by_stream.setdefault(stream, []).append(payload)
            pipe = self.redis.pipeline(transaction=False)
            for stream, payloads in by_stream.items():
                # EVAL, not EVALSHA: the ~300-byte script is nothing next to a batch, and it
                # needs no NOSCRIPT handling on a fresh server or Cluster node.
                pipe.eval(XADD_MANY, 1, stream, self._cap(stream) or 0, *payloads)
            for key, value in keys.items():
                pipe.set(key, value)
            try:
                await pipe.execute()
            except (RedisError, OSError) as exc:
                raise_if_cancelling()
                self.failed_flushes += 1
                log.warning("flush of %d entries failed (kept for retry): %s", len(entries), exc)
                # Keep order: the failed batch goes before anything queued meanwhile.
                self._entries = entries + self._entries
                self._keys = {**keys, **self._keys}
                return 0
            self.published += len(entries)
            return len(entries)

    async def run(self) -> None:
        """Flush every ``flush_ms`` or as soon as a batch is full, until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_ms / 1000)
            self._wake.clear()
            await self.flush()

    def _cap(self, stream: str) -> int | None:
        try:
            return self._maxlen_cache[stream]
        except KeyError:
            cap = self._maxlen_cache[stream] = self._maxlen(stream)
            return cap
