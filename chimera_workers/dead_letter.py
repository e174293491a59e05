"""Dead-letter streams: move a failed entry there, list, retry and drop dead letters.

A dead letter is the failed entry's own fields plus metadata fields (``META_FIELDS``). The
dead-letter stream shares its source's hash tag (``topology.dead_letter_name``), so moving and
retrying are single-slot Lua scripts on a Cluster and therefore atomic: an entry is never both
acknowledged and lost, nor both retried and still dead-lettered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from chimera_workers.connections import RedisClient
from chimera_workers.errors import ChimeraError
from chimera_workers.scripts import run_script

META_FIELDS = frozenset(
    {
        b"_error",
        b"_traceback",
        b"_handler",
        b"_source",
        b"_group",
        b"_original_id",
        b"_deliveries",
        b"_failed_at_ms",
        b"_missing",
    }
)
"""Fields the move adds; every other field is payload and goes back on retry."""


class DeadLetterError(ChimeraError):
    """A dead letter cannot be retried: it is gone, has no payload, or names another source."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-letter entry, its metadata decoded and its original fields in ``payload``."""

    id: str
    source: str
    group: str
    original_id: str
    handler: str
    error: str
    traceback: str
    deliveries: int
    failed_at_ms: int
    missing: bool
    payload: dict[bytes, bytes]


def _bytes(raw: bytes | str) -> bytes:
    return raw.encode() if isinstance(raw, str) else raw


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


async def move_to_dead_letter(
    redis: RedisClient,
    *,
    stream: str,
    group: str,
    entry_id: str,
    dead_letter: str,
    error: str,
    traceback: str,
    handler: str,
    delivery_count: int,
    now_ms: int,
) -> str | None:
    """Copy ``entry_id`` to ``dead_letter`` and XACK it in ``group``, atomically.

    Return the dead-letter entry id, or None when the entry is not pending in ``group`` (a
    repeated call, or another consumer got there first), in which case nothing changes.
    """
    keys = [stream, dead_letter]
    args: list[str | int] = [group, entry_id, error, traceback, handler, delivery_count, now_ms]
    reply = await run_script(redis, "dlq_move", keys, args)
    return None if reply is None else _text(reply)


def parse_dead_letter(entry_id: bytes | str, fields: dict[Any, Any]) -> DeadLetter:
    """Decode one XRANGE row of a dead-letter stream."""
    raw = {_bytes(k): _bytes(v) for k, v in fields.items()}

    def meta(name: bytes, default: bytes = b"") -> str:
        return raw.get(name, default).decode(errors="replace")

    return DeadLetter(
        id=_text(entry_id),
        source=meta(b"_source"),
        group=meta(b"_group"),
        original_id=meta(b"_original_id"),
        handler=meta(b"_handler"),
        error=meta(b"_error"),
        traceback=meta(b"_traceback"),
        deliveries=int(meta(b"_deliveries", b"0")),
        failed_at_ms=int(meta(b"_failed_at_ms", b"0")),
        missing=meta(b"_missing", b"0") == "1",
        payload={k: v for k, v in raw.items() if k not in META_FIELDS},
    )


async def list_dead_letters(
    redis: RedisClient, dead_letter: str, *, count: int, start: str = "-"
) -> list[DeadLetter]:
    """Return up to ``count`` dead letters from ``start`` (``"(id"`` starts after ``id``)."""
    rows: Any = await redis.xrange(dead_letter, min=start, max="+", count=count)
    return [parse_dead_letter(entry_id, fields) for entry_id, fields in rows]


async def retry_dead_letter(redis: RedisClient, dead_letter: str, dlq_entry_id: str) -> str:
    """Re-add a dead letter's payload to its source stream and delete it, atomically.

    Return the new entry id on the source stream. Raise ``DeadLetterError`` when the dead
    letter does not exist or has no payload (the entry was trimmed before it failed).
    """
    rows: Any = await redis.xrange(dead_letter, min=dlq_entry_id, max=dlq_entry_id)
    if not rows:
        raise _not_found(dead_letter, dlq_entry_id)
    letter = parse_dead_letter(*rows[0])
    try:
        reply = await run_script(redis, "dlq_retry", [dead_letter, letter.source], [dlq_entry_id])
    except ResponseError as exc:
        message = str(exc)
        if message.startswith("NOTFOUND"):
            raise _not_found(dead_letter, dlq_entry_id) from None
        if message.startswith("NOPAYLOAD"):
            raise DeadLetterError(
                f"dead letter {dlq_entry_id} in {dead_letter} has no payload: the entry was "
                "trimmed from its stream before it failed",
                hint="drop it; there is nothing to retry",
            ) from None
        raise DeadLetterError(f"cannot retry dead letter {dlq_entry_id}: {message}") from exc
    return _text(reply)


def _not_found(dead_letter: str, entry_id: str) -> DeadLetterError:
    return DeadLetterError(
        f"no dead letter {entry_id} in {dead_letter}",
        hint="list the dead letters to see which ids exist",
    )


async def drop_dead_letter(redis: RedisClient, dead_letter: str, ids: Iterable[str]) -> int:
    """Delete dead letters ``ids``; return how many existed."""
    wanted = list(ids)
    if not wanted:
        return 0
    return int(await redis.xdel(dead_letter, *wanted))


__all__ = [
    "META_FIELDS",
    "DeadLetter",
    "DeadLetterError",
    "drop_dead_letter",
    "list_dead_letters",
    "move_to_dead_letter",
    "parse_dead_letter",
    "retry_dead_letter",
]
