"""S1's market-data process: one websocket per market, a shared publisher, bars, funding, metrics.

Runs until ``stop`` is set (SIGTERM/SIGINT in the CLI); then it closes the websockets, flushes
every buffered entry, persists the still-open bars as incomplete and returns. A background task
that dies of an unexpected error stops the service with that error (the supervisor restarts S1)
rather than leave a process that looks alive but publishes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import asyncpg
import msgspec

from chimera.domain.market import MarketEvent, TradeEvent
from chimera.domain.metrics import MetricEvent
from chimera.names import METRICS_EVENTS, MarketKind, mkt_stream
from chimera.venues.binance_wire import DepthSnapshot, RestTrade
from chimera.venues.settings import VenueSettings
from chimera_workers.connections import RedisClient
from chimera_workers.errors import cancel_and_wait, raise_if_cancelling
from chimera_workers.keys import PAYLOAD_FIELD
from handlers.s1_connectors.bars import BarWriter
from handlers.s1_connectors.config import ConnectorConfig
from handlers.s1_connectors.funding import FundingTracker, IncomeFetcher
from handlers.s1_connectors.market_feed import MarketFeed
from handlers.s1_connectors.publisher import StreamPublisher
from handlers.s1_connectors.venue_api import MarketRest, VenueEndpoints, VenueError
from handlers.s1_connectors.ws_client import StreamConnection

log = logging.getLogger("chimera.s1")
T = TypeVar("T")

_MARKET_EVENT = msgspec.json.Decoder(MarketEvent)


async def last_trade_ids(
    redis: RedisClient, kind: MarketKind, symbols: tuple[str, ...]
) -> dict[str, int]:
    """Return the newest trade id already on each symbol's market stream (to backfill from)."""
    out: dict[str, int] = {}
    for symbol in symbols:
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await redis.xrevrange(
            mkt_stream(kind, symbol), count=500
        )  # type: ignore[assignment]
        for _, fields in entries:
            try:
                event = _MARKET_EVENT.decode(fields[PAYLOAD_FIELD]).event
            except (msgspec.DecodeError, KeyError):
                continue
            if isinstance(event, TradeEvent):
                out[symbol] = event.trade_id
                break
    return out


class ConnectorService:
    """Wire S1's parts together and run them."""

    def __init__(
        self,
        config: ConnectorConfig,
        venue: VenueSettings,
        redis: RedisClient,
        pool: asyncpg.Pool,
        *,
        maxlen: Callable[[str], int | None],
        endpoints: VenueEndpoints | None = None,
        income: IncomeFetcher | None = None,
        ws_options: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.venue = venue
        self.redis = redis
        self.pool = pool
        self.endpoints = endpoints or VenueEndpoints.from_settings(venue)
        self.income = income
        self.ws_options = ws_options or {}
        self.publisher = StreamPublisher(
            redis, maxlen=maxlen, batch_size=config.batch_size, flush_ms=config.flush_ms
        )
        self.bar_writer = BarWriter(pool)
        self.feeds: dict[MarketKind, MarketFeed] = {}
        self.connections: dict[MarketKind, StreamConnection] = {}
        self.funding: dict[str, FundingTracker] = {}
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish market data until ``stop`` is set."""
        timeout = aiohttp.ClientTimeout(total=self.venue.timeout_ms / 1000)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            rest = MarketRest(session, self.endpoints, self.venue.api_key)
            await self._build(session, rest)
            tasks = [
                asyncio.create_task(self.publisher.run(), name="s1-publisher"),
                asyncio.create_task(self.bar_writer.run(), name="s1-bars"),
                asyncio.create_task(self._metrics_loop(), name="s1-metrics"),
                *(
                    asyncio.create_task(c.run(), name=f"s1-ws-{k}")
                    for k, c in self.connections.items()
                ),
            ]
            tasks += [
                asyncio.create_task(self._start_funding(t), name=f"s1-funding-{t.symbol}")
                for t in self.funding.values()
            ]
            self.ready.set()
            stopper = asyncio.create_task(stop.wait())
            try:
                pending = {stopper, *tasks}
                while stopper in pending:
                    done, pending = await asyncio.wait(pending, return_when="FIRST_COMPLETED")
                    for task in done:
                        if task is not stopper:
                            task.result()  # raise the background task's error
                            if not task.get_name().startswith("s1-funding-"):
                                raise RuntimeError(f"{task.get_name()} ended unexpectedly")
            finally:
                stopper.cancel()
                await self._shutdown(tasks)

    async def _start_funding(self, tracker: FundingTracker) -> None:
        try:
            await tracker.start()
        except VenueError as exc:
            log.warning("%s: funding start-up read failed: %s", tracker.symbol, exc)

    async def _build(self, session: aiohttp.ClientSession, rest: MarketRest) -> None:
        config = self.config

        async def fetch_snapshot(kind: MarketKind, symbol: str) -> DepthSnapshot:
            return await rest.depth_snapshot(kind, symbol, config.snapshot_limit)

        async def fetch_trades(kind: MarketKind, symbol: str, from_id: int) -> list[RestTrade]:
            return await _with_retries(lambda: rest.trades_from(kind, symbol, from_id))

        if "perp" in config.kinds and config.funding:
            self.funding = {
                s: FundingTracker(s, self.publisher, rest, self.pool, self.income)
                for s in config.symbols
            }
        for kind in config.kinds:
            feed = MarketFeed(
                kind,
                config,
                self.publisher,
                fetch_snapshot,
                fetch_trades,
                on_bar=self.bar_writer.put,
                funding=self.funding if kind == "perp" else None,
                last_trade_ids=await last_trade_ids(self.redis, kind, config.symbols),
            )
            self.feeds[kind] = feed
            url = self.endpoints.stream_url(kind, feed.stream_names())
            self.connections[kind] = StreamConnection(
                session, url, feed, ping_interval_s=config.ping_interval_s, **self.ws_options
            )

    async def _shutdown(self, tasks: list[asyncio.Task[Any]]) -> None:
        for tracker in self.funding.values():
            await tracker.stop()
        open_bars = []
        for feed in self.feeds.values():
            open_bars += await feed.stop()
        await cancel_and_wait(tasks)
        await self.publisher.flush()
        for bar in open_bars:
            self.bar_writer.put(bar)
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            await self.bar_writer.drain()
        log.info("S1 stopped: %d entries published", self.publisher.published)

    async def _metrics_loop(self) -> None:
        """Every ``metrics_interval_s``: ``s1.mkt_throughput`` (raw messages/s) and ``s1.ws_rtt``
        (ms) per market on ``metrics:events``, stamped with the wall clock (they measure S1)."""
        interval = self.config.metrics_interval_s
        seen = {kind: feed.messages for kind, feed in self.feeds.items()}
        started = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            elapsed, started = now - started, now
            ts_ms = time.time_ns() // 1_000_000
            for kind, feed in self.feeds.items():
                rate = (feed.messages - seen[kind]) / elapsed if elapsed > 0 else 0.0
                seen[kind] = feed.messages
                labels: dict[str, str] = {"kind": kind}
                self.publisher.add(
                    METRICS_EVENTS, MetricEvent("s1.mkt_throughput", rate, ts_ms, labels)
                )
                if feed.last_rtt_ms is not None:
                    self.publisher.add(
                        METRICS_EVENTS, MetricEvent("s1.ws_rtt", feed.last_rtt_ms, ts_ms, labels)
                    )


async def _with_retries(
    call: Callable[[], Awaitable[T]], attempts: int = 3, delay_s: float = 0.2
) -> T:
    """Await ``call()``, retrying a ``VenueError`` with a doubling delay."""
    for attempt in range(attempts):
        try:
            return await call()
        except VenueError:
            raise_if_cancelling()
            if attempt + 1 == attempts:
                raise
            await asyncio.sleep(delay_s * 2**attempt)
    raise AssertionError("unreachable")
