"""A websocket connection to a combined stream that reconnects forever and measures its RTT.

``autoping`` is off so S1 sees pongs: every ``ping_interval_s`` it pings with its monotonic
clock as payload, and the echoed pong gives the round trip (``on_rtt``). A connection that
answers no ping within ``pong_timeout_s`` is presumed dead and replaced. Pings from the venue
are answered here. After a drop the client reconnects with jittered exponential backoff
(``backoff_s`` doubling to ``backoff_max_s``; reset once a connection delivered data) and calls
``on_connect(reconnect=True)`` so the owner can resync books and backfill trades.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import aiohttp

from chimera_workers.errors import raise_if_cancelling

log = logging.getLogger("chimera.s1.ws")

_PING = struct.Struct("!q")


class StreamHandler(Protocol):
    """What a connection reports to its owner."""

    async def on_connect(self, reconnect: bool) -> None: ...

    async def on_message(self, raw: str | bytes, recv_ns: int) -> None: ...

    def on_rtt(self, rtt_ms: float) -> None: ...


class StreamConnection:
    """Read one combined-stream URL into a ``StreamHandler`` until cancelled."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str | Callable[[], str],
        handler: StreamHandler,
        *,
        ping_interval_s: float = 5.0,
        pong_timeout_s: float = 15.0,
        backoff_s: float = 0.1,
        backoff_max_s: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.session = session
        self._url = url
        self.handler = handler
        self.ping_interval_s = ping_interval_s
        self.pong_timeout_s = pong_timeout_s
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self._sleep = sleep
        self.connects = 0
        self.messages = 0
        self._last_pong = 0.0
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    @property
    def url(self) -> str:
        return self._url() if callable(self._url) else self._url

    async def run(self) -> None:
        """Connect, read, and reconnect after every drop, until cancelled."""
        delay = self.backoff_s
        while True:
            received_before = self.messages
            try:
                await self._session_once()
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise_if_cancelling()
                log.warning("websocket %s: %r", self.url, exc)
            if self.messages > received_before:
                delay = self.backoff_s
            pause = delay * (0.5 + random.random())
            log.info("websocket %s closed; reconnecting in %.2fs", self.url, pause)
            await self._sleep(pause)
            delay = min(delay * 2, self.backoff_max_s)

    async def close(self) -> None:
        """Close the current connection (``run`` then reconnects unless it is cancelled)."""
        if self._ws is not None:
            await self._ws.close()

    async def _session_once(self) -> None:
        async with self.session.ws_connect(
            self.url, autoping=False, heartbeat=None, max_msg_size=0, compress=0
        ) as ws:
            self._ws = ws
            self.connects += 1
            self._last_pong = time.monotonic()
            await self.handler.on_connect(self.connects > 1)
            pinger = asyncio.create_task(self._ping_loop(ws))
            try:
                await self._read(ws)
            finally:
                pinger.cancel()
                await asyncio.gather(pinger, return_exceptions=True)
                self._ws = None

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        handler = self.handler
        while True:
            msg = await ws.receive()
            kind = msg.type
            if kind is aiohttp.WSMsgType.TEXT or kind is aiohttp.WSMsgType.BINARY:
                self.messages += 1
                await handler.on_message(msg.data, time.time_ns())
            elif kind is aiohttp.WSMsgType.PING:
                await ws.pong(msg.data)
            elif kind is aiohttp.WSMsgType.PONG:
                self._last_pong = time.monotonic()
                if len(msg.data) == _PING.size:
                    sent = _PING.unpack(msg.data)[0]
                    handler.on_rtt((time.monotonic_ns() - sent) / 1e6)
            else:  # CLOSE, CLOSING, CLOSED, ERROR
                if kind is aiohttp.WSMsgType.ERROR:
                    log.warning("websocket %s error: %r", self.url, ws.exception())
                return

    async def _ping_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            await ws.ping(_PING.pack(time.monotonic_ns()))
            await asyncio.sleep(self.ping_interval_s)
            if time.monotonic() - self._last_pong > self.pong_timeout_s:
                log.warning(
                    "websocket %s: no pong for %.0fs, reconnecting", self.url, self.pong_timeout_s
                )
                await ws.close()
                return
