"""``chimera services up|down|status``: the embedded Redis and PostgreSQL under the state dir."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chimera_workers.cli.common import run, user_errors
from chimera_workers.embedded import services_down, services_status, services_up
from chimera_workers.endpoints import resolve_database_url
from chimera_workers.migrations import upgrade
from chimera_workers.settings import Settings

app = typer.Typer(
    help="Start, stop and show the embedded Redis and PostgreSQL (kept in $CHIMERA_STATE_DIR, "
    "default ./.chimera). Commands use them whenever CHIMERA_REDIS_URL / CHIMERA_DATABASE_URL "
    "are unset.",
    no_args_is_help=True,
)


def _overrides(settings: Settings) -> None:
    # Say so when the environment points commands elsewhere: the embedded servers then sit idle.
    for name, url in (
        ("CHIMERA_REDIS_URL", settings.redis_url),
        ("CHIMERA_DATABASE_URL", settings.database_url),
    ):
        if url:
            typer.echo(f"note: {name} is set; commands use {url}, not the embedded server")


@app.command()
@user_errors
def up(
    migrations: Annotated[
        Path | None,
        typer.Option(
            "--migrations",
            help="Also apply the NNNN_*.sql migrations in this directory.",
        ),
    ] = None,
) -> None:
    """Start the embedded servers (or reuse running ones) and print their URLs."""
    settings = Settings.from_env()
    endpoints = services_up(settings)
    typer.echo(f"redis     {endpoints.redis_url}")
    typer.echo(f"postgres  {endpoints.database_url}")
    _overrides(settings)
    if migrations is not None:
        applied = run(upgrade(resolve_database_url(settings), migrations))
        names = ", ".join(m.path.name for m in applied) or "none pending"
        typer.echo(f"migrations applied: {names}")


@app.command()
@user_errors
def down() -> None:
    """Stop the embedded servers; their data stays in the state dir for the next `up`."""
    stopped = services_down(Settings.from_env())
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
@user_errors
def status() -> None:
    """Show each embedded server: running or stopped, pid, URL and data directory."""
    settings = Settings.from_env()
    for row in services_status(settings):
        pid = str(row.pid) if row.pid is not None else "-"
        typer.echo(f"{row.name:<9} {row.state:<8} pid {pid:<7} {row.url or '-'}  ({row.data_dir})")
    _overrides(settings)
