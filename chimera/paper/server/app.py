"""The venue's aiohttp application and a runner that serves it on host:port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from chimera.paper.faults import FaultBoard
from chimera.paper.market.hub import MarketHub
from chimera.paper.server import control, public_futures, public_spot, ws_api, ws_market
from chimera.paper.server.errors import UNKNOWN, BinanceRequestError, binance_error
from chimera.paper.server.keys import FAULTS, HUB, TRADING, WS_QUEUE_SIZE, WS_REGISTRY
from chimera.paper.server.plugin import TradingPlugin
from chimera.paper.server.ws_registry import WsRegistry

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SWEEP_INTERVAL_S = 0.1


@web.middleware
async def binance_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render ``BinanceRequestError`` and unexpected failures as Binance error bodies."""
    try:
        return await handler(request)
    except BinanceRequestError as exc:
        return exc.response()
    except web.HTTPNotFound:
        return binance_error(404, UNKNOWN, f"Unknown path {request.path}")
    except web.HTTPMethodNotAllowed:
        return binance_error(405, UNKNOWN, f"Method {request.method} not allowed here")
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unexpected error serving %s %s", request.method, request.path)
        return binance_error(
            500, UNKNOWN, "An unknown error occurred while processing the request."
        )


async def _ws_fault_sweeper(app: web.Application) -> AsyncIterator[None]:
    """Apply ``ws_drop`` rules armed in-process (not through ``/_paper/faults``) too."""
    registry = app[WS_REGISTRY]

    async def sweep() -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            await registry.sweep()

    task = asyncio.create_task(sweep())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_websockets(app: web.Application) -> None:
    await app[WS_REGISTRY].drop_all()


def build_app(
    hub: MarketHub,
    trading: TradingPlugin | None,
    faults: FaultBoard,
    *,
    ws_queue_size: int = 20_000,
) -> web.Application:
    """Return the venue's app: public REST, market websockets, ``/_paper`` control, plugin."""
    app = web.Application(middlewares=[binance_errors])
    app[HUB] = hub
    app[FAULTS] = faults
    app[WS_REGISTRY] = WsRegistry(faults)
    app[WS_QUEUE_SIZE] = ws_queue_size
    if trading is not None:
        app[TRADING] = trading
    public_spot.add_routes(app)
    public_futures.add_routes(app)
    ws_market.add_routes(app)
    ws_api.add_routes(app)
    control.add_routes(app)
    if trading is not None:
        trading.add_routes(app)
    app.cleanup_ctx.append(_ws_fault_sweeper)
    app.on_shutdown.append(_close_websockets)
    return app


class AppRunner:
    """Serve an app on ``host:port`` (port 0: a free port, reported by ``port``)."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        self.host = host
        self._requested_port = port
        self.port = port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Bind and start serving."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Close websockets, stop serving and release the port."""
        await self._runner.cleanup()
