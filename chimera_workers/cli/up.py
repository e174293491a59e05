"""``chimera up``: bring servers up, apply migrations, run the Procfile until interrupted."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer

from chimera_workers.cli.common import run, user_errors
from chimera_workers.cli.enqueue import STREAMS_OPTION
from chimera_workers.cli.session import load_topology
from chimera_workers.endpoints import Endpoints, resolve_endpoints
from chimera_workers.migrations import upgrade
from chimera_workers.procfile import ProcessType, parse_concurrency, parse_procfile
from chimera_workers.settings import Settings
from chimera_workers.supervisor import Supervisor
from chimera_workers.topology import App


def endpoint_env(endpoints: Endpoints) -> dict[str, str]:
    """Pin child processes to the servers this command resolved."""
    return {
        "CHIMERA_REDIS_URL": endpoints.redis_url,
        "CHIMERA_DATABASE_URL": endpoints.database_url,
    }


async def prepare(app: App) -> Endpoints:
    """Resolve (start) the servers and apply the topology's migrations."""
    endpoints = resolve_endpoints(Settings.from_env())
    if app.migrations_dir is not None:
        await upgrade(endpoints.database_url, app.migrations_dir)
    return endpoints


@user_errors
def up(
    procfile: Annotated[Path, typer.Option("--procfile", "-f", help="Procfile to run.")] = Path(
        "Procfile"
    ),
    concurrency: Annotated[
        list[str] | None,
        typer.Option(
            "--concurrency",
            "-c",
            help="NAME=N processes for a type (honcho style; repeatable or comma-separated).",
        ),
    ] = None,
    streams: Annotated[Path | None, STREAMS_OPTION] = None,
    stop_timeout: Annotated[
        float, typer.Option("--stop-timeout", help="Seconds to wait for processes on shutdown.")
    ] = 20.0,
) -> None:
    """Run every Procfile process (N per type) with stable slot names; Ctrl-C stops them all."""
    types = parse_procfile(procfile)
    counts = parse_concurrency(concurrency or [], types)
    app = load_topology(streams)
    run(_up(app, types, counts, stop_timeout, streams))


async def _up(
    app: App,
    types: list[ProcessType],
    counts: dict[str, int],
    stop_timeout: float,
    streams: Path | None,
) -> None:
    endpoints = await prepare(app)
    env = endpoint_env(endpoints)
    if streams is not None:
        env["CHIMERA_STREAMS"] = str(streams)
    sup = Supervisor(types, counts, env=env, stop_timeout_s=stop_timeout)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, sup.request_stop)
    await sup.start()
    await sup.wait()
