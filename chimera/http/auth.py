"""The service token internal endpoints require (full RBAC arrives with S12's gateway).

A caller sends ``Authorization: Bearer <token>`` or ``X-Service-Token: <token>``; the app's token
comes from ``$CHIMERA_SERVICE_TOKEN``. Comparison is constant-time.
"""

from __future__ import annotations

import hmac
import logging
import os
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from chimera_workers.errors import ConfigError

SERVICE_TOKEN_ENV = "CHIMERA_SERVICE_TOKEN"
# Used only when a developer explicitly asks for it (``chimera api serve --dev``).
DEV_SERVICE_TOKEN = "chimera-dev-service-token"
MIN_TOKEN_LENGTH = 16

log = logging.getLogger("chimera.http")


def check_service_token(token: str) -> str:
    """Return ``token`` if it is usable; raise ``ConfigError`` for an empty or short one."""
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"the service token must be at least {MIN_TOKEN_LENGTH} characters",
            hint=f"set ${SERVICE_TOKEN_ENV} to a long random string, e.g. `openssl rand -hex 32`",
        )
    return token


def resolve_service_token(environ: dict[str, str] | None = None, *, dev: bool = False) -> str:
    """Return ``$CHIMERA_SERVICE_TOKEN``; without it refuse, unless ``dev`` allows the dev token."""
    env = os.environ if environ is None else environ
    token = env.get(SERVICE_TOKEN_ENV, "")
    if token:
        return check_service_token(token)
    if dev:
        log.warning("no $%s: using the well-known development token", SERVICE_TOKEN_ENV)
        return DEV_SERVICE_TOKEN
    raise ConfigError(
        f"${SERVICE_TOKEN_ENV} is not set; internal endpoints need a service token",
        hint=f"set ${SERVICE_TOKEN_ENV}, or pass --dev to use the well-known development token",
    )


def presented_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """Return the token a request carries in ``Authorization: Bearer`` or ``X-Service-Token``."""
    auth = connection.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return connection.headers.get("x-service-token")


def service_token_guard(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Refuse (401) a request that does not carry the app's service token."""
    expected: str = connection.app.state.service_token
    token = presented_token(connection)
    if token is None:
        raise NotAuthorizedException("missing service token (Authorization: Bearer <token>)")
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise NotAuthorizedException("invalid service token")


__all__ = [
    "DEV_SERVICE_TOKEN",
    "SERVICE_TOKEN_ENV",
    "check_service_token",
    "presented_token",
    "resolve_service_token",
    "service_token_guard",
]
