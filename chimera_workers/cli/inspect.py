"""``chimera inspect``: length, groups, lag, pending per consumer, oldest pending age, DLQ size."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from chimera_workers.cli.common import run, user_errors
from chimera_workers.cli.enqueue import STREAMS_OPTION
from chimera_workers.cli.session import load_topology, redis_session
from chimera_workers.consumer import now_ms
from chimera_workers.inspection import StreamStats, stream_stats
from chimera_workers.topology import App


def dead_letters_of(app: App, stream: str) -> list[str]:
    """Return the dead-letter streams the bindings of ``stream`` use."""
    names = {b.dead_letters[stream] for b in app.bindings.values() if stream in b.dead_letters}
    return sorted(names) or [app.streams[stream].dead_letter]


async def collect(app: App, streams: list[str]) -> list[tuple[StreamStats, int]]:
    """Gather stats and dead-letter sizes for ``streams``."""
    out = []
    async with redis_session(app) as redis:
        now = now_ms()
        for name in streams:
            stats = await stream_stats(redis, name, now, with_consumers=True)
            dlq = sum([int(await redis.xlen(d)) for d in dead_letters_of(app, name)])
            out.append((stats, dlq))
    return out


def render(rows: list[tuple[StreamStats, int]], detail: bool) -> Table:
    table = Table(show_lines=detail)
    for col in ("stream", "length", "group", "lag", "pending", "oldest pending", "DLQ"):
        table.add_column(col, justify="left" if col in ("stream", "group") else "right")
    for stats, dlq in rows:
        groups = stats.groups or ()
        if not groups:
            table.add_row(stats.name, str(stats.length), "-", "-", "-", "-", str(dlq))
        for g in groups:
            lag = "?" if g.lag is None else f"{g.lag}{'+' if g.lag_capped else ''}"
            age = (
                "-" if g.oldest_pending_age_ms is None else f"{g.oldest_pending_age_ms / 1000:.1f}s"
            )
            table.add_row(stats.name, str(stats.length), g.name, lag, str(g.pending), age, str(dlq))
            if detail:
                for c in g.consumers:
                    table.add_row(
                        "",
                        "",
                        f"  {c.name}",
                        "",
                        str(c.pending),
                        f"idle {c.idle_ms / 1000:.1f}s",
                        "",
                    )
    return table


@user_errors
def inspect(
    stream: Annotated[
        str | None, typer.Argument(help="One stream in detail (with consumers); default all.")
    ] = None,
    streams: Annotated[Path | None, STREAMS_OPTION] = None,
) -> None:
    """Show streams with their groups, lag, pending entries, oldest pending age and DLQ size."""
    app = load_topology(streams)
    names = [app.stream(stream).name] if stream else sorted(app.streams)
    rows = run(collect(app, names))
    Console().print(render(rows, detail=stream is not None))
