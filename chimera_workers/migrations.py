"""Versioned SQL migrations: ``NNNN_description.sql`` files applied once each, in order.

Every file runs in its own transaction and is recorded in ``chimera_schema_migrations`` with a
checksum; a session advisory lock serializes concurrent upgraders (several workers starting at
once apply each file exactly once). Editing an applied file is refused, never silently re-run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Literal

import asyncpg
import msgspec

from chimera_workers.connections import open_db_pool
from chimera_workers.errors import ConfigError, ServerUnavailable

TABLE = "chimera_schema_migrations"
# Advisory locks are scoped per database, so this key only serializes upgraders of one database.
_LOCK_KEY = 0x4348_494D_4552_41  # "CHIMERA"
_NAME = re.compile(r"(?P<version>\d{4})_(?P<name>[A-Za-z0-9][A-Za-z0-9_-]*)\.sql")
_CREATE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    version    integer PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


class Migration(msgspec.Struct, frozen=True):
    """One migration file: its version, description, checksum and SQL."""

    version: int
    name: str
    path: Path
    checksum: str
    sql: str


class MigrationStatus(msgspec.Struct, frozen=True):
    """A migration as ``chimera db status`` reports it.

    ``changed`` means the file was edited after it was applied; ``unknown`` means the database
    records a version that has no file in the directory.
    """

    version: int
    name: str
    state: Literal["applied", "pending", "changed", "unknown"]
    applied_at: datetime | None = None


def discover(directory: Path | str) -> list[Migration]:
    """Read the migration files in ``directory``, ordered by version.

    Raise ``ConfigError`` naming the file for a bad name, a duplicate or a missing version.
    Files that neither end in ``.sql`` nor start with a digit (README, .gitkeep) are ignored.
    """
    root = Path(directory)
    if not root.is_dir():
        raise ConfigError(
            f"migrations directory {root} does not exist",
            hint="create it, or pass the right directory with --dir",
        )
    found: dict[int, Migration] = {}
    for path in sorted(p for p in root.iterdir() if p.is_file()):
        if not (path.suffix == ".sql" or path.name[:1].isdigit()):
            continue
        match = _NAME.fullmatch(path.name)
        if match is None:
            raise ConfigError(
                f"bad migration file name {path}",
                hint="name migrations NNNN_description.sql, e.g. 0002_add_orders.sql",
            )
        version = int(match["version"])
        if version in found:
            raise ConfigError(
                f"migration {path} reuses version {version:04d} of {found[version].path.name}",
                hint="give each file its own number",
            )
        # Line endings are normalized so a CRLF checkout does not look like an edit.
        data = path.read_bytes().replace(b"\r\n", b"\n")
        try:
            sql = data.decode()
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"migration {path} is not UTF-8 text: {exc}", hint="save the file as UTF-8"
            ) from exc
        checksum = hashlib.sha256(data).hexdigest()
        found[version] = Migration(version, match["name"], path, checksum, sql)
    migrations = [found[v] for v in sorted(found)]
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise ConfigError(
                f"migration {migration.path} skips version {expected:04d}",
                hint="number migrations 0001, 0002, ... without gaps",
            )
    return migrations


async def upgrade(pool_or_url: asyncpg.Pool | str, directory: Path | str) -> list[Migration]:
    """Apply the pending migrations in ``directory``; return those this call applied.

    Raise ``ConfigError`` if an applied file changed or a migration fails (nothing of a failed
    file stays applied), and ``ServerUnavailable`` if PostgreSQL cannot be reached.
    """
    migrations = discover(directory)
    async with _connection(pool_or_url) as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            return await _upgrade_locked(conn, migrations)
        finally:
            # A lost connection has released the lock already.
            if not conn.is_closed():
                await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def status(pool_or_url: asyncpg.Pool | str, directory: Path | str) -> list[MigrationStatus]:
    """Compare ``directory`` with the database: applied, pending, changed or unknown per version."""
    migrations = discover(directory)
    async with _connection(pool_or_url) as conn:
        rows: list[asyncpg.Record] = []
        if await conn.fetchval("SELECT to_regclass($1)", TABLE) is not None:
            rows = await conn.fetch(f"SELECT version, name, checksum, applied_at FROM {TABLE}")
    recorded = {r["version"]: r for r in rows}
    report: list[MigrationStatus] = []
    for m in migrations:
        row = recorded.pop(m.version, None)
        if row is None:
            report.append(MigrationStatus(m.version, m.name, "pending"))
        else:
            state: Literal["applied", "changed"] = (
                "applied" if row["checksum"] == m.checksum else "changed"
            )
            report.append(MigrationStatus(m.version, m.name, state, row["applied_at"]))
    report += [
        MigrationStatus(v, r["name"], "unknown", r["applied_at"]) for v, r in recorded.items()
    ]
    return sorted(report, key=lambda s: s.version)


async def _upgrade_locked(conn: asyncpg.Connection, migrations: list[Migration]) -> list[Migration]:
    await conn.execute(_CREATE)
    rows = await conn.fetch(f"SELECT version, checksum FROM {TABLE}")
    applied: dict[int, str] = {r["version"]: r["checksum"] for r in rows}
    for migration in migrations:
        if applied.get(migration.version, migration.checksum) != migration.checksum:
            raise ConfigError(
                f"migration {migration.path} was edited after it was applied",
                hint="restore the applied file and put the change in a new migration",
            )
    pending = [m for m in migrations if m.version not in applied]
    for migration in pending:
        await _apply(conn, migration)
    return pending


async def _apply(conn: asyncpg.Connection, migration: Migration) -> None:
    try:
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                f"INSERT INTO {TABLE} (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
    except asyncpg.PostgresConnectionError:
        raise
    except asyncpg.PostgresError as exc:
        raise ConfigError(
            f"migration {migration.path} failed: {exc}",
            hint="fix the file; its transaction was rolled back",
        ) from exc


@asynccontextmanager
async def _connection(pool_or_url: asyncpg.Pool | str) -> AsyncIterator[asyncpg.Connection]:
    # A URL gets a private one-connection pool; open_db_pool names the URL if it is unreachable.
    own = isinstance(pool_or_url, str)
    pool: asyncpg.Pool = await open_db_pool(pool_or_url, max_size=1) if own else pool_or_url
    try:
        async with pool.acquire() as conn:
            yield conn
    except (OSError, asyncpg.PostgresConnectionError) as exc:
        raise ServerUnavailable(
            f"lost the connection to PostgreSQL: {exc}",
            hint="check that the server is running, then retry",
        ) from exc
    finally:
        if own:
            await pool.close()
