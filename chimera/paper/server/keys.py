"""Typed keys under which the venue's app holds its shared objects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from chimera.paper.faults import FaultBoard
from chimera.paper.market.hub import MarketHub
from chimera.paper.server.plugin import TradingPlugin

if TYPE_CHECKING:
    from chimera.paper.server.ws_registry import WsRegistry

HUB = web.AppKey("chimera_paper_hub", MarketHub)
FAULTS = web.AppKey("chimera_paper_faults", FaultBoard)
WS_REGISTRY: web.AppKey[WsRegistry] = web.AppKey("chimera_paper_ws_registry")
TRADING: web.AppKey[TradingPlugin] = web.AppKey("chimera_paper_trading")
WS_QUEUE_SIZE = web.AppKey("chimera_paper_ws_queue_size", int)
