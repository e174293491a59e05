"""A worker process: the consumers of its bindings, its scheduled jobs, retention, gauges."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from contextlib import AsyncExitStack
from types import MappingProxyType
from typing import Any

import asyncpg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from chimera_workers.config_follow import ConfigFollower
from chimera_workers.config_ref import ConfigRef
from chimera_workers.connections import RedisClient
from chimera_workers.consumer import StreamConsumer, ensure_group, now_ms
from chimera_workers.context import NO_EXTRA, WORKER_EXTRA, Context, Resources
from chimera_workers.errors import ChimeraError, raise_if_cancelling
from chimera_workers.inspection import group_stats
from chimera_workers.keys import retention_job
from chimera_workers.metrics import WorkerMetrics
from chimera_workers.retention import trim_stream
from chimera_workers.scheduler import Scheduler
from chimera_workers.scripts import Scripts
from chimera_workers.topology import App, ScheduleSpec, StreamSpec

log = logging.getLogger(__name__)


class WorkerCrashed(ChimeraError):
    """A consumer loop died of an unexpected error; the worker stopped instead of idling."""


_GAUGE_PERIOD_S = 5.0


class Worker:
    """Run ``bindings`` and ``schedules`` of ``app`` as consumer ``consumer`` until stopped.

    If the topology declares ``resources:``, each factory is called with ``environ`` (default
    ``os.environ``) and entered at start, before anything runs, and exited at stop, after
    in-flight work finished. If it declares ``config:``, the loader fills ``config`` at start
    and on every entry of the reload stream (see ``config_follow``).
    """

    def __init__(
        self,
        app: App,
        redis: RedisClient,
        *,
        consumer: str,
        bindings: list[str] | None = None,
        schedules: list[str] | None = None,
        db: asyncpg.Pool | None = None,
        config: ConfigRef[Any] | None = None,
        metrics: WorkerMetrics | None = None,
        shutdown_grace_s: float = 10.0,
        retention: bool = True,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.app = app
        self.redis = redis
        self.consumer = consumer
        self.db = db
        self.config: ConfigRef[Any] = config or ConfigRef(None)
        self.metrics = metrics or WorkerMetrics()
        self.shutdown_grace_s = shutdown_grace_s
        self.scripts = Scripts(redis)
        names = list(app.bindings) if bindings is None else bindings
        self.bindings = [app.binding(n) for n in names]
        self._schedules = [
            app.schedules[n] for n in (list(app.schedules) if schedules is None else schedules)
        ]
        if retention:
            self._schedules += [
                _retention_schedule(self, s)
                for s in app.streams.values()
                if s.retention.maxlen or s.retention.max_age_ms
            ]
        self.consumers: list[StreamConsumer] = []
        self.scheduler: Scheduler | None = None
        self._stop = asyncio.Event()
        self.failure: BaseException | None = None
        self._gauges: asyncio.Task[None] | None = None
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.extra: Mapping[str, Any] = NO_EXTRA
        self._exit_stack = AsyncExitStack()
        self.config_follower: ConfigFollower | None = None

    def resources(self) -> Resources:
        """Return what every context of this worker shares, entered resources included."""
        return Resources(self.app, self.redis, self.db, self.metrics, self.extra)

    def context(self) -> Context:
        """Build a context outside any delivery (for scheduled jobs and tools)."""
        return Context(self.resources(), self.config.current, self.config.rev)

    async def start(self) -> None:
        """Enter resources, load the config, create every declared group, then start consumers,
        schedules and gauges."""
        await self._enter_resources()
        if self.app.config is not None:
            self.config_follower = ConfigFollower(
                self.app.config, self.redis, self.config, self.resources, self.metrics
            )
            await self.config_follower.start()
        await ensure_declared_groups(self.redis, self.app)
        # Consumers build their own Resources; this scopes our entered resources to them.
        token = WORKER_EXTRA.set(self.extra)
        try:
            await self._start_consumers()
        finally:
            WORKER_EXTRA.reset(token)
        if self._schedules:
            self.scheduler = Scheduler(
                self.redis, self.scripts, self._schedules, self.context, self.metrics, self.consumer
            )
            self.scheduler.start()
        self._gauges = asyncio.create_task(self._gauge_loop())

    async def _enter_resources(self) -> None:
        entered: dict[str, Any] = {}
        try:
            for spec in self.app.resources:
                manager = spec.factory(self.environ)
                entered[spec.name] = await self._exit_stack.enter_async_context(manager)
        except BaseException:
            await self._exit_stack.aclose()
            raise
        self.extra = MappingProxyType(entered)

    async def _start_consumers(self) -> None:
        for binding in self.bindings:
            for stream in binding.streams:
                consumer = StreamConsumer(
                    app=self.app,
                    binding=binding,
                    stream=self.app.streams[stream],
                    redis=self.redis,
                    scripts=self.scripts,
                    consumer=self.consumer,
                    db=self.db,
                    config=self.config,
                    metrics=self.metrics,
                    on_crash=self._crashed,
                )
                await consumer.start()
                self.consumers.append(consumer)

    def _crashed(self, exc: BaseException) -> None:
        self.failure = self.failure or exc
        self.request_stop()

    def request_stop(self) -> None:
        """Ask the worker to shut down (safe to call from a signal handler)."""
        self._stop.set()

    async def run(self) -> None:
        """Start, run until ``request_stop``, then shut down gracefully."""
        try:
            await self.start()
        except BaseException:
            await self.stop()  # exits whatever resources were entered
            raise
        await self._stop.wait()
        await self.stop()
        if self.failure is not None:
            raise WorkerCrashed(f"a consumer loop crashed: {self.failure!r}") from self.failure

    async def stop(self) -> None:
        """Stop reading, finish or release in-flight work within the grace period, commit."""
        if self._gauges:
            self._gauges.cancel()
        if self.scheduler:
            await self.scheduler.stop()
        await asyncio.gather(*(c.stop(self.shutdown_grace_s) for c in self.consumers))
        if self.config_follower is not None:
            await self.config_follower.stop()
        # Last: handlers that were still finishing may have used them.
        await self._exit_stack.aclose()
        self.extra = NO_EXTRA

    async def _gauge_loop(self) -> None:
        streams = sorted({c.name for c in self.consumers})
        while True:
            try:
                now = now_ms()
                for stream in streams:
                    for g in await group_stats(self.redis, stream, now):
                        self.metrics.lag.labels(stream, g.name).set(g.lag or 0)
                        self.metrics.pending.labels(stream, g.name).set(g.pending)
                        self.metrics.oldest_pending_age.labels(stream, g.name).set(
                            (g.oldest_pending_age_ms or 0) / 1000
                        )
            except (RedisError, OSError) as exc:
                raise_if_cancelling()
                log.debug("gauge refresh failed: %s", exc)
            await asyncio.sleep(_GAUGE_PERIOD_S)


async def ensure_declared_groups(redis: RedisClient, app: App) -> None:
    """Create every group a binding or stream declares, so retention keeps their entries."""
    wanted: dict[str, set[str]] = {name: set(s.extra_groups) for name, s in app.streams.items()}
    for binding in app.bindings.values():
        for stream in binding.streams:
            wanted[stream].add(binding.group)
    backoff = 0.05
    while True:
        try:
            for stream, groups in wanted.items():
                for group in groups:
                    await ensure_group(redis, stream, group)
            return
        except RedisConnectionError:
            raise_if_cancelling()
            await asyncio.sleep(backoff)
            backoff = min(2.0, backoff * 2)


def _retention_schedule(worker: Worker, stream: StreamSpec) -> ScheduleSpec:
    async def trim(ctx: Context) -> None:
        await trim_stream(worker.redis, worker.scripts, stream.name, stream.retention, now_ms())

    return ScheduleSpec(
        name=retention_job(stream.name),
        handler=trim,
        handler_path="chimera_workers.retention:trim_stream",
        interval_ms=stream.retention.trim_interval_ms,
        cron=None,
        lock_ttl_ms=max(10_000, stream.retention.trim_interval_ms),
    )
