"""Config bundles in PostgreSQL: store, activate, load the active one (spec §0, S10, B6).

``config_bundles`` holds every validated bundle under a ``rev`` (bigserial); the one row of
``config_active`` names the revision every service runs. Activation writes the database first
and then announces ``ConfigActivated`` on ``cfg:events``; a service reloads by re-reading
``config_active`` (``load_active``), never by trusting the event, so a lost event is repaired by
the next one or at restart.

When no revision was ever activated, ``load_active`` reads the bundle file
(``$CHIMERA_CONFIG_BUNDLE`` or ``config/bundle.yaml``) and calls it revision 0.

The ``rev`` field inside a loaded bundle is set to its database revision, so ``bundle.rev``
and the worker's ``config_rev`` always agree.
"""

from __future__ import annotations

import time
from pathlib import Path

import asyncpg
import msgspec

from chimera import names
from chimera.config.bundle import ConfigBundle, load_bundle
from chimera.domain.config import ConfigActivated
from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient
from chimera_workers.context import Resources
from chimera_workers.errors import ConfigError

FILE_REV = 0
"""The revision of the bundle file used before any revision was activated."""

_MIGRATE_HINT = "apply the migrations first: `chimera db upgrade`"
_DECODE = msgspec.json.Decoder(ConfigBundle)


class BundleRow(msgspec.Struct, frozen=True):
    """One stored bundle and whether it is the active one."""

    rev: int
    name: str
    source: str
    created_by: str
    created_at_ms: int
    active: bool
    bundle: ConfigBundle


def _with_rev(bundle: ConfigBundle, rev: int) -> ConfigBundle:
    return msgspec.structs.replace(bundle, rev=str(rev))


async def insert_bundle(
    conn: asyncpg.Pool | asyncpg.Connection,
    bundle: ConfigBundle,
    *,
    name: str,
    source: str = "",
    created_by: str = "",
) -> int:
    """Store a validated ``bundle``; return its new revision."""
    try:
        rev: int = await conn.fetchval(
            "INSERT INTO config_bundles (name, body, source, created_by)"
            " VALUES ($1, $2::jsonb, $3, $4) RETURNING rev",
            name,
            msgspec.json.encode(bundle).decode(),
            source,
            created_by,
        )
    except asyncpg.UndefinedTableError as exc:
        raise ConfigError("table config_bundles does not exist", hint=_MIGRATE_HINT) from exc
    return rev


async def _set_active(conn: asyncpg.Connection, rev: int, by: str) -> None:
    exists = await conn.fetchval("SELECT 1 FROM config_bundles WHERE rev = $1", rev)
    if exists is None:
        latest = await conn.fetchval("SELECT max(rev) FROM config_bundles")
        raise ConfigError(
            f"config revision {rev} does not exist",
            hint=f"stored revisions go up to {latest}" if latest else "load a bundle first",
        )
    await conn.execute(
        "INSERT INTO config_active (id, rev, activated_by, activated_at)"
        " VALUES (true, $1, $2, now())"
        " ON CONFLICT (id) DO UPDATE SET rev = EXCLUDED.rev,"
        " activated_by = EXCLUDED.activated_by, activated_at = EXCLUDED.activated_at",
        rev,
        by,
    )


async def announce(redis: RedisClient, rev: int, by: str) -> ConfigActivated:
    """XADD ``ConfigActivated`` to ``cfg:events`` (after the database says ``rev`` is active)."""
    event = ConfigActivated(rev=rev, by=by, ts_ms=time.time_ns() // 1_000_000)
    await redis.xadd(names.CFG_EVENTS, entry_fields(event))  # type: ignore[arg-type]
    return event


async def activate(pool: asyncpg.Pool, redis: RedisClient, rev: int, *, by: str) -> ConfigActivated:
    """Make ``rev`` the active revision, then announce it; ``ConfigError`` if it is unknown."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            await _set_active(conn, rev, by)
    except asyncpg.UndefinedTableError as exc:
        raise ConfigError("table config_active does not exist", hint=_MIGRATE_HINT) from exc
    return await announce(redis, rev, by)


async def load_and_activate(
    pool: asyncpg.Pool,
    redis: RedisClient,
    bundle: ConfigBundle,
    *,
    name: str,
    source: str,
    by: str,
) -> ConfigActivated:
    """Store ``bundle`` and make it active in one transaction, then announce it."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            rev = await insert_bundle(conn, bundle, name=name, source=source, created_by=by)
            await _set_active(conn, rev, by)
    except asyncpg.UndefinedTableError as exc:
        raise ConfigError("config tables do not exist", hint=_MIGRATE_HINT) from exc
    return await announce(redis, rev, by)


async def load_rev(conn: asyncpg.Pool | asyncpg.Connection, rev: int) -> ConfigBundle:
    """Return the stored bundle ``rev``; ``ConfigError`` if there is none."""
    body = await conn.fetchval("SELECT body::text FROM config_bundles WHERE rev = $1", rev)
    if body is None:
        raise ConfigError(f"config revision {rev} does not exist", hint="see `chimera config show`")
    return _with_rev(_decode_stored(body, rev), rev)


def _decode_stored(body: str, rev: int) -> ConfigBundle:
    try:
        return _DECODE.decode(body)
    except msgspec.ValidationError as exc:
        # Stored under an older schema that this code no longer accepts.
        raise ConfigError(
            f"stored config revision {rev} no longer validates: {exc}",
            hint="load a corrected bundle and activate it",
        ) from exc


async def load_active(
    pool: asyncpg.Pool, *, default_path: Path | str | None = None
) -> tuple[ConfigBundle, int]:
    """Return the active bundle and its revision; the bundle file as revision 0 if none is."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT b.rev, b.body::text AS body FROM config_active a"
            " JOIN config_bundles b ON b.rev = a.rev"
        )
    if row is None:
        return _with_rev(load_bundle(default_path), FILE_REV), FILE_REV
    rev = int(row["rev"])
    return _with_rev(_decode_stored(row["body"], rev), rev), rev


async def worker_loader(resources: Resources) -> tuple[ConfigBundle, int]:
    """The ``config: {loader: ...}`` of streams.yaml: the active bundle from ``resources.db``."""
    if resources.db is None:
        raise ConfigError(
            "the config loader needs PostgreSQL", hint="run the worker without --no-db"
        )
    return await load_active(resources.db)


async def list_bundles(pool: asyncpg.Pool, rev: int | None = None) -> list[BundleRow]:
    """Return stored bundles (newest first), or just ``rev``."""
    rows = await pool.fetch(
        "SELECT b.rev, b.name, b.source, b.created_by, b.body::text AS body,"
        " (extract(epoch FROM b.created_at) * 1000)::bigint AS created_at_ms,"
        " (a.rev IS NOT NULL) AS active"
        " FROM config_bundles b LEFT JOIN config_active a ON a.rev = b.rev"
        " WHERE $1::bigint IS NULL OR b.rev = $1 ORDER BY b.rev DESC",
        rev,
    )
    return [
        BundleRow(
            rev=r["rev"],
            name=r["name"],
            source=r["source"],
            created_by=r["created_by"],
            created_at_ms=r["created_at_ms"],
            active=r["active"],
            bundle=_with_rev(_decode_stored(r["body"], r["rev"]), r["rev"]),
        )
        for r in rows
    ]


__all__ = [
    "FILE_REV",
    "BundleRow",
    "activate",
    "announce",
    "insert_bundle",
    "list_bundles",
    "load_active",
    "load_and_activate",
    "load_rev",
    "worker_loader",
]
