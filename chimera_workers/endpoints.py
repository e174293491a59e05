"""Where Redis and PostgreSQL are: the ``CHIMERA_*_URL`` settings, else the embedded servers."""

from __future__ import annotations

import msgspec

from chimera_workers.settings import Settings


class Endpoints(msgspec.Struct, frozen=True):
    """The Redis and PostgreSQL URLs one process talks to."""

    redis_url: str
    database_url: str


def resolve_redis_url(settings: Settings, *, start: bool = True) -> str:
    """Return ``settings.redis_url``, else the embedded Redis (started if ``start``).

    Raise ``ServerUnavailable`` when the embedded server is down and ``start`` is false.
    """
    if settings.redis_url:
        return settings.redis_url
    # Imported here: only the embedded path needs it, and it imports this module.
    from chimera_workers.embedded import embedded_redis_url

    return embedded_redis_url(settings, start=start)


def resolve_database_url(settings: Settings, *, start: bool = True) -> str:
    """Return ``settings.database_url``, else the embedded PostgreSQL (started if ``start``).

    Raise ``ServerUnavailable`` when the embedded server is down and ``start`` is false.
    """
    if settings.database_url:
        return settings.database_url
    from chimera_workers.embedded import embedded_database_url

    return embedded_database_url(settings, start=start)


def resolve_endpoints(settings: Settings, *, start: bool = True) -> Endpoints:
    """Resolve both URLs: configured ones win, the rest come from the embedded servers.

    With ``start`` false a stopped embedded server raises ``ServerUnavailable`` whose hint says
    to run ``chimera services up``.
    """
    return Endpoints(
        redis_url=resolve_redis_url(settings, start=start),
        database_url=resolve_database_url(settings, start=start),
    )
