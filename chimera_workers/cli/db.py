"""``chimera db upgrade|status``: the versioned SQL migrations of the configured database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chimera_workers.cli.common import run, user_errors
from chimera_workers.endpoints import resolve_database_url
from chimera_workers.migrations import status as migration_status
from chimera_workers.migrations import upgrade as apply_migrations
from chimera_workers.settings import Settings

app = typer.Typer(
    help="Apply and inspect the NNNN_description.sql migrations of $CHIMERA_DATABASE_URL "
    "(default: the embedded PostgreSQL).",
    no_args_is_help=True,
)

DIR_OPTION = typer.Option("--dir", help="Directory of NNNN_description.sql files.")


@app.command()
@user_errors
def upgrade(directory: Annotated[Path, DIR_OPTION] = Path("migrations")) -> None:
    """Apply the pending migrations in order, each in its own transaction."""
    url = resolve_database_url(Settings.from_env())
    applied = run(apply_migrations(url, directory))
    for migration in applied:
        typer.echo(f"applied {migration.path.name}")
    typer.echo(f"{len(applied)} migration(s) applied" if applied else "already up to date")


@app.command()
@user_errors
def status(directory: Annotated[Path, DIR_OPTION] = Path("migrations")) -> None:
    """List every migration as applied, pending, changed (edited after applying) or unknown."""
    # Reading the status must not start servers as a side effect.
    url = resolve_database_url(Settings.from_env(), start=False)
    for row in run(migration_status(url, directory)):
        when = row.applied_at.isoformat(timespec="seconds") if row.applied_at else "-"
        typer.echo(f"{row.version:04d}  {row.state:<8} {when:<25} {row.name}")
