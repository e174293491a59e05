"""Binance spot public REST (``/api/v3/...``) as ccxt's ``binance`` class calls it."""

from __future__ import annotations

from aiohttp import web

from chimera.paper.server import market_views as views
from chimera.paper.server.exchange_info import spot_exchange_info
from chimera.paper.server.keys import HUB


async def exchange_info(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    return views.json_response(spot_exchange_info(hub.specs("spot"), hub.clock.now_ms()))


async def system_status(request: web.Request) -> web.Response:
    return views.json_response({"status": 0, "msg": "normal"})


async def no_margin_pairs(request: web.Request) -> web.Response:
    """Answer the margin pair lists ccxt reads while loading markets: the venue has none."""
    return views.json_response([])


def add_routes(app: web.Application) -> None:
    """Register the spot public endpoints."""
    get = app.router.add_get
    get("/api/v3/ping", views.ping)
    get("/api/v3/time", views.server_time)
    get("/api/v3/exchangeInfo", exchange_info)
    get("/sapi/v1/system/status", system_status)
    get("/sapi/v1/margin/allPairs", no_margin_pairs)
    get("/sapi/v1/margin/isolated/allPairs", no_margin_pairs)
    get("/api/v3/depth", views.handler(views.depth, "spot"))
    get("/api/v3/trades", views.handler(views.trades, "spot"))
    get("/api/v3/historicalTrades", views.handler(views.trades, "spot"))
    get("/api/v3/aggTrades", views.handler(views.agg_trades, "spot"))
    get("/api/v3/klines", views.handler(views.klines, "spot"))
    get("/api/v3/uiKlines", views.handler(views.klines, "spot"))
    get("/api/v3/ticker/24hr", views.handler(views.ticker_24hr, "spot"))
    get("/api/v3/ticker/price", views.handler(views.ticker_price, "spot"))
    get("/api/v3/ticker/bookTicker", views.handler(views.ticker_book, "spot"))
