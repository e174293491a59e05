"""``chimera config load|activate|show``: config bundles in PostgreSQL (spec S10, B6).

Redis and PostgreSQL come from ``CHIMERA_REDIS_URL`` / ``CHIMERA_DATABASE_URL`` or the embedded
servers. A bad file prints one located line per problem, exits 2 and writes nothing.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import msgspec
import typer

from chimera.config import store
from chimera.config.bundle_file import BundleFileError, read_bundle_file
from chimera_workers.cli.common import EXIT_USER_ERROR, run, user_errors
from chimera_workers.connections import open_db_pool, open_redis
from chimera_workers.endpoints import resolve_database_url, resolve_redis_url
from chimera_workers.settings import Settings

app = typer.Typer(help="Load, activate and show config bundles.", no_args_is_help=True)

BY = typer.Option("--by", help="Who does this (recorded; default: the OS user).")


def _actor(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@app.command()
@user_errors
def load(
    file: Annotated[Path, typer.Argument(help="Bundle YAML file.", show_default=False)],
    activate: Annotated[
        bool, typer.Option("--activate", help="Also make it the active revision.")
    ] = False,
    by: Annotated[str | None, BY] = None,
    name: Annotated[str | None, typer.Option(help="Bundle name (default: file name).")] = None,
) -> None:
    """Validate FILE and store it as a new revision (optionally activate it)."""
    try:
        bundle = read_bundle_file(file)
    except BundleFileError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(EXIT_USER_ERROR) from None
    actor, label = _actor(by), name or file.name
    settings = Settings.from_env()
    database_url = resolve_database_url(settings)
    redis_url = resolve_redis_url(settings) if activate else None

    async def go() -> str:
        pool = await open_db_pool(database_url, max_size=2)
        try:
            if redis_url is None:
                rev = await store.insert_bundle(
                    pool, bundle, name=label, source=str(file), created_by=actor
                )
                return f"stored config rev {rev} ({label})"
            redis = await open_redis(redis_url)
            try:
                event = await store.load_and_activate(
                    pool, redis, bundle, name=label, source=str(file), by=actor
                )
            finally:
                await redis.aclose()
            return f"stored and activated config rev {event.rev} ({label})"
        finally:
            await pool.close()

    typer.echo(run(go()))


@app.command()
@user_errors
def activate(
    rev: Annotated[int, typer.Argument(help="Stored revision to activate.", min=1)],
    by: Annotated[str | None, BY] = None,
) -> None:
    """Make REV the active revision and announce it on cfg:events."""
    settings = Settings.from_env()
    database_url, redis_url = resolve_database_url(settings), resolve_redis_url(settings)

    async def go() -> None:
        pool = await open_db_pool(database_url, max_size=2)
        redis = await open_redis(redis_url)
        try:
            await store.activate(pool, redis, rev, by=_actor(by))
        finally:
            await redis.aclose()
            await pool.close()

    run(go())
    typer.echo(f"activated config rev {rev}")


@app.command()
@user_errors
def show(
    rev: Annotated[
        int | None, typer.Option("--rev", help="Show this revision (default: the active one).")
    ] = None,
    list_all: Annotated[bool, typer.Option("--list", help="List every stored revision.")] = False,
) -> None:
    """Print the active bundle (or --rev N) as YAML, or --list the stored revisions."""
    database_url = resolve_database_url(Settings.from_env())

    async def go() -> str:
        pool = await open_db_pool(database_url, max_size=2)
        try:
            if list_all:
                return "\n".join(_summary(r) for r in await store.list_bundles(pool)) or (
                    "no config bundles stored"
                )
            if rev is not None:
                bundle, shown = await store.load_rev(pool, rev), rev
            else:
                bundle, shown = await store.load_active(pool)
            header = f"# config rev {shown}" + (
                " (the bundle file; nothing activated yet)" if shown == store.FILE_REV else ""
            )
            return f"{header}\n{msgspec.yaml.encode(bundle).decode().rstrip()}"
        finally:
            await pool.close()

    typer.echo(run(go()))


def _summary(row: store.BundleRow) -> str:
    when = datetime.fromtimestamp(row.created_at_ms / 1000, tz=UTC).isoformat(timespec="seconds")
    mark = "*" if row.active else " "
    return f"{mark} rev {row.rev}  {row.name}  by {row.created_by or '-'}  at {when}  {row.source}"
