"""User-data streams: listen keys, and fan-out of the engine's events to their websockets.

Also the engine's ``EventSink``: every event marks the state changed (debounced save).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from chimera.paper.markets import VenueKind

_encoder = msgspec.json.Encoder(decimal_format="string")
_CLOSED = b""


class UserStreams:
    """Listen keys per venue kind and the queues of the websockets reading them."""

    def __init__(self, seed: int, on_change: Callable[[], None], queue_size: int = 10_000) -> None:
        self._seed = seed
        self._on_change = on_change
        self._queue_size = queue_size
        self._keys: dict[str, VenueKind] = {}
        self._issued = 0
        self._queues: dict[VenueKind, set[asyncio.Queue[bytes]]] = {"spot": set(), "perp": set()}
        self.sockets: set[web.WebSocketResponse] = set()

    # --- EventSink ----------------------------------------------------------------------------
    def emit(self, kind: VenueKind, event: dict[str, Any]) -> None:
        self._on_change()
        queues = self._queues[kind]
        if not queues:
            return
        data = _encoder.encode(event)
        for queue in list(queues):
            try:
                queue.put_nowait(data)
            except asyncio.QueueFull:  # a reader this far behind is dropped, as Binance does
                queues.discard(queue)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(_CLOSED)

    # --- listen keys --------------------------------------------------------------------------
    def issue(self, kind: VenueKind) -> str:
        """Return the kind's active listen key, creating one (Binance hands back the same one)."""
        for key, owner in self._keys.items():
            if owner == kind:
                return key
        self._issued += 1
        key = hashlib.sha256(f"{self._seed}:{kind}:{self._issued}".encode()).hexdigest()[:60]
        self._keys[key] = kind
        return key

    def keep_alive(self, kind: VenueKind, key: str | None) -> bool:
        if key is None:
            return any(owner == kind for owner in self._keys.values())
        return self._keys.get(key) == kind

    def close(self, kind: VenueKind, key: str | None) -> bool:
        if key is None:
            key = next((k for k, owner in self._keys.items() if owner == kind), None)
        if key is None or self._keys.get(key) != kind:
            return False
        del self._keys[key]
        return True

    def owns(self, kind: VenueKind, key: str) -> bool:
        return self._keys.get(key) == kind

    # --- subscribers -------------------------------------------------------------------------
    def attach(self, kind: VenueKind) -> asyncio.Queue[bytes]:
        """Return a new queue of the kind's encoded events; ``b""`` in it means overflowed."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(self._queue_size)
        self._queues[kind].add(queue)
        return queue

    def detach(self, kind: VenueKind, queue: asyncio.Queue[bytes]) -> None:
        """Stop feeding ``queue``."""
        self._queues[kind].discard(queue)

    # --- websockets ---------------------------------------------------------------------------
    async def serve(self, kind: VenueKind, ws: web.WebSocketResponse) -> None:
        """Push the kind's events on ``ws`` until either side closes it."""
        queue = self.attach(kind)
        self.sockets.add(ws)
        reader = asyncio.create_task(self._read_until_closed(ws, queue))
        try:
            while True:
                data = await queue.get()
                if data == _CLOSED or ws.closed:
                    break
                await ws.send_str(data.decode())
        finally:
            self.detach(kind, queue)
            self.sockets.discard(ws)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await ws.close()

    @staticmethod
    async def _read_until_closed(ws: web.WebSocketResponse, queue: asyncio.Queue[bytes]) -> None:
        async for msg in ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(_CLOSED)

    async def drop_all(self) -> int:
        """Close every user-data websocket (fault injection: ``ws_drop``)."""
        victims = list(self.sockets)
        for ws in victims:
            await ws.close()
        return len(victims)
