"""``chimera dlq list|retry|drop``: look at and act on dead-lettered entries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chimera_workers.cli.common import run, user_errors
from chimera_workers.cli.enqueue import STREAMS_OPTION
from chimera_workers.cli.inspect import dead_letters_of
from chimera_workers.cli.session import load_topology, redis_session
from chimera_workers.connections import RedisClient
from chimera_workers.dead_letter import (
    DeadLetter,
    drop_dead_letter,
    list_dead_letters,
    retry_dead_letter,
)
from chimera_workers.errors import ConfigError
from chimera_workers.topology import App

app = typer.Typer(help="Inspect, retry or drop dead-lettered entries.", no_args_is_help=True)

STREAM_ARG = typer.Argument(
    help="A source stream (its dead-letter stream is used) or a dead-letter stream."
)


def resolve_dead_letter(app: App, name: str) -> str:
    """Map a source stream to its dead-letter stream; accept a dead-letter stream as is."""
    if name in app.streams:
        found = dead_letters_of(app, name)
        if len(found) > 1:
            raise ConfigError(
                f"{name} has several dead-letter streams: {', '.join(found)}",
                hint="name the dead-letter stream itself",
            )
        return found[0]
    known = {d for s in app.streams for d in dead_letters_of(app, s)}
    if name not in known:
        raise ConfigError(
            f"{name!r} is neither a declared stream nor a dead-letter stream",
            hint=f"dead-letter streams: {', '.join(sorted(known))}",
        )
    return name


async def _entries(app: App, dlq: str, count: int) -> list[DeadLetter]:
    async with redis_session(app) as redis:
        return await list_dead_letters(redis, dlq, count=count)


@app.command("list")
@user_errors
def list_(
    stream: Annotated[str, STREAM_ARG],
    count: Annotated[int, typer.Option("--count", min=1)] = 20,
    streams: Annotated[Path | None, STREAMS_OPTION] = None,
) -> None:
    """List dead-lettered entries with their error, handler and delivery count."""
    topo = load_topology(streams)
    dlq = resolve_dead_letter(topo, stream)
    rows = run(_entries(topo, dlq, count))
    typer.echo(f"{dlq}: {len(rows)} entr{'y' if len(rows) == 1 else 'ies'} shown")
    for d in rows:
        typer.echo(
            f"{d.id}  from {d.source} {d.original_id}  deliveries={d.deliveries}  "
            f"handler={d.handler}\n    {d.error}"
        )


async def _chosen(redis: RedisClient, dlq: str, ids: list[str], everything: bool) -> list[str]:
    if everything:
        return [d.id for d in await list_dead_letters(redis, dlq, count=1_000_000)]
    return ids


async def _retry(topo: App, dlq: str, ids: list[str], everything: bool) -> list[str]:
    async with redis_session(topo) as redis:
        return [
            await retry_dead_letter(redis, dlq, i)
            for i in await _chosen(redis, dlq, ids, everything)
        ]


@app.command()
@user_errors
def retry(
    stream: Annotated[str, STREAM_ARG],
    ids: Annotated[list[str] | None, typer.Argument(help="Dead-letter entry ids.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Retry every entry.")] = False,
    streams: Annotated[Path | None, STREAMS_OPTION] = None,
) -> None:
    """Put entries back on their source stream (as new entries) and remove them from the DLQ."""
    if not ids and not all_:
        raise ConfigError("name entry ids or pass --all")
    topo = load_topology(streams)
    dlq = resolve_dead_letter(topo, stream)
    new_ids = run(_retry(topo, dlq, ids or [], all_))
    typer.echo(f"re-delivered {len(new_ids)} entr{'y' if len(new_ids) == 1 else 'ies'} from {dlq}")


async def _drop(topo: App, dlq: str, ids: list[str], everything: bool) -> int:
    async with redis_session(topo) as redis:
        chosen = await _chosen(redis, dlq, ids, everything)
        return int(await drop_dead_letter(redis, dlq, chosen)) if chosen else 0


@app.command()
@user_errors
def drop(
    stream: Annotated[str, STREAM_ARG],
    ids: Annotated[list[str] | None, typer.Argument(help="Dead-letter entry ids.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Drop every entry.")] = False,
    streams: Annotated[Path | None, STREAMS_OPTION] = None,
) -> None:
    """Delete entries from the dead-letter stream for good."""
    if not ids and not all_:
        raise ConfigError("name entry ids or pass --all")
    topo = load_topology(streams)
    dlq = resolve_dead_letter(topo, stream)
    typer.echo(f"dropped {run(_drop(topo, dlq, ids or [], all_))} from {dlq}")
