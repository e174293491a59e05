"""Errors as JSON: a bad body names the field, a ChimeraError says what to do, the rest is 500.

Every error response is an ``ErrorBody``. Request-validation failures carry msgspec's own
message with its path (``Expected `str`, got `int` - at `$.amount```) in ``detail``; nothing has
been written when they are raised, because bodies are decoded before a handler runs.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from chimera_workers.errors import ChimeraError, ConfigError, PayloadError, ServerUnavailable

log = logging.getLogger("chimera.http")


class ErrorBody(msgspec.Struct, frozen=True, omit_defaults=True):
    """The JSON body of every error response."""

    status: int
    error: str
    hint: str | None = None
    detail: tuple[str, ...] = ()


class HttpError(ChimeraError):
    """A ChimeraError that knows its HTTP status; raise a subclass from a handler or service."""

    status_code = 400

    def headers(self) -> dict[str, str]:
        """Return extra response headers (e.g. ``Retry-After``)."""
        return {}


class BadRequest(HttpError):
    """The request is malformed or self-contradictory (400)."""

    status_code = 400


class Conflict(HttpError):
    """The request contradicts stored state, e.g. a reused idempotency key (409)."""

    status_code = 409


class Unprocessable(HttpError):
    """The request is well-formed but refused by policy (422)."""

    status_code = 422


class ServiceBusy(HttpError):
    """The request cannot be served right now; the same request may be retried (503)."""

    status_code = 503

    def __init__(self, message: str, *, hint: str | None = None, retry_after_s: int = 1) -> None:
        super().__init__(message, hint=hint)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


def _status_of(exc: ChimeraError) -> int:
    if isinstance(exc, HttpError):
        return exc.status_code
    if isinstance(exc, ServerUnavailable):
        return 503
    if isinstance(exc, PayloadError):
        return 400
    if isinstance(exc, ConfigError):
        return 500  # the server is misconfigured; its message is written for the operator
    return 400


def _response(body: ErrorBody, headers: dict[str, str] | None = None) -> Response[ErrorBody]:
    return Response(content=body, status_code=body.status, headers=headers)


def _field_message(item: dict[str, Any]) -> str:
    message = str(item.get("message", "invalid value"))
    key = item.get("key")
    if not key or item.get("source") not in (None, "body"):
        return message if not key else f"{message} - at {item.get('source')} `{key}`"
    return f"{message} - at `$.{key}`"


def validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[ErrorBody]:
    """Render a body/parameter validation failure: 400 with one line per bad field."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    detail = tuple(_field_message(e) for e in extra if isinstance(e, dict)) or (str(exc.detail),)
    return _response(ErrorBody(400, "invalid request", detail=detail))


def http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    """Render Litestar's own HTTP errors (404, 405, 401, bad JSON ...) as an ``ErrorBody``."""
    headers = dict(exc.headers or {})
    if isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", "Bearer")
    return _response(ErrorBody(exc.status_code, str(exc.detail)), headers)


def chimera_error(_: Request[Any, Any, Any], exc: ChimeraError) -> Response[ErrorBody]:
    """Render a deliberate Chimera error with its message and hint."""
    headers = exc.headers() if isinstance(exc, HttpError) else None
    return _response(ErrorBody(_status_of(exc), exc.message, hint=exc.hint), headers)


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    """Log an unexpected failure with its traceback and answer 500 without internals."""
    log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return _response(ErrorBody(HTTP_500_INTERNAL_SERVER_ERROR, "internal error"))


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ValidationException: validation_error,
    HTTPException: http_exception,
    ChimeraError: chimera_error,
    Exception: unexpected_error,
}

__all__ = [
    "EXCEPTION_HANDLERS",
    "BadRequest",
    "Conflict",
    "ErrorBody",
    "HttpError",
    "ServiceBusy",
    "Unprocessable",
]
