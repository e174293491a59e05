"""Hot reload: load the configuration at start, then again on every entry of a reload stream.

Every worker process must reload, so the stream is read with plain ``XREAD BLOCK`` (not a
consumer group, which would hand each entry to one process only). The entry's content is not
trusted or needed: it only says "look again", and the loader reads the source of truth, so a
lost or duplicated announcement is repaired by the next one or the next start. The follower
starts reading after the stream's last entry *before* the first load, so an activation that
lands during start-up is not missed.

A loader that fails keeps the previous configuration in place (RCU: nothing is swapped),
logs, counts ``chimera_config_reloads{outcome="failed"}`` and is retried after ``retry_ms``;
it never stops the worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from chimera_workers.config_ref import ConfigRef
from chimera_workers.connections import RedisClient
from chimera_workers.context import Resources
from chimera_workers.errors import raise_if_cancelling
from chimera_workers.metrics import WorkerMetrics
from chimera_workers.topology import ConfigSpec

log = logging.getLogger(__name__)

_START_ID = "0-0"


class ConfigFollower:
    """Keep ``ref`` equal to what ``spec.loader`` returns, reloading on ``spec.reload_stream``."""

    def __init__(
        self,
        spec: ConfigSpec,
        redis: RedisClient,
        ref: ConfigRef[Any],
        resources: Callable[[], Resources],
        metrics: WorkerMetrics,
        *,
        block_ms: int = 5_000,
        retry_ms: int = 2_000,
    ) -> None:
        self.spec = spec
        self.redis = redis
        self.ref = ref
        self._resources = resources
        self._metrics = metrics
        self.block_ms = block_ms
        self.retry_ms = retry_ms
        self.healthy = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Note the reload stream's position, load once, then follow the stream."""
        position = await self._tail()
        await self.reload("start")
        self._task = asyncio.create_task(self._follow(position), name="config-follow")

    async def stop(self) -> None:
        """Stop following (an in-progress load is cancelled; the current config stays)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def reload(self, why: str) -> bool:
        """Run the loader and publish its result; on failure keep the current config."""
        try:
            config, rev = await self.spec.loader(self._resources())
        except Exception as exc:  # the loader is project code: any failure keeps the old config
            raise_if_cancelling()
            self.healthy = False
            self._metrics.config_reloads.labels("failed").inc()
            log.error(
                "config reload (%s) via %s failed; keeping rev %s: %s",
                why,
                self.spec.loader_path,
                self.ref.rev,
                exc,
                exc_info=not isinstance(exc, RedisError | OSError),
            )
            return False
        self.healthy = True
        changed = rev != self.ref.rev or config is not self.ref.current
        self.ref.replace(config, rev)
        self._metrics.config_reloads.labels("changed" if changed else "unchanged").inc()
        if changed:
            log.info("config rev %s loaded (%s)", rev, why)
        return True

    async def _tail(self) -> str:
        while True:
            try:
                last: Any = await self.redis.xrevrange(self.spec.reload_stream, count=1)
                return _text(last[0][0]) if last else _START_ID
            except (RedisError, OSError) as exc:
                raise_if_cancelling()
                log.warning("reading %s failed: %s", self.spec.reload_stream, exc)
                await asyncio.sleep(self.retry_ms / 1000)

    async def _follow(self, position: str) -> None:
        stream = self.spec.reload_stream
        while True:
            # After a failed load, wake up to retry even if nothing is announced.
            block = self.block_ms if self.healthy else min(self.block_ms, self.retry_ms)
            try:
                reply = await self.redis.xread({stream: position}, count=100, block=block)
            except (RedisError, OSError) as exc:
                raise_if_cancelling()
                log.warning("following %s failed: %s", stream, exc)
                await asyncio.sleep(self.retry_ms / 1000)
                continue
            entries = _entries(reply, stream)
            if entries:
                position = _text(entries[-1][0])
                await self.reload(f"{stream} {position}")
            elif not self.healthy:
                await self.reload("retry")


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _entries(reply: Any, stream: str) -> list[Any]:
    # redis-py (RESP2) answers XREAD as [[name, [(id, fields), ...]]], or None after a timeout.
    for name, entries in reply or ():
        if _text(name) == stream:
            return list(entries)
    return []


__all__ = ["ConfigFollower"]
