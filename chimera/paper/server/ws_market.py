"""Binance's market websockets: raw ``/ws/<stream>`` and combined ``/stream?streams=a/b``.

Spot lives under ``/spot``, USDⓈ-M under ``/fapi`` (ccxt also rewrites the futures base to
``/fapi/public/ws``, ``/fapi/market/ws`` and ``/fapi/private/ws?listenKey=``). Streams come from
the path, the ``streams`` query, or live ``SUBSCRIBE``/``UNSUBSCRIBE``/``LIST_SUBSCRIPTIONS``
requests. A path tail (or ``listenKey``) the trading plugin issued is its user-data stream.
Each connection has a bounded outbox: a consumer that falls that far behind is dropped, as
Binance drops slow clients, so it never stalls the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from chimera.paper.market.hub import MarketHub
from chimera.paper.market.streams import StreamSpec, parse_stream
from chimera.paper.markets import VenueKind
from chimera.paper.server.keys import HUB, TRADING, WS_QUEUE_SIZE, WS_REGISTRY
from chimera.paper.server.plugin import TradingPlugin
from chimera.paper.server.ws_session import accept, converse

log = logging.getLogger(__name__)
MAX_STREAMS = 1024  # Binance's limit per connection
_encode = msgspec.json.Encoder().encode


class WsRequest(msgspec.Struct, frozen=True):
    """A client request on a market stream connection."""

    method: str
    params: list[Any] | None = None
    id: int | str | None = None


_decode_request = msgspec.json.Decoder(WsRequest).decode


class MarketConnection:
    """One client's stream subscriptions and outbox (implements the hub's ``StreamSink``)."""

    def __init__(
        self, ws: web.WebSocketResponse, hub: MarketHub, kind: VenueKind, combined: bool, size: int
    ) -> None:
        self.ws = ws
        self.hub = hub
        self.kind = kind
        self.combined = combined
        self.streams: dict[str, StreamSpec] = {}
        self.overflowed = False
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=size)
        self._symbols = hub.symbols(kind)

    def push(self, stream: str, data: bytes) -> None:
        """Queue one stream message; on overflow drop the connection instead of waiting."""
        if self.overflowed:
            return
        frame = (
            b'{"stream":"' + stream.encode() + b'","data":' + data + b"}" if self.combined else data
        )
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.overflowed = True
            self.hub.unsubscribe_all(self)
            log.warning("dropping a slow websocket consumer (%d queued)", self._queue.qsize())
            # Discard the backlog; the writer closes the socket when it reaches the marker.
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(None)

    def reply(self, body: Any) -> None:
        """Queue a response to a request, in order with the stream messages."""
        if self.overflowed:
            return
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(_encode(body))

    def parse(self, names: list[Any]) -> list[StreamSpec] | str:
        """Return the specs of ``names``, or the first name the venue does not serve."""
        specs = []
        for name in names:
            spec = parse_stream(self.kind, name, self._symbols) if isinstance(name, str) else None
            if spec is None:
                return str(name)
            specs.append(spec)
        return specs

    def subscribe(self, specs: list[StreamSpec]) -> None:
        for spec in specs:
            if spec.name not in self.streams and len(self.streams) < MAX_STREAMS:
                self.streams[spec.name] = spec
                self.hub.subscribe(self.kind, spec, self)

    def unsubscribe(self, specs: list[StreamSpec]) -> None:
        for spec in specs:
            if self.streams.pop(spec.name, None) is not None:
                self.hub.unsubscribe(self.kind, spec, self)

    async def write_loop(self) -> None:
        """Send queued frames until the connection closes or overflows."""
        ws = self.ws
        while True:
            frame = await self._queue.get()
            if frame is None:
                await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"slow consumer")
                return
            if ws.closed:
                return
            await ws.send_frame(frame, WSMsgType.TEXT)

    async def close(self) -> None:
        """Stop every stream (the socket is gone)."""
        self.hub.unsubscribe_all(self)

    def handle(self, text: str) -> None:
        """Answer one client request."""
        try:
            request = _decode_request(text)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.reply({"error": {"code": 3, "msg": f"Invalid JSON: {exc}"}, "id": None})
            return
        method = request.method.upper()
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            specs = self.parse(request.params or [])
            if isinstance(specs, str):
                msg = f"Invalid request: unknown stream '{specs}'"
                self.reply({"error": {"code": 2, "msg": msg}, "id": request.id})
                return
            self.reply({"result": None, "id": request.id})
            if method == "SUBSCRIBE":
                self.subscribe(specs)
            else:
                self.unsubscribe(specs)
        elif method == "LIST_SUBSCRIPTIONS":
            self.reply({"result": list(self.streams), "id": request.id})
        elif method == "SET_PROPERTY":
            self.reply({"result": None, "id": request.id})
        elif method == "GET_PROPERTY":
            self.reply({"result": False, "id": request.id})
        else:
            msg = f"Invalid request: unknown method '{request.method}'"
            self.reply({"error": {"code": 2, "msg": msg}, "id": request.id})


def _kind_of(path: str) -> VenueKind:
    return "spot" if path.startswith("/spot/") else "perp"


async def serve(request: web.Request) -> web.StreamResponse:
    """Serve one websocket: a market stream connection or a plugin's user-data stream."""
    app = request.app
    path = request.path
    kind = _kind_of(path)
    tail = request.match_info.get("tail", "")
    combined = "/stream" in path
    registry = app[WS_REGISTRY]
    trading: TradingPlugin | None = app.get(TRADING)
    listen_key = request.query.get("listenKey") or tail
    ws, admitted = await accept(request, registry, path)
    if not admitted:
        return ws
    try:
        if trading is not None and listen_key and trading.owns_listen_key(kind, listen_key):
            await trading.serve_user_stream(kind, listen_key, ws)
            return ws
        await _serve_market(ws, request, app[HUB], kind, combined, tail, app[WS_QUEUE_SIZE])
    finally:
        registry.remove(ws)
        if not ws.closed:
            await ws.close()
    return ws


async def _serve_market(
    ws: web.WebSocketResponse,
    request: web.Request,
    hub: MarketHub,
    kind: VenueKind,
    combined: bool,
    tail: str,
    queue_size: int,
) -> None:
    conn = MarketConnection(ws, hub, kind, combined, queue_size)
    names = [n for n in tail.split("/") if n]
    names += [n for n in request.query.get("streams", "").split("/") if n]
    # Path segments that are not streams (ccxt appends a stream index such as "/0") are ignored.
    for name in names:
        specs = conn.parse([name])
        if not isinstance(specs, str):
            conn.subscribe(specs)
    await converse(ws, conn)


def add_routes(app: web.Application) -> None:
    """Register the market websocket paths (spot and USDⓈ-M)."""
    for base in ("/spot", "/fapi", "/fapi/public", "/fapi/market", "/fapi/private"):
        for leaf in ("ws", "stream"):
            app.router.add_get(f"{base}/{leaf}", serve)
            app.router.add_get(f"{base}/{leaf}/{{tail:.*}}", serve)
