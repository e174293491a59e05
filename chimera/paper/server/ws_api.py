"""Binance's spot WebSocket API (``/spot/ws-api/v3``): the user-data subscription ccxt uses.

ccxt's ``binance`` watches spot orders, trades and balances through the WebSocket API, not
listen keys: it sends ``userDataStream.subscribe.signature`` with ``apiKey``, ``timestamp``
(and ``recvWindow`` when configured) and ``signature``, the HMAC-SHA256 of the other
parameters sorted by name and joined as ``k=v&k=v``. Responses are
``{"id", "status": 200, "result"}`` or ``{"id", "status": 4xx, "error": {"code", "msg"}}``;
events arrive as ``{"subscriptionId": n, "event": {...}}``. Also answered: ``ping``, ``time``,
``userDataStream.unsubscribe`` and ``session.subscriptions``. As on Binance, one connection
holds at most one subscription per account, and a request may prefix its method with ``v3/``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, cast

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from chimera.paper.server.auth import verify_api_key, verify_signature
from chimera.paper.server.errors import (
    MANDATORY_PARAM_EMPTY_OR_MALFORMED,
    BinanceRequestError,
    mandatory_param,
)
from chimera.paper.server.keys import HUB, TRADING, WS_QUEUE_SIZE, WS_REGISTRY
from chimera.paper.server.ws_session import accept, converse

if TYPE_CHECKING:
    from chimera.paper.trading.plugin import PaperTrading

log = logging.getLogger(__name__)
PATH = "/spot/ws-api/v3"
UNSUPPORTED = -1020
INVALID_JSON = -1135
SUBSCRIPTION_ACTIVE = -2035
SUBSCRIPTION_INACTIVE = -2036
ParamValue = str | int | float | bool


class WsApiRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One request frame of Binance's WebSocket API."""

    method: str
    id: int | str | None = None
    params: dict[str, ParamValue] = msgspec.field(default_factory=dict)


_decode_request = msgspec.json.Decoder(WsApiRequest).decode
_encode = msgspec.json.Encoder().encode


def _payload_value(value: ParamValue) -> str:
    # ccxt renders booleans as true/false before signing; numbers as Python prints them.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def verify_request(params: dict[str, ParamValue], api_key: str, secret: str) -> None:
    """Check ``apiKey`` and ``signature`` the way the REST side does; raise Binance's error."""
    given_key = params.get("apiKey")
    if not isinstance(given_key, str) or not given_key:
        raise mandatory_param("apiKey")
    verify_api_key(given_key, api_key)
    signature = params.get("signature")
    if not isinstance(signature, str) or not signature:
        raise mandatory_param("signature")
    if "timestamp" not in params:
        raise mandatory_param("timestamp")
    payload = "&".join(
        f"{name}={_payload_value(value)}"
        for name, value in sorted(params.items())
        if name != "signature"
    )
    verify_signature(payload, signature, secret)


class WsApiConnection:
    """One client connection: its user-data subscriptions and its ordered outbox."""

    def __init__(
        self, ws: web.WebSocketResponse, app: web.Application, trading: PaperTrading | None
    ) -> None:
        self.ws = ws
        self.app = app
        self.trading = trading
        self._outbox: asyncio.Queue[bytes | None] = asyncio.Queue(app[WS_QUEUE_SIZE])
        self._subscriptions: dict[int, tuple[asyncio.Queue[bytes], asyncio.Task[None]]] = {}
        self._next_subscription = 0

    # --- outbox ---------------------------------------------------------------------------
    def _queue(self, frame: bytes | None) -> None:
        try:
            self._outbox.put_nowait(frame)
        except asyncio.QueueFull:  # a client this far behind is dropped, as Binance does
            log.warning("dropping a slow ws-api consumer")
            while not self._outbox.empty():
                self._outbox.get_nowait()
            self._outbox.put_nowait(None)

    def _reply(self, request_id: int | str | None, result: Any) -> None:
        self._queue(_encode({"id": request_id, "status": 200, "result": result}))

    def _fail(self, request_id: int | str | None, exc: BinanceRequestError) -> None:
        error = {"code": exc.code, "msg": exc.msg}
        self._queue(_encode({"id": request_id, "status": exc.status, "error": error}))

    async def write_loop(self) -> None:
        """Send queued frames in order until the connection closes or overflows."""
        while True:
            frame = await self._outbox.get()
            if frame is None:
                await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"slow consumer")
                return
            if self.ws.closed:
                return
            await self.ws.send_frame(frame, WSMsgType.TEXT)

    # --- requests -------------------------------------------------------------------------
    def handle(self, text: str) -> None:
        """Answer one request frame."""
        try:
            request = _decode_request(text)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._fail(None, BinanceRequestError(400, INVALID_JSON, f"Invalid JSON: {exc}"))
            return
        method = request.method.removeprefix("v3/")
        try:
            if method == "ping":
                self._reply(request.id, {})
            elif method == "time":
                self._reply(request.id, {"serverTime": self.app[HUB].clock.now_ms()})
            elif method == "userDataStream.subscribe.signature":
                self._subscribe(request)
            elif method == "userDataStream.unsubscribe":
                self._unsubscribe(request)
            elif method == "session.subscriptions":
                self._reply(request.id, [{"subscriptionId": n} for n in self._subscriptions])
            else:
                msg = f"Unsupported WebSocket API method '{request.method}'."
                raise BinanceRequestError(400, UNSUPPORTED, msg)
        except BinanceRequestError as exc:
            self._fail(request.id, exc)

    def _subscribe(self, request: WsApiRequest) -> None:
        trading = self.trading
        if trading is None:
            raise BinanceRequestError(400, UNSUPPORTED, "This venue has no trading account.")
        verify_request(request.params, trading.config.api_key, trading.config.secret)
        if self._subscriptions:  # the venue has one account; Binance allows one per connection
            msg = "User Data Stream subscription already active."
            raise BinanceRequestError(400, SUBSCRIPTION_ACTIVE, msg)
        subscription_id = self._next_subscription
        self._next_subscription += 1
        # Reply first: every event of this subscription is queued after its confirmation.
        self._reply(request.id, {"subscriptionId": subscription_id})
        events = trading.streams.attach("spot")
        forwarder = asyncio.create_task(self._forward(subscription_id, events))
        self._subscriptions[subscription_id] = (events, forwarder)

    def _unsubscribe(self, request: WsApiRequest) -> None:
        wanted = request.params.get("subscriptionId")
        if wanted is None:
            ids = list(self._subscriptions)
        elif isinstance(wanted, int) and not isinstance(wanted, bool):
            if wanted not in self._subscriptions:
                msg = "User Data Stream subscription not active."
                raise BinanceRequestError(400, SUBSCRIPTION_INACTIVE, msg)
            ids = [wanted]
        else:
            msg = "Mandatory parameter 'subscriptionId' was not sent, was empty/null, or malformed."
            raise BinanceRequestError(400, MANDATORY_PARAM_EMPTY_OR_MALFORMED, msg)
        for subscription_id in ids:
            self._end(subscription_id)
        self._reply(request.id, {})

    # --- events ---------------------------------------------------------------------------
    async def _forward(self, subscription_id: int, events: asyncio.Queue[bytes]) -> None:
        prefix = b'{"subscriptionId":' + str(subscription_id).encode() + b',"event":'
        while True:
            data = await events.get()
            if not data:  # the fan-out dropped this reader: it fell too far behind
                self._queue(None)
                return
            self._queue(prefix + data + b"}")

    def _end(self, subscription_id: int) -> None:
        entry = self._subscriptions.pop(subscription_id, None)
        if entry is None or self.trading is None:
            return
        events, forwarder = entry
        self.trading.streams.detach("spot", events)
        forwarder.cancel()

    async def close(self) -> None:
        """End every subscription (the socket is gone)."""
        forwarders = [forwarder for _, forwarder in self._subscriptions.values()]
        for subscription_id in list(self._subscriptions):
            self._end(subscription_id)
        await asyncio.gather(*forwarders, return_exceptions=True)


async def serve(request: web.Request) -> web.StreamResponse:
    """Serve one WebSocket API connection."""
    app = request.app
    registry = app[WS_REGISTRY]
    ws, admitted = await accept(request, registry, PATH)
    if not admitted:
        return ws
    conn = WsApiConnection(ws, app, cast("PaperTrading | None", app.get(TRADING)))
    try:
        await converse(ws, conn)
    finally:
        registry.remove(ws)
        if not ws.closed:
            await ws.close()
    return ws


def add_routes(app: web.Application) -> None:
    """Register the spot WebSocket API path."""
    app.router.add_get(PATH, serve)
