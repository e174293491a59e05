"""``chimera worker``: run bindings and schedules from ``streams.yaml`` until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
from pathlib import Path
from typing import Annotated

import typer

from chimera_workers.cli.common import run, user_errors
from chimera_workers.connections import open_db_pool, open_redis
from chimera_workers.cpu_wake import MAX_US, bounded
from chimera_workers.endpoints import resolve_database_url, resolve_redis_url
from chimera_workers.errors import ConfigError
from chimera_workers.metrics import WorkerMetrics
from chimera_workers.settings import Settings
from chimera_workers.topology import App
from chimera_workers.topology_loader import load_app
from chimera_workers.worker import Worker, WorkerCrashed

log = logging.getLogger("chimera.worker")


def consumer_name(explicit: str | None) -> str:
    """Name this process's consumer: stable per host and Procfile slot (``CHIMERA_SLOT``)."""
    if explicit:
        return explicit
    slot = os.environ.get("CHIMERA_SLOT")
    host = socket.gethostname()
    return f"{host}:{slot}" if slot else f"{host}:pid{os.getpid()}"


@user_errors
def worker(
    binding: Annotated[
        list[str] | None,
        typer.Option("--binding", "-b", help="Binding to run (repeatable); default all."),
    ] = None,
    schedule: Annotated[
        list[str] | None,
        typer.Option("--schedule", "-s", help="Schedule to host (repeatable); default all."),
    ] = None,
    no_schedules: Annotated[
        bool, typer.Option("--no-schedules", help="Host no scheduled jobs.")
    ] = False,
    no_bindings: Annotated[
        bool, typer.Option("--no-bindings", help="Consume no streams (a schedules-only worker).")
    ] = False,
    streams: Annotated[
        Path | None,
        typer.Option("--streams", help="Topology file (default $CHIMERA_STREAMS or streams.yaml)."),
    ] = None,
    consumer: Annotated[
        str | None, typer.Option("--consumer", help="Consumer name (default host:$CHIMERA_SLOT).")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve Prometheus /metrics on this port.")
    ] = None,
    grace: Annotated[
        float,
        typer.Option("--grace", help="Seconds in-flight work may take to finish on shutdown."),
    ] = 10.0,
    no_db: Annotated[
        bool, typer.Option("--no-db", help="Do not open a PostgreSQL pool (ctx.db is None).")
    ] = False,
    cpu_wake_latency_us: Annotated[
        int | None,
        typer.Option(
            "--cpu-wake-latency-us",
            min=0,
            max=MAX_US,
            help="Keep idle CPUs able to wake within this many µs while the worker runs "
            "(Linux PM QoS; needs write access to /dev/cpu_dma_latency). "
            "Default $CHIMERA_CPU_WAKE_LATENCY_US, else off.",
        ),
    ] = None,
) -> None:
    """Consume the bound streams; exit 0 after a graceful SIGTERM/SIGINT shutdown."""
    # Catch a stop request from the first moment: a supervisor may stop a slot that is
    # still loading, and that should be a clean exit, not death by signal.
    early_stop: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: early_stop.append(signum))
    logging.basicConfig(
        level=os.environ.get("CHIMERA_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings.from_env()
    app = load_app(streams or Path(settings.streams_file))
    redis_url = resolve_redis_url(settings)
    database_url = None if no_db else resolve_database_url(settings)
    schedules = [] if no_schedules else (schedule or None)
    if no_bindings and binding:
        raise ConfigError(
            "--no-bindings contradicts --binding", hint="give one of --no-bindings or --binding"
        )
    bindings = [] if no_bindings else (binding or None)
    wake_bound = (
        settings.cpu_wake_latency_us if cpu_wake_latency_us is None else cpu_wake_latency_us
    )
    try:
        with bounded(wake_bound):
            run(
                _run(
                    app,
                    redis_url,
                    database_url,
                    consumer_name(consumer),
                    bindings,
                    schedules,
                    metrics_port,
                    grace,
                    early_stop,
                )
            )
    except WorkerCrashed as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc


async def _run(
    app: App,
    redis_url: str,
    database_url: str | None,
    consumer: str,
    bindings: list[str] | None,
    schedules: list[str] | None,
    metrics_port: int | None,
    grace: float,
    early_stop: list[int],
) -> None:
    redis = await open_redis(redis_url, retries=0)
    db = await open_db_pool(database_url) if database_url else None
    metrics = WorkerMetrics()
    if metrics_port:
        metrics.serve(metrics_port)
    w = Worker(
        app,
        redis,
        consumer=consumer,
        bindings=bindings,
        schedules=schedules,
        db=db,
        metrics=metrics,
        shutdown_grace_s=grace,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, w.request_stop)
    if early_stop:
        w.request_stop()
    log.info("worker %s: bindings=%s", consumer, [b.name for b in w.bindings])
    # Everything imported so far (handlers, ccxt, numpy...) lives as long as the process; moving
    # it out of the collector's generations spares every full collection from walking it.
    gc.collect()
    gc.freeze()
    try:
        await w.run()
    finally:
        await redis.aclose()
        if db is not None:
            await db.close()
    log.info("worker %s stopped cleanly", consumer)
