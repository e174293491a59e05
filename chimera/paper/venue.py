"""Assemble and run one paper venue: clock, market source, hub, trading plugin and server."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from typing import cast

from chimera.paper.clock import VenueTimer, make_clock
from chimera.paper.faults import FaultBoard
from chimera.paper.market.capture import replay_source
from chimera.paper.market.events import SourceItem
from chimera.paper.market.hub import MarketHub
from chimera.paper.market.synthetic import SyntheticMarket
from chimera.paper.server.app import AppRunner, build_app
from chimera.paper.server.plugin import TradingPlugin
from chimera.paper.settings import PaperVenueConfig

log = logging.getLogger(__name__)

# make_plugin(hub, config, faults) -> TradingPlugin, as chimera.paper.trading.plugin provides it.
PluginFactory = Callable[[MarketHub, PaperVenueConfig, FaultBoard], TradingPlugin]


def default_plugin_factory() -> PluginFactory | None:
    """Return the trading side's ``make_plugin`` if it is installed, else None."""
    try:
        from chimera.paper.trading.plugin import make_plugin
    except ImportError as exc:
        log.info("trading plugin unavailable (%s); serving market data only", exc)
        return None
    return cast(PluginFactory, make_plugin)


def build_market(config: PaperVenueConfig) -> tuple[MarketHub, Iterator[SourceItem]]:
    """Return the hub and the source of events that will drive it."""
    markets = config.markets()
    if config.replay:
        source = iter(replay_source(config.data_files))
        first = next(source, None)
        if first is None:
            raise ValueError("the capture files hold no messages")
        clock: VenueTimer = make_clock(first.ts_ms, config.speed)
        hub = MarketHub(markets, clock, mode="replay")
        return hub, itertools.chain([first], source)
    start = config.start_epoch_ms or int(time.time() * 1000) - config.warmup_ms
    synthetic = SyntheticMarket(markets, config.seed, start)
    clock = make_clock(start + config.warmup_ms, config.speed)
    hub = MarketHub(markets, clock, mode="synthetic", funding_history=synthetic.funding_history())
    return hub, synthetic.events()


class PaperVenue:
    """One running venue; ``start`` returns once it serves, ``stop`` releases everything."""

    def __init__(
        self, config: PaperVenueConfig, plugin_factory: PluginFactory | None = None
    ) -> None:
        self.config = config
        self.faults = FaultBoard()
        self.hub, self._source = build_market(config)
        self.plugin = plugin_factory(self.hub, config, self.faults) if plugin_factory else None
        app = build_app(self.hub, self.plugin, self.faults, ws_queue_size=config.ws_queue_size)
        self.runner = AppRunner(app, config.host, config.port)
        self._driver: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        return self.runner.base_url

    async def start(self) -> None:
        """Warm the market up to venue time now, start the plugin and the server."""
        if self.plugin is not None:
            await self.plugin.start()
        self._driver = asyncio.create_task(self.hub.run(self._source), name="paper-market")
        await self._warmed_up()
        await self.runner.start()

    async def _warmed_up(self) -> None:
        # The synthetic market's history (warm-up) is applied before clients can connect.
        if self.config.replay or self.config.speed == 0:
            return
        target = self.hub.clock.now_ms()
        while self._driver is not None and not self._driver.done():
            if self.hub.caught_up or self.hub.last_event_ms >= target:
                return
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop serving, the market driver and the plugin (which persists its state)."""
        await self.runner.stop()
        if self._driver is not None:
            self._driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._driver
        if self.plugin is not None:
            await self.plugin.stop()
