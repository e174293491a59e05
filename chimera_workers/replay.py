"""Stream replay for debugging: re-run a range of a stream into another stream or a handler.

The range is read in pages (XRANGE, nothing is consumed or acked in any group); each entry is
validated against the stream's type; ``speed`` reproduces the original spacing of entry ids
scaled (2.0 = twice as fast; 0 = as fast as possible).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import msgspec

from chimera_workers.codec import decode_entry, entry_fields
from chimera_workers.connections import RedisClient
from chimera_workers.context import Context, Resources
from chimera_workers.errors import ConfigError
from chimera_workers.stream_ids import decode, parse_id
from chimera_workers.topology import App, Handler

_ID = re.compile(r"^\d+(-\d+)?$")
_PAGE = 500


def parse_bound(text: str, *, end: bool) -> str:
    """Turn ``-``/``+``, an entry id, epoch ms or an ISO-8601 time into an XRANGE bound."""
    if text in ("-", "+") or _ID.match(text):
        return text
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{'--end' if end else '--start'} {text!r} is neither an entry id nor a time",
            hint="use an id like 1700000000000-0, epoch ms, or ISO time like 2026-11-25T05:00:00Z",
        ) from None
    if moment.tzinfo is None:
        raise ConfigError(f"time {text!r} has no timezone", hint="append Z for UTC")
    return str(int(moment.timestamp() * 1000))


def import_handler(path: str) -> Handler:
    """Import ``module:function`` and check it is an async function."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        raise ConfigError(f"handler {path!r} is not module:function")
    try:
        func = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import handler {path!r}: {exc}") from exc
    if not inspect.iscoroutinefunction(func):
        raise ConfigError(f"handler {path!r} is not an async function")
    handler: Handler = func
    return handler


async def read_range(
    redis: RedisClient, stream: str, start: str, end: str
) -> AsyncIterator[tuple[str, dict[bytes, bytes]]]:
    """Yield entries of ``stream`` between ``start`` and ``end`` inclusive, page by page."""
    lower = start
    while True:
        rows: Any = await redis.xrange(stream, min=lower, max=end, count=_PAGE)
        for entry_id, fields in rows:
            yield decode(entry_id), fields
        if len(rows) < _PAGE:
            return
        ms, seq = parse_id(rows[-1][0])
        lower = f"({ms}-{seq}"


class ReplayReport(msgspec.Struct):
    entries: int = 0
    written: int = 0
    emitted: int = 0


async def replay(
    app: App,
    redis: RedisClient,
    stream: str,
    start: str,
    end: str,
    *,
    into: str | None = None,
    handler: str | None = None,
    dry_run: bool = False,
    speed: float = 0.0,
    db: Any = None,
    echo: Callable[[str], None] = print,
) -> ReplayReport:
    """Replay ``stream[start..end]`` into stream ``into`` or through ``handler``."""
    spec = app.stream(stream)
    if (into is None) == (handler is None):
        raise ConfigError("give exactly one of --into or --handler")
    if into is not None and app.stream(into).payload_type is not spec.payload_type:
        raise ConfigError(
            f"{into} carries {app.stream(into).payload_type.__name__}, "
            f"{stream} carries {spec.payload_type.__name__}"
        )
    func = import_handler(handler) if handler else None
    if not dry_run:
        # Validate the whole range first, so a corrupt entry stops the replay before any write.
        async for entry_id, fields in read_range(redis, stream, start, end):
            decode_entry(spec.decoder, stream, entry_id, fields)
    report = ReplayReport()
    first_ms: int | None = None
    wall_start = time.monotonic()
    async for entry_id, fields in read_range(redis, stream, start, end):
        event = decode_entry(spec.decoder, stream, entry_id, fields)
        report.entries += 1
        if speed > 0:
            ms = parse_id(entry_id)[0]
            first_ms = ms if first_ms is None else first_ms
            delay = (ms - first_ms) / 1000 / speed - (time.monotonic() - wall_start)
            if delay > 0:
                await asyncio.sleep(delay)
        if dry_run:
            echo(f"{entry_id} {msgspec.json.encode(event).decode()}")
            continue
        if into is not None:
            await redis.xadd(into, entry_fields(event))  # type: ignore[arg-type]
            report.written += 1
            continue
        assert func is not None
        ctx = Context(
            Resources(app, redis, db, None), None, 0, stream, entry_id.encode(), 1, fields
        )
        await func(event, ctx)
        for target, emit_fields in ctx.emits:
            await redis.xadd(target, emit_fields)  # type: ignore[arg-type]
            report.emitted += 1
    return report
