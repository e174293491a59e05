"""Redis stream entry ids as ``(milliseconds, sequence)`` tuples, for ordering and arithmetic."""

from __future__ import annotations

StreamId = tuple[int, int]


def parse_id(raw: str | bytes) -> StreamId:
    """Parse ``"1700000000000-3"`` (or a bare millisecond time) into a tuple."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def format_id(sid: StreamId) -> str:
    """Format a tuple as a Redis stream id."""
    return f"{sid[0]}-{sid[1]}"


def next_id(sid: StreamId) -> StreamId:
    """Return the smallest id strictly greater than ``sid``."""
    return (sid[0], sid[1] + 1)


def decode(raw: str | bytes) -> str:
    """Return ``raw`` as text."""
    return raw.decode() if isinstance(raw, bytes) else raw
