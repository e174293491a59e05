"""Binance USDⓈ-M public REST (``/fapi/v1/...``) as ccxt's ``binanceusdm`` class calls it."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chimera.paper.market.events import fmt
from chimera.paper.market.hub import MarketHub
from chimera.paper.server import market_views as views
from chimera.paper.server.exchange_info import futures_exchange_info
from chimera.paper.server.keys import HUB
from chimera.paper.server.query import int_param, limit_param, optional_symbol

INTEREST_RATE = "0.00010000"


async def exchange_info(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    return views.json_response(futures_exchange_info(hub.specs("perp"), hub.clock.now_ms()))


def _premium(hub: MarketHub, symbol: str) -> dict[str, Any]:
    mark = hub.mark_price(symbol)
    index = hub.book("spot", symbol).mid() if hub.has("spot", symbol) else None
    return {
        "symbol": symbol,
        "markPrice": fmt(mark),
        "indexPrice": fmt(index if index is not None else mark),
        "estimatedSettlePrice": fmt(mark),
        "lastFundingRate": fmt(hub.funding_rate(symbol)),
        "interestRate": INTEREST_RATE,
        "nextFundingTime": hub.next_funding_time_ms(symbol),
        "time": hub.clock.now_ms(),
    }


async def premium_index(request: web.Request) -> web.Response:
    """Answer ``/premiumIndex``: mark, index and current funding rate."""
    hub = request.app[HUB]
    symbol = optional_symbol(request, hub, "perp")
    if symbol is not None:
        return views.json_response(_premium(hub, symbol))
    return views.json_response([_premium(hub, s.symbol) for s in hub.specs("perp")])


async def funding_rate(request: web.Request) -> web.Response:
    """Answer ``/fundingRate``: settled funding, oldest first."""
    hub = request.app[HUB]
    symbol = optional_symbol(request, hub, "perp")
    limit = limit_param(request, 100, 1000)
    start, end = int_param(request, "startTime"), int_param(request, "endTime")
    symbols = [symbol] if symbol else [s.symbol for s in hub.specs("perp")]
    rows: list[dict[str, Any]] = []
    for sym in symbols:
        for f in hub.funding_history(sym):
            if start is not None and f.funding_time_ms < start:
                continue
            if end is not None and f.funding_time_ms > end:
                continue
            rows.append(
                {
                    "symbol": sym,
                    "fundingRate": fmt(f.rate),
                    "fundingTime": f.funding_time_ms,
                    "markPrice": fmt(f.mark_price),
                }
            )
    rows.sort(key=lambda r: r["fundingTime"])
    rows = rows[:limit] if start is not None else rows[-limit:]
    return views.json_response(rows)


async def funding_info(request: web.Request) -> web.Response:
    """Answer ``/fundingInfo``: 8-hourly funding with Binance's default caps."""
    hub = request.app[HUB]
    return views.json_response(
        [
            {
                "symbol": s.symbol,
                "adjustedFundingRateCap": "0.02000000",
                "adjustedFundingRateFloor": "-0.02000000",
                "fundingIntervalHours": 8,
                "disclaimer": False,
            }
            for s in hub.specs("perp")
        ]
    )


def add_routes(app: web.Application) -> None:
    """Register the USDⓈ-M public endpoints."""
    get = app.router.add_get
    get("/fapi/v1/ping", views.ping)
    get("/fapi/v1/time", views.server_time)
    get("/fapi/v1/exchangeInfo", exchange_info)
    get("/fapi/v1/depth", views.handler(views.depth, "perp"))
    get("/fapi/v1/trades", views.handler(views.trades, "perp"))
    get("/fapi/v1/historicalTrades", views.handler(views.trades, "perp"))
    get("/fapi/v1/aggTrades", views.handler(views.agg_trades, "perp"))
    get("/fapi/v1/klines", views.handler(views.klines, "perp"))
    get("/fapi/v1/ticker/24hr", views.handler(views.ticker_24hr, "perp"))
    get("/fapi/v1/ticker/price", views.handler(views.ticker_price, "perp"))
    get("/fapi/v2/ticker/price", views.handler(views.ticker_price, "perp"))
    get("/fapi/v1/ticker/bookTicker", views.handler(views.ticker_book, "perp"))
    get("/fapi/v1/premiumIndex", premium_index)
    get("/fapi/v1/fundingRate", funding_rate)
    get("/fapi/v1/fundingInfo", funding_info)
