"""Payload types the loader tests point ``type:`` at, good and bad."""

from __future__ import annotations

import msgspec


class Trade(msgspec.Struct, frozen=True):
    """A trade on one symbol's stream."""

    symbol: str
    price: int
    qty: int


class Fill(msgspec.Struct, frozen=True):
    """An order fill."""

    order_id: str
    symbol: str


class Mutable(msgspec.Struct):
    """Not frozen, so the loader must refuse it."""

    value: int


class NotAStruct:
    """A plain class, so the loader must refuse it."""

    value: int = 0
