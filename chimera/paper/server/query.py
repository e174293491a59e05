"""Read Binance query parameters, answering bad ones with Binance's own error codes."""

from __future__ import annotations

from aiohttp import web

from chimera.paper.market.hub import MarketHub
from chimera.paper.markets import VenueKind
from chimera.paper.server.errors import (
    INVALID_LIMIT,
    BinanceRequestError,
    illegal_param,
    invalid_symbol,
    mandatory_param,
)


def symbol_param(request: web.Request, hub: MarketHub, kind: VenueKind) -> str:
    """Return the mandatory ``symbol`` if the venue lists it on the ``kind`` market."""
    symbol = request.query.get("symbol")
    if not symbol:
        raise mandatory_param("symbol")
    if not hub.has(kind, symbol):
        raise invalid_symbol()
    return symbol


def optional_symbol(request: web.Request, hub: MarketHub, kind: VenueKind) -> str | None:
    """Return ``symbol`` if given (and listed), else None."""
    if "symbol" not in request.query:
        return None
    return symbol_param(request, hub, kind)


def int_param(request: web.Request, name: str) -> int | None:
    """Return an optional integer parameter."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise illegal_param(name, "it must be an integer") from None


def limit_param(request: web.Request, default: int, maximum: int) -> int:
    """Return ``limit``: ``default`` when absent, capped at ``maximum``, an error when < 1."""
    limit = int_param(request, "limit")
    if limit is None:
        return default
    if limit < 1:
        raise BinanceRequestError(400, INVALID_LIMIT, "Invalid limit.")
    return min(limit, maximum)
