"""Wait in a test until an asynchronous condition holds (polling, bounded)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def until(
    predicate: Callable[[], Awaitable[object]], within: float = 30.0, what: str = ""
) -> None:
    """Poll ``predicate`` until it is true; fail after ``within`` seconds naming ``what``."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"condition not reached within {within}s" + (f": {what}" if what else ""))


__all__ = ["until"]
