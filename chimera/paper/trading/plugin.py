"""The trading side as the venue's ``TradingPlugin``: signed routes, user data, state on disk.

The venue's CLI loads ``chimera.paper.trading.plugin:make_plugin``.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from chimera.paper.faults import FaultBoard
from chimera.paper.feed import MarketState
from chimera.paper.markets import VenueKind
from chimera.paper.server import private_futures, private_spot, private_wallet
from chimera.paper.server.fault_middleware import fault_middleware
from chimera.paper.trading.config import TradingConfig
from chimera.paper.trading.latency import LatencyModel
from chimera.paper.trading.persistence import StateSaver, load_state
from chimera.paper.trading.user_streams import UserStreams
from chimera.paper.trading.venue import TradingVenue

log = logging.getLogger(__name__)


class PaperTrading:
    """The account behind the venue's signed endpoints and user-data streams."""

    def __init__(self, market: MarketState, config: TradingConfig, faults: FaultBoard) -> None:
        self.config = config
        self.faults = faults
        path = config.state_path
        state = load_state(path) if path is not None else None
        if state is None:
            state = TradingVenue.fresh_state(config.spot_balances, config.futures_wallet)
        else:
            log.info("paper venue state loaded from %s", path)
        self.saver = StateSaver(path, state, config.save_debounce_ms)
        self.streams = UserStreams(config.seed, self.saver.changed)
        self.venue = TradingVenue(state, config.markets, market, self.streams)
        self.latency = LatencyModel(config.latency_ms, config.latency_jitter_ms, config.seed)
        market.add_listener(self.venue)

    def add_routes(self, app: web.Application) -> None:
        """Register the signed REST routes and the fault middleware on ``app``."""
        app.middlewares.append(fault_middleware(self.faults))
        private_spot.add_routes(app, self)
        private_futures.add_routes(app, self)
        private_wallet.add_routes(app, self)

    def owns_listen_key(self, kind: VenueKind, key: str) -> bool:
        return self.streams.owns(kind, key)

    async def serve_user_stream(self, kind: VenueKind, key: str, ws: web.WebSocketResponse) -> None:
        await self.streams.serve(kind, ws)

    async def start(self) -> None:
        """Nothing runs in the background: fills and funding come from the market's callbacks."""

    async def stop(self) -> None:
        """Persist the venue state."""
        await self.saver.stop()


def make_plugin(market: MarketState, config: Any, faults: FaultBoard) -> PaperTrading:
    """Return the trading plugin for a venue (``config``: the venue's or a ``TradingConfig``)."""
    return PaperTrading(market, TradingConfig.from_venue(config), faults)
