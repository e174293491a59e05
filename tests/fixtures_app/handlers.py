"""Handlers the loader tests point ``handler:`` at, good and bad."""

from __future__ import annotations

from chimera_workers import Context
from tests.fixtures_app.events import Fill, Trade


async def on_trade(event: Trade, ctx: Context) -> None:
    return None


async def on_fill(event: Fill, ctx: Context) -> None:
    return None


async def tick(ctx: Context) -> None:
    return None


def not_async(event: Trade, ctx: Context) -> None:
    return None


async def one_arg(event: Trade) -> None:
    return None


async def three_args(event: Trade, ctx: Context, extra: int) -> None:
    return None
