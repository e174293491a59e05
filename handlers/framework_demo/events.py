"""Payload types of the demo streams."""

from __future__ import annotations

import msgspec


class Tick(msgspec.Struct, frozen=True):
    """A synthetic price tick; ``price`` is an integer number of cents (never a float)."""

    symbol: str
    seq: int
    price: int
    ts_ms: int
    poison: bool = False


class TickRecorded(msgspec.Struct, frozen=True):
    symbol: str
    seq: int
