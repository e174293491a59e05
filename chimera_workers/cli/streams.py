"""``chimera streams check|list``: validate ``streams.yaml`` and show what it declares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chimera_workers.cli.common import EXIT_USER_ERROR
from chimera_workers.settings import Settings
from chimera_workers.topology import App, Retention
from chimera_workers.topology_loader import TopologyError, load_app

app = typer.Typer(
    help="Check and list the topology declared in streams.yaml.", no_args_is_help=True
)

FILE_ARG = typer.Argument(
    help="Topology file (default $CHIMERA_STREAMS or streams.yaml).", show_default=False
)
NO_IMPORT = typer.Option(
    "--no-import", help="Do not import payload types and handlers (checks the rest)."
)


def _load(file: Path | None, import_code: bool) -> App:
    path = file or Path(Settings.from_env().streams_file)
    try:
        return load_app(path, import_code=import_code)
    except TopologyError as exc:
        # One line per problem, already carrying file:line:col and the fix hint.
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(EXIT_USER_ERROR) from None


@app.command()
def check(
    file: Annotated[Path | None, FILE_ARG] = None, no_import: Annotated[bool, NO_IMPORT] = False
) -> None:
    """Validate the topology; print every problem with its line, exit 2 if there are any."""
    topo = _load(file, not no_import)
    templates = {s.template for s in topo.streams.values()}
    extras = ""
    if topo.config is not None:
        extras += f", config from {topo.config.loader_path} (reload on {topo.config.reload_stream})"
    if topo.resources:
        extras += f", {len(topo.resources)} resources"
    typer.echo(
        f"OK: {len(templates)} streams ({len(topo.streams)} concrete), "
        f"{len(topo.bindings)} bindings, {len(topo.schedules)} schedules{extras}"
    )


def _retention(r: Retention) -> str:
    parts = [
        f"maxlen={r.maxlen}" if r.maxlen else "",
        f"max_age_ms={r.max_age_ms}" if r.max_age_ms else "",
    ]
    kept = " ".join(p for p in parts if p) or "unbounded"
    return f"{kept}, trimmed every {r.trim_interval_ms} ms"


@app.command("list")
def list_(
    file: Annotated[Path | None, FILE_ARG] = None, no_import: Annotated[bool, NO_IMPORT] = False
) -> None:
    """List concrete streams with their payload type, retention, bindings and dead letters."""
    topo = _load(file, not no_import)
    for name in sorted(topo.streams):
        spec = topo.streams[name]
        payload = f"{spec.payload_type.__module__}:{spec.payload_type.__qualname__}"
        typer.echo(f"{name}  {payload}")
        typer.echo(f"  dead letter: {spec.dead_letter}")
        typer.echo(f"  retention:   {_retention(spec.retention)}")
        if spec.extra_groups:
            typer.echo(f"  groups:      {', '.join(spec.extra_groups)}")
        for b in sorted(topo.bindings.values(), key=lambda b: b.name):
            if name in b.streams:
                dlq = b.dead_letters[name]
                extra = "" if dlq == spec.dead_letter else f", dead letter {dlq}"
                typer.echo(
                    f"  binding {b.name}: group {b.group} -> {b.handler_path}"
                    f" (batch {b.batch_size}, concurrency {b.concurrency}{extra})"
                )
    for s in sorted(topo.schedules.values(), key=lambda s: s.name):
        when = f"every {s.interval_ms} ms" if s.interval_ms is not None else f"cron {s.cron!r}"
        typer.echo(f"schedule {s.name}: {when} -> {s.handler_path}")
