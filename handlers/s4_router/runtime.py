"""What one S4 process keeps between intents: its ccxt exchanges and its latency window.

Exchanges are created lazily (FUT → ccxt ``binanceusdm``, SPOT → ``binance``, from
``VenueSettings``), their markets loaded once, and closed when the runtime exits. Workers get the
runtime through the topology's ``resources:`` hook (``router_runtime``, name ``s4_router``); the
API mount enters one in its lifespan.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from chimera import names
from chimera.domain.metrics import MetricEvent
from chimera.domain.orders import Market
from chimera.venues.ccxt_factory import Exchange, make_exchange
from chimera.venues.settings import VenueSettings
from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient
from chimera_workers.errors import ConfigError

RESOURCE_NAME = "s4_router"
ROUTER_P95 = "s4.router_p95"
MAKER_TIMEOUT_COUNT = "s4.maker_timeout_count"
_WINDOW = 512


def now_ms() -> int:
    """Return the local wall clock in epoch milliseconds (S4's own timestamps)."""
    return time.time_ns() // 1_000_000


class VenuePool:
    """One ccxt exchange per market kind, created on first use and closed with the pool."""

    def __init__(self, settings: VenueSettings) -> None:
        self.settings = settings
        self._exchanges: dict[Market, Exchange] = {}
        self._lock = asyncio.Lock()

    async def exchange(self, market: Market) -> Exchange:
        """Return the exchange trading ``market`` with its markets loaded."""
        exchange = self._exchanges.get(market)
        if exchange is not None:
            return exchange
        async with self._lock:
            exchange = self._exchanges.get(market)
            if exchange is None:
                exchange = make_exchange("perp" if market == "FUT" else "spot", self.settings)
                try:
                    await exchange.load_markets()
                except BaseException:
                    await exchange.close()
                    raise
                self._exchanges[market] = exchange
        return exchange

    async def close(self) -> None:
        """Close every exchange created so far."""
        exchanges, self._exchanges = list(self._exchanges.values()), {}
        for exchange in exchanges:
            await exchange.close()


def ccxt_symbol(exchange: Exchange, market: Market, venue_symbol: str) -> str:
    """Return ccxt's symbol for a venue symbol (``BTCUSDT`` → ``BTC/USDT`` or ``…:USDT``)."""
    for candidate in exchange.markets_by_id.get(venue_symbol) or ():
        if (market == "FUT") == bool(candidate.get("swap")):
            return str(candidate["symbol"])
    raise ValueError(f"{venue_symbol!r} is not a {market} symbol on {exchange.id}")


class RouterMetrics:
    """Routing latencies of this process and how often to publish their 95th percentile."""

    def __init__(self) -> None:
        self.latencies_ms: deque[float] = deque(maxlen=_WINDOW)
        self.maker_timeouts = 0
        self._last_published_ms = 0

    def p95(self) -> float:
        """Return the 95th percentile of the recent routing latencies (nearest rank)."""
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, max(0, -(-95 * len(ordered) // 100) - 1))]

    async def observe(self, redis: RedisClient, latency_ms: float, interval_ms: int) -> None:
        """Record one routing latency; publish ``s4.router_p95`` if ``interval_ms`` passed."""
        self.latencies_ms.append(latency_ms)
        now = now_ms()
        if now - self._last_published_ms >= interval_ms:
            self._last_published_ms = now
            await _publish(redis, MetricEvent(ROUTER_P95, self.p95(), now))

    async def maker_timeout(self, redis: RedisClient, symbol: str) -> None:
        """Count one maker order that timed out and was taken; publish an increment of 1."""
        self.maker_timeouts += 1
        event = MetricEvent(MAKER_TIMEOUT_COUNT, 1.0, now_ms(), {"symbol": symbol})
        await _publish(redis, event)


async def _publish(redis: RedisClient, event: MetricEvent) -> None:
    await redis.xadd(names.METRICS_EVENTS, entry_fields(event))  # type: ignore[arg-type]


class RouterRuntime:
    """A process's venues and metrics."""

    def __init__(self, venues: VenuePool) -> None:
        self.venues = venues
        self.metrics = RouterMetrics()

    async def close(self) -> None:
        """Close the venues."""
        await self.venues.close()


@asynccontextmanager
async def router_runtime(environ: Mapping[str, str]) -> AsyncIterator[RouterRuntime]:
    """The ``resources:`` factory: a runtime on ``VenueSettings.from_env(environ)``."""
    runtime = RouterRuntime(VenuePool(VenueSettings.from_env(dict(environ))))
    try:
        yield runtime
    finally:
        await runtime.close()


def runtime_of(extra: Mapping[str, object]) -> RouterRuntime:
    """Return the worker's entered runtime, or a ConfigError saying how to declare it."""
    runtime = extra.get(RESOURCE_NAME)
    if not isinstance(runtime, RouterRuntime):
        raise ConfigError(
            f"S4 needs the {RESOURCE_NAME!r} resource in this worker",
            hint=f"declare `- {{name: {RESOURCE_NAME}, factory: "
            "handlers.s4_router.runtime:router_runtime}` under resources: in streams.yaml",
        )
    return runtime


__all__ = [
    "MAKER_TIMEOUT_COUNT",
    "RESOURCE_NAME",
    "ROUTER_P95",
    "RouterMetrics",
    "RouterRuntime",
    "VenuePool",
    "ccxt_symbol",
    "now_ms",
    "router_runtime",
    "runtime_of",
]
