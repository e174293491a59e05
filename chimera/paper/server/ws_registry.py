"""Every open websocket of the venue, so faults and ``/_paper/ws/drop`` can close them."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSCloseCode, web

from chimera.paper.faults import FaultBoard

log = logging.getLogger(__name__)


class WsRegistry:
    """Open websockets by path; closes those a ``ws_drop`` rule matches."""

    def __init__(self, faults: FaultBoard) -> None:
        self._faults = faults
        self._open: dict[web.WebSocketResponse, str] = {}
        self.dropped = 0

    def add(self, ws: web.WebSocketResponse, path: str) -> None:
        self._open[ws] = path

    def remove(self, ws: web.WebSocketResponse) -> None:
        self._open.pop(ws, None)

    def __len__(self) -> int:
        return len(self._open)

    def refuse(self, path: str) -> bool:
        """Tell whether a new connection on ``path`` is to be dropped (and consume the rule)."""
        return self._faults.take(("ws_drop",), "GET", path) is not None

    async def sweep(self) -> int:
        """Close the open connections armed ``ws_drop`` rules match; return how many."""
        victims = [
            ws
            for ws, path in list(self._open.items())
            if self._faults.take(("ws_drop",), "GET", path) is not None
        ]
        await self._close(victims)
        return len(victims)

    async def drop_all(self) -> int:
        """Close every open connection now; return how many."""
        victims = list(self._open)
        await self._close(victims)
        return len(victims)

    async def _close(self, victims: list[web.WebSocketResponse]) -> None:
        for ws in victims:
            self._open.pop(ws, None)
        self.dropped += len(victims)
        if victims:
            log.info("dropping %d websocket connection(s)", len(victims))
            await asyncio.gather(
                *(ws.close(code=WSCloseCode.GOING_AWAY, message=b"dropped") for ws in victims),
                return_exceptions=True,
            )
