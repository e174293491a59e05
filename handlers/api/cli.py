"""``chimera api serve``: run the services' HTTP API (uvicorn) until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import os
import signal
from typing import Annotated

import typer

from chimera.http.auth import resolve_service_token
from chimera_workers.cli.common import run, user_errors
from chimera_workers.connections import open_db_pool, open_redis
from chimera_workers.endpoints import resolve_database_url, resolve_redis_url
from chimera_workers.settings import Settings

app = typer.Typer(help="Serve the services' HTTP API.", no_args_is_help=True)


async def _check_reachable(redis_url: str, database_url: str) -> None:
    # Fail before uvicorn starts, with the framework's one-line "cannot reach ..." error.
    redis = await open_redis(redis_url, retries=0)
    await redis.aclose()
    pool = await open_db_pool(database_url, max_size=1)
    await pool.close()


@app.command()
@user_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", envvar="CHIMERA_API_PORT", help="TCP port (0: any free port).")
    ] = 8080,
    dev: Annotated[
        bool,
        typer.Option(
            "--dev", help="Without $CHIMERA_SERVICE_TOKEN, use the well-known development token."
        ),
    ] = False,
) -> None:
    """Serve every service's endpoints; the OpenAPI document is at /schema/openapi.json."""
    import uvicorn

    from handlers.api.app import create_app

    logging.basicConfig(
        level=os.environ.get("CHIMERA_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    token = resolve_service_token(dev=dev)
    settings = Settings.from_env()
    redis_url = resolve_redis_url(settings)
    database_url = resolve_database_url(settings)
    run(_check_reachable(redis_url, database_url))
    api = create_app(service_token=token, redis_url=redis_url, database_url=database_url)
    # uvicorn stops gracefully on SIGTERM/SIGINT and then re-raises the signal to the handler
    # that was installed before it; a no-op one makes that graceful stop exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: None)
    uvicorn.run(api, host=host, port=port, log_level="info", lifespan="on")
