"""Build the ccxt exchange objects every service trades through, live or paper.

Paper and live run the same code: the paper venue speaks Binance's protocol, so the services get
ccxt's own ``binance`` (spot) and ``binanceusdm`` (USDⓈ-M perpetuals) classes with their ``urls``
pointed at it. Request signing, parsing and error mapping are ccxt's in both modes.
"""

from __future__ import annotations

from typing import Any

import ccxt.pro as ccxtpro

from chimera.names import MarketKind
from chimera.venues.settings import VenueSettings

Exchange = Any  # ccxt ships no type information; the services treat it as an opaque object.

# ccxt's REST base-URL keys and the path each has on Binance (and on the paper venue).
_REST_PATHS = {
    "public": "/api/v3",
    "private": "/api/v3",
    "v1": "/api/v1",
    "sapi": "/sapi/v1",
    "sapiV2": "/sapi/v2",
    "sapiV3": "/sapi/v3",
    "sapiV4": "/sapi/v4",
    "fapiPublic": "/fapi/v1",
    "fapiPublicV2": "/fapi/v2",
    "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1",
    "fapiPrivateV2": "/fapi/v2",
    "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data",
}

# The paper venue serves spot and futures on one port; websockets are told apart by path, where
# Binance tells them apart by host (stream.binance.com vs fstream.binance.com).
PAPER_WS_PATHS = {"spot": "/spot/ws", "linear": "/fapi/ws"}
PAPER_STREAM_PATHS = {"spot": "/spot/stream", "linear": "/fapi/stream"}
# ccxt watches spot orders, trades and balances over the WebSocket API, not listen keys.
PAPER_WS_API_PATHS = {"spot": "/spot/ws-api/v3"}


def paper_urls(base_url: str, template: dict[str, Any]) -> dict[str, Any]:
    """Return ccxt's ``urls['api']`` with every Binance host replaced by the paper venue's."""
    base = base_url.rstrip("/")
    ws_base = "ws" + base[len("http") :] if base.startswith("http") else base
    api = dict(template)
    for key, path in _REST_PATHS.items():
        api[key] = base + path
    ws = dict(api.get("ws", {}))
    ws["spot"] = ws["margin"] = ws_base + PAPER_WS_PATHS["spot"]
    ws["linear"] = ws_base + PAPER_WS_PATHS["linear"]
    ws["ws-api"] = dict(ws.get("ws-api", {}), spot=ws_base + PAPER_WS_API_PATHS["spot"])
    api["ws"] = ws
    return api


def make_exchange(kind: MarketKind, settings: VenueSettings) -> Exchange:
    """Return a ccxt.pro exchange for the spot or perpetual market, live or paper."""
    cls = ccxtpro.binance if kind == "spot" else ccxtpro.binanceusdm
    config: dict[str, Any] = {
        "apiKey": settings.api_key,
        "secret": settings.secret,
        "enableRateLimit": settings.mode == "live",
        "timeout": settings.timeout_ms,
        "options": {
            "defaultType": "spot" if kind == "spot" else "swap",
            "fetchMarkets": {"types": ["spot"] if kind == "spot" else ["linear"]},
            # The paper venue has no margin/currency config endpoints worth calling at start-up.
            "fetchCurrencies": settings.mode == "live",
        },
    }
    exchange = cls(config)
    if settings.mode == "paper":
        exchange.urls["api"] = paper_urls(settings.paper_url, exchange.urls["api"])
        _map_errors_by_path(exchange, settings.paper_url.rstrip("/"))
    return exchange


def _map_errors_by_path(exchange: Exchange, base_url: str) -> None:
    # ccxt picks Binance's spot or linear exception table by host name (fapi.binance.com...),
    # which a paper URL lacks; route by path instead so a futures-only code such as -2022
    # raises the same ccxt class on paper as it does live.
    original = exchange.get_exceptions_by_url

    def by_path(url: str | None, exact_or_broad: str) -> Any:
        if url and url.startswith(base_url):
            kind = "linear" if "/fapi/" in url else "spot"
            table = exchange.safe_dict(exchange.exceptions, kind, {})
            return exchange.safe_dict(table, exact_or_broad, {})
        return original(url, exact_or_broad)

    exchange.get_exceptions_by_url = by_path
