"""Fault injection on the venue's REST endpoints, per the armed ``FaultBoard`` rules.

- ``timeout_before_accept``: the request is not executed; the connection is held silent until
  the client gives up (its timeout), then dropped -> ccxt ``RequestTimeout``.
- ``timeout_after_accept``: the request IS executed, then the answer is withheld the same way ->
  ``RequestTimeout`` although the order exists (the case a client must reconcile).
- ``http_5xx``: 503 "Service Unavailable.", not executed -> ``ExchangeNotAvailable``.
- ``http_429``: 429 with Binance's -1003 body, not executed -> ``DDoSProtection``
  (ccxt's class for Binance 418/429, a ``RateLimitExceeded`` sibling under ``NetworkError``).
- ``reject``: the rule's Binance code/msg/status, not executed (e.g. -2010 insufficient balance
  -> ``InsufficientFunds``).
- ``latency``: the rule's extra delay, then normal handling.
The ``/_paper`` control endpoints and websocket upgrades (``ws_drop`` is the registry's) are
never faulted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from chimera.paper.faults import FaultBoard
from chimera.paper.server.errors import BinanceRequestError, binance_error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HTTP_KINDS = (
    "timeout_after_accept",
    "timeout_before_accept",
    "http_5xx",
    "http_429",
    "reject",
    "latency",
)
# The longest a faulted connection is held before the venue drops it itself.
MAX_HOLD_S = 120.0
_POLL_S = 0.02


async def hold_then_drop(request: web.Request, max_s: float = MAX_HOLD_S) -> None:
    """Say nothing until the client closes the connection (or ``max_s``), then drop it."""
    transport = request.transport
    waited = 0.0
    while transport is not None and not transport.is_closing() and waited < max_s:
        await asyncio.sleep(_POLL_S)
        waited += _POLL_S
    if transport is not None and not transport.is_closing():
        transport.close()


def fault_middleware(faults: FaultBoard) -> Middleware:
    """Return the aiohttp middleware applying ``faults`` to REST requests."""

    @web.middleware
    async def apply_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_paper") or request.headers.get("Upgrade", "").lower() == "websocket":
            return await handler(request)
        rule = faults.take(HTTP_KINDS, request.method, path)  # type: ignore[arg-type]
        if rule is None:
            return await handler(request)
        if rule.kind == "latency":
            await asyncio.sleep(rule.latency_ms / 1000.0)
            return await handler(request)
        if rule.kind == "http_5xx":
            return web.Response(status=503, text="Service Unavailable.")
        if rule.kind == "http_429":
            return binance_error(
                429, -1003, "Too many requests; current limit is 6000 request weight per 1 MINUTE."
            )
        if rule.kind == "reject":
            return binance_error(rule.status, rule.code, rule.msg)
        if rule.kind == "timeout_after_accept":
            try:
                response = await handler(request)
            except BinanceRequestError as exc:
                response = exc.response()
            await hold_then_drop(request)
            return response
        await hold_then_drop(request)  # timeout_before_accept
        return web.Response(status=504)

    return apply_faults
