"""One websocket's life on the venue: admission past ``ws_drop`` faults, then its read loop."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from aiohttp import WSCloseCode, WSMsgType, web

from chimera.paper.server.ws_registry import WsRegistry


class Conversation(Protocol):
    """A connection's request handling and outbox, as ``converse`` drives it."""

    async def write_loop(self) -> None: ...

    def handle(self, text: str) -> None: ...

    async def close(self) -> None: ...


async def accept(
    request: web.Request, registry: WsRegistry, path: str
) -> tuple[web.WebSocketResponse, bool]:
    """Upgrade ``request``; return the socket and whether it was admitted (and registered).

    A socket an armed ``ws_drop`` rule refuses is closed at once, as Binance drops a connection.
    """
    ws = web.WebSocketResponse(compress=False, timeout=2.0)
    await ws.prepare(request)
    if registry.refuse(path):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"dropped")
        return ws, False
    registry.add(ws, path)
    return ws, True


async def converse(ws: web.WebSocketResponse, conn: Conversation) -> None:
    """Feed the client's text frames to ``conn`` while its writer runs; stop both when it leaves."""
    writer = asyncio.create_task(conn.write_loop())
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                conn.handle(msg.data)
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
        await conn.close()
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await writer
