"""``chimera enqueue``: validate events against a stream's type, then write them all or none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer

from chimera_workers.cli.common import run, user_errors
from chimera_workers.cli.session import load_topology, redis_session
from chimera_workers.codec import entry_fields, validate_json
from chimera_workers.errors import ConfigError, PayloadError
from chimera_workers.topology import App
from chimera_workers.worker import ensure_declared_groups

_CHUNK = 1000

STREAMS_OPTION = typer.Option(
    "--streams", help="Topology file (default $CHIMERA_STREAMS or streams.yaml)."
)


def read_payloads(json_text: str | None, file: Path | None) -> list[tuple[str, bytes]]:
    """Return ``(where, raw JSON)`` per event from ``--json`` (object or array) or ``--file``.

    A file holds one JSON value (an object, or an array of objects) or JSON lines.
    """
    if (json_text is None) == (file is None):
        raise ConfigError("give exactly one of --json or --file")
    if json_text is not None:
        return _split(json_text, "--json")
    assert file is not None
    try:
        text = file.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror}") from exc
    stripped = text.strip()
    if stripped.startswith("[") or "\n" not in stripped:
        return _split(stripped, str(file))
    return [
        (f"{file}:{n}", line.encode())
        for n, line in enumerate(text.splitlines(), 1)
        if line.strip()
    ]


def _split(text: str, where: str) -> list[tuple[str, bytes]]:
    try:
        value: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"{where}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    if isinstance(value, list):
        return [(f"{where}[{i}]", json.dumps(item).encode()) for i, item in enumerate(value)]
    return [(where, text.encode())]


async def enqueue_events(
    app: App, stream: str, payloads: list[tuple[str, bytes]], count: int
) -> list[str]:
    """Validate every payload, then XADD them ``count`` times; nothing is written on error."""
    spec = app.stream(stream)
    events: list[msgspec.Struct] = [
        validate_json(spec.decoder, raw, where) for where, raw in payloads
    ]
    fields = [entry_fields(e) for e in events] * count
    ids: list[str] = []
    async with redis_session(app) as redis:
        await ensure_declared_groups(redis, app)
        for i in range(0, len(fields), _CHUNK):
            pipe = redis.pipeline(transaction=False)
            for f in fields[i : i + _CHUNK]:
                pipe.xadd(stream, f)  # type: ignore[arg-type]
            ids += [x.decode() if isinstance(x, bytes) else str(x) for x in await pipe.execute()]
    return ids


@user_errors
def enqueue(
    stream: Annotated[
        str, typer.Argument(help="Concrete stream name, e.g. mkt:events:{perp}:BTCUSDT.")
    ],
    json_text: Annotated[
        str | None, typer.Option("--json", help="One event (object) or an array of events.")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="JSON object/array, or JSON lines.")
    ] = None,
    count: Annotated[
        int, typer.Option("--count", min=1, help="Write the events this many times.")
    ] = 1,
    streams: Annotated[Path | None, STREAMS_OPTION] = None,
) -> None:
    """Validate events against STREAM's declared type and append them (all or nothing)."""
    app = load_topology(streams)
    app.stream(stream)
    payloads = read_payloads(json_text, file)
    ids = run(enqueue_events(app, stream, payloads, count))
    typer.echo(
        f"enqueued {len(ids)} event(s) to {stream}"
        + (f": first {ids[0]}, last {ids[-1]}" if ids else "")
    )
