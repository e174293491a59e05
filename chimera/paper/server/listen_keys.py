"""Binance's listen-key endpoint: issue (POST), keep alive (PUT) and close (DELETE) a key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from chimera.paper.markets import VenueKind
from chimera.paper.server.auth import check_api_key, json_response
from chimera.paper.server.errors import BinanceRequestError

if TYPE_CHECKING:
    from chimera.paper.trading.plugin import PaperTrading

METHODS = ("POST", "PUT", "DELETE")


def listen_key_handler(
    trading: PaperTrading, api_key: str, kind: VenueKind, *, named: bool
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Return the handler of ``kind``'s listen key for the venue's ``METHODS``.

    With ``named`` (spot) PUT and DELETE act on the ``listenKey`` the request names; without
    (USDⓈ-M, whose API takes no key there) on the account's one key of ``kind``.
    """

    async def listen_key(request: web.Request) -> web.StreamResponse:
        check_api_key(request, api_key)
        streams = trading.streams
        if request.method == "POST":
            return json_response({"listenKey": streams.issue(kind)})
        key: str | None = None
        if named:
            form = dict(await request.post()) if request.can_read_body else {}
            key = str(form.get("listenKey") or request.query.get("listenKey") or "") or None
        ok = (streams.keep_alive if request.method == "PUT" else streams.close)(kind, key)
        if not ok:
            raise BinanceRequestError(400, -1125, "This listenKey does not exist.")
        return json_response({})

    return listen_key
