"""Generic HTTP building blocks for the services (Litestar + msgspec); no trading knowledge.

``build_app`` assembles an ASGI app from route handlers, opens Redis and PostgreSQL for its
lifetime, maps errors to JSON, serves the OpenAPI document at ``/schema/openapi.json``;
``service_token_guard`` protects internal endpoints.
"""

from chimera.http.app import DbDep, Mount, RedisDep, build_app
from chimera.http.auth import SERVICE_TOKEN_ENV, resolve_service_token, service_token_guard
from chimera.http.errors import (
    BadRequest,
    Conflict,
    ErrorBody,
    HttpError,
    ServiceBusy,
    Unprocessable,
)

__all__ = [
    "SERVICE_TOKEN_ENV",
    "BadRequest",
    "Conflict",
    "DbDep",
    "ErrorBody",
    "HttpError",
    "Mount",
    "RedisDep",
    "ServiceBusy",
    "Unprocessable",
    "build_app",
    "resolve_service_token",
    "service_token_guard",
]
