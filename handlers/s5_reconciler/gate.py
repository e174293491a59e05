"""The start-up gate: after any worker start, no new entries until a reconcile pass succeeds.

Every worker enters the ``startup_gate`` resource at start; entering it raises
``recon:{last_run_ts}:required_since`` to the start time (never lowers it). Only a fully
successful reconcile run of scope ALL writes ``recon:{last_run_ts}`` (its start time), so the
gate is open exactly when ``recon:{last_run_ts} >= required_since``: a pass that *started* after
the latest worker start. No ``required_since`` (no worker declares the resource) is open. Both
keys share the hash tag ``{last_run_ts}``, so one MGET reads them on a Cluster.

S3's L0 skips an entry with reason ``RECONCILE_GATE`` while the gate is closed; S6's add-ons
respect it too. Times are the processes' wall clocks (they are assumed NTP-synchronised).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import msgspec

from chimera import names
from chimera.domain.signals import RECONCILE_GATE
from chimera_workers.connections import RedisClient, open_redis
from chimera_workers.endpoints import resolve_redis_url
from chimera_workers.scripts import run_script
from chimera_workers.settings import Settings
from handlers.s4_router.runtime import now_ms

log = logging.getLogger(__name__)

RECON_REQUIRED_SINCE = names.RECON_REQUIRED_SINCE
RESOURCE_NAME = "s5_startup_gate"


class StartupGate(msgspec.Struct, frozen=True):
    """What entering the resource did: the gate requires a reconcile started after ``since``."""

    since: int


def stamp_ms(raw: bytes | str | None) -> int | None:
    """Return a stored millisecond stamp, or None when it is missing or unreadable."""
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def gate_open(last_run: bytes | str | None, required_since: bytes | str | None) -> bool:
    """Interpret the two keys: open iff nothing is required or the last pass is recent enough.

    An unreadable value closes the gate (fail closed).
    """
    if required_since is None:
        return True
    required, last = stamp_ms(required_since), stamp_ms(last_run)
    return required is not None and last is not None and last >= required


async def entries_allowed(redis: RedisClient) -> bool:
    """Tell whether new entries are allowed (the last ALL reconcile followed the last start)."""
    last, required = await redis.mget(names.RECON_LAST_RUN_TS, RECON_REQUIRED_SINCE)
    return gate_open(last, required)


async def require_reconcile(redis: RedisClient, since_ms: int) -> int:
    """Close the gate until a reconcile pass started at or after ``since_ms``; return the stamp."""
    # Raised, never lowered: a slower start must not reopen a gate a later one closed.
    stamp = await run_script(redis, "raise_to", [RECON_REQUIRED_SINCE], [str(since_ms)])
    return int(stamp)


@asynccontextmanager
async def startup_gate(environ: Mapping[str, str]) -> AsyncIterator[StartupGate]:
    """The ``resources:`` factory: close the entry gate as this worker starts.

    Redis is the worker's own (``CHIMERA_REDIS_URL``, else the running embedded server); a
    Redis that cannot be reached stops the worker from starting (fail closed).
    """
    url = resolve_redis_url(Settings.from_env(dict(environ)), start=False)
    redis = await open_redis(url)
    try:
        since = await require_reconcile(redis, now_ms())
    finally:
        await redis.aclose()
    log.info("entry gate closed until a reconcile pass started after %d", since)
    yield StartupGate(since)


__all__ = [
    "RECONCILE_GATE",
    "RECON_REQUIRED_SINCE",
    "RESOURCE_NAME",
    "StartupGate",
    "entries_allowed",
    "gate_open",
    "require_reconcile",
    "stamp_ms",
    "startup_gate",
]
