"""Binance's error responses: ``{"code": -1121, "msg": "Invalid symbol."}`` with its HTTP status."""

from __future__ import annotations

import msgspec
from aiohttp import web

# Binance's codes the venue answers with, and the HTTP status Binance pairs them with.
UNKNOWN = -1000
DISCONNECTED = -1001
TOO_MANY_REQUESTS = -1003
ILLEGAL_CHARS = -1100
TOO_MANY_PARAMETERS = -1101
MANDATORY_PARAM_EMPTY_OR_MALFORMED = -1102
UNKNOWN_PARAM = -1104
PARAM_EMPTY = -1105
INVALID_INTERVAL = -1120
INVALID_SYMBOL = -1121
INVALID_LIMIT = -1130


class BinanceError(msgspec.Struct, frozen=True):
    """The JSON body of a Binance error."""

    code: int
    msg: str


_encoder = msgspec.json.Encoder()


def binance_error(status: int, code: int, msg: str) -> web.Response:
    """Return Binance's error body ``{"code": code, "msg": msg}`` with HTTP ``status``."""
    return web.Response(
        status=status,
        body=_encoder.encode(BinanceError(code=code, msg=msg)),
        content_type="application/json",
    )


class BinanceRequestError(Exception):
    """Raised by a handler to answer with a Binance error; the app's middleware renders it."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg

    def response(self) -> web.Response:
        """Return the Binance error response this exception stands for."""
        return binance_error(self.status, self.code, self.msg)


def invalid_symbol() -> BinanceRequestError:
    """Return Binance's answer to an unknown ``symbol``."""
    return BinanceRequestError(400, INVALID_SYMBOL, "Invalid symbol.")


def mandatory_param(name: str) -> BinanceRequestError:
    """Return Binance's answer to a missing mandatory parameter."""
    return BinanceRequestError(
        400,
        MANDATORY_PARAM_EMPTY_OR_MALFORMED,
        f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
    )


def illegal_param(name: str, why: str) -> BinanceRequestError:
    """Return Binance's answer to a parameter with an illegal value."""
    return BinanceRequestError(
        400, ILLEGAL_CHARS, f"Illegal characters found in parameter '{name}'; {why}."
    )
