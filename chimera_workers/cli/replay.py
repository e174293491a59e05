"""``chimera replay``: re-run a range of a stream into another stream or through a handler."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chimera_workers.cli.common import run, user_errors
from chimera_workers.cli.enqueue import STREAMS_OPTION
from chimera_workers.cli.session import load_topology, redis_session
from chimera_workers.replay import ReplayReport, parse_bound
from chimera_workers.replay import replay as replay_range
from chimera_workers.topology import App


@user_errors
def replay(
    stream: Annotated[str, typer.Argument(help="Stream to read (nothing is consumed or acked).")],
    start: Annotated[
        str, typer.Option("--start", help="Entry id, epoch ms, ISO time, or '-'.")
    ] = "-",
    end: Annotated[str, typer.Option("--end", help="Entry id, epoch ms, ISO time, or '+'.")] = "+",
    into: Annotated[
        str | None, typer.Option("--into", help="Append the entries to this stream.")
    ] = None,
    handler: Annotated[
        str | None, typer.Option("--handler", help="Call this module:function per entry.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the entries; write nothing.")
    ] = False,
    speed: Annotated[
        float,
        typer.Option("--speed", min=0, help="Replay at X times the recorded pace; 0 = flat out."),
    ] = 0.0,
    streams: Annotated[Path | None, STREAMS_OPTION] = None,
) -> None:
    """Replay STREAM between --start and --end into --into or through --handler."""
    app = load_topology(streams)
    lo, hi = parse_bound(start, end=False), parse_bound(end, end=True)
    report = run(_replay(app, stream, lo, hi, into, handler, dry_run, speed))
    typer.echo(
        f"replayed {report.entries} entries: {report.written} written, {report.emitted} emitted"
        + (" (dry run)" if dry_run else "")
    )


async def _replay(
    app: App,
    stream: str,
    lo: str,
    hi: str,
    into: str | None,
    handler: str | None,
    dry_run: bool,
    speed: float,
) -> ReplayReport:
    async with redis_session(app) as redis:
        return await replay_range(
            app,
            redis,
            stream,
            lo,
            hi,
            into=into,
            handler=handler,
            dry_run=dry_run,
            speed=speed,
            echo=typer.echo,
        )
