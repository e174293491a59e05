"""The seam through which the trading side plugs its endpoints into the venue's server."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from chimera.paper.markets import VenueKind


class TradingPlugin(Protocol):
    """Signed endpoints (orders, account, transfers) and user-data streams."""

    def add_routes(self, app: web.Application) -> None:
        """Register the signed REST routes on ``app``."""

    def owns_listen_key(self, kind: VenueKind, key: str) -> bool:
        """Tell whether ``/…/ws/<key>`` is a user-data stream this plugin issued."""

    async def serve_user_stream(self, kind: VenueKind, key: str, ws: web.WebSocketResponse) -> None:
        """Push the account's user-data events on ``ws`` until it closes."""

    async def start(self) -> None:
        """Start background work (funding settlement, state snapshots)."""

    async def stop(self) -> None:
        """Stop background work and persist the venue state."""
