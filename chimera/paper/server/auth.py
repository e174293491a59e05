"""Binance's request signing, checked: ``X-MBX-APIKEY`` and HMAC-SHA256 of the parameters.

ccxt signs ``urlencode(params + timestamp [+ recvWindow])`` with the secret and appends
``signature=<hex>``; GET/DELETE carry it in the query string, POST/PUT in the form body. As on
Binance, the signed payload is the query string followed by the body, without the signature.
``timestamp`` must be present; it is not compared with the clock (the venue's clock may be a
replay's), so ``recvWindow`` is accepted and ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from aiohttp import web

from chimera.paper.server.errors import BinanceRequestError
from chimera.paper.trading.errors import TradingError
from chimera.paper.trading.requests import Params

SignedHandler = Callable[[Params], Any]
HANDLING_HEADER = "X-Chimera-Handling-Us"

_encoder = msgspec.json.Encoder(decimal_format="string")


def _api_key_error(missing: bool) -> BinanceRequestError:
    if missing:
        return BinanceRequestError(401, -2014, "API-key format invalid.")
    return BinanceRequestError(401, -2015, "Invalid API-key, IP, or permissions for action.")


def verify_api_key(given: str, api_key: str) -> None:
    """Refuse a missing or wrong API key with Binance's error."""
    if not given:
        raise _api_key_error(missing=True)
    if not hmac.compare_digest(given, api_key):
        raise _api_key_error(missing=False)


def verify_signature(payload: str, signature: str, secret: str) -> None:
    """Refuse ``signature`` unless it is the HMAC-SHA256 of ``payload`` under ``secret``."""
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise BinanceRequestError(400, -1022, "Signature for this request is not valid.")


def check_api_key(request: web.Request, api_key: str) -> None:
    """Refuse a request without the venue's API key."""
    verify_api_key(request.headers.get("X-MBX-APIKEY", ""), api_key)


async def signed_params(request: web.Request, api_key: str, secret: str) -> dict[str, str]:
    """Return the request's parameters once key and signature check out."""
    check_api_key(request, api_key)
    query = request.rel_url.raw_query_string
    body = ""
    if request.method in ("POST", "PUT") and request.can_read_body:
        body = (await request.read()).decode("utf-8", errors="replace")
    signature = ""
    payload_parts: list[str] = []
    for part in (query, body):
        if not part:
            continue
        kept = []
        for item in part.split("&"):
            if item.startswith("signature="):
                signature = item[len("signature=") :]
            else:
                kept.append(item)
        if kept:
            payload_parts.append("&".join(kept))
    if not signature:
        raise BinanceRequestError(
            400,
            -1102,
            "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
        )
    verify_signature("".join(payload_parts), signature, secret)
    params = dict(parse_qsl(query, keep_blank_values=True))
    params.update(parse_qsl(body, keep_blank_values=True))
    params.pop("signature", None)
    if not params.get("timestamp"):
        raise BinanceRequestError(
            400,
            -1102,
            "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
        )
    return params


def json_response(body: Any, started_ns: int | None = None) -> web.Response:
    response = web.Response(body=_encoder.encode(body), content_type="application/json")
    if started_ns is not None:
        response.headers[HANDLING_HEADER] = str((time.perf_counter_ns() - started_ns) // 1000)
    return response


def signed(
    api_key: str,
    secret: str,
    handler: SignedHandler,
    before: Callable[[], Awaitable[None]] | None = None,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a handler of verified ``Params``: engine errors become Binance error bodies.

    ``before`` runs after verification and before the handler (the ack-latency model).
    The response carries the venue's own handling time in ``X-Chimera-Handling-Us``.
    """

    async def endpoint(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter_ns()
        raw = await signed_params(request, api_key, secret)
        if before is not None:
            await before()
            started = time.perf_counter_ns()
        try:
            result = handler(Params(raw))
        except TradingError as exc:
            raise BinanceRequestError(exc.status, exc.code, exc.msg) from None
        return json_response(result, started)

    return endpoint
