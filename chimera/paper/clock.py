"""The venue's clocks (``feed.VenueClock``): scaled wall time, or stepping from event to event.

A replayed capture and the synthetic market both run on one of these. ``ScaledClock`` maps wall
time onto venue time (``start_ms`` + elapsed wall time x ``speed``); for a replay ``start_ms`` is
the capture's first event time, for the synthetic market a chosen start epoch. ``StepClock`` is the
"max speed" mode: time jumps to each event as the driver reaches it, nothing ever sleeps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class ScaledClock:
    """Venue time = ``start_ms`` + wall time elapsed since construction x ``speed``."""

    def __init__(
        self, start_ms: int, speed: float = 1.0, wall: Callable[[], float] = time.monotonic
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.start_ms = start_ms
        self.speed = speed
        self._wall = wall
        self._wall0 = wall()
        self._behind = 0

    def now_ms(self) -> int:
        """Return the venue time in epoch milliseconds."""
        return self.start_ms + int((self._wall() - self._wall0) * 1000.0 * self.speed)

    async def wait_until(self, ts_ms: int) -> None:
        """Sleep until venue time reaches ``ts_ms`` (at once when it already has: catch-up)."""
        ahead_ms = ts_ms - self.now_ms()
        if ahead_ms > 0:
            await asyncio.sleep(ahead_ms / 1000.0 / self.speed)
            return
        # Catching up: still let the servers run now and then.
        self._behind += 1
        if self._behind % 256 == 0:
            await asyncio.sleep(0)


class StepClock:
    """Venue time that moves only when the driver reaches the next event (max speed)."""

    def __init__(self, start_ms: int, *, yield_every: int = 256) -> None:
        self._now = start_ms
        self._yield_every = yield_every
        self._steps = 0
        self.speed = 0.0

    def now_ms(self) -> int:
        """Return the venue time in epoch milliseconds."""
        return self._now

    def advance_to(self, ts_ms: int) -> None:
        """Move time forward to ``ts_ms`` (never backwards)."""
        self._now = max(self._now, ts_ms)

    async def wait_until(self, ts_ms: int) -> None:
        """Jump to ``ts_ms``; yield to the event loop now and then so servers stay responsive."""
        self.advance_to(ts_ms)
        self._steps += 1
        if self._steps % self._yield_every == 0:
            await asyncio.sleep(0)


VenueTimer = ScaledClock | StepClock


def make_clock(start_ms: int, speed: float) -> VenueTimer:
    """Return a scaled clock, or a stepping one when ``speed`` is 0 (max speed)."""
    return StepClock(start_ms) if speed == 0 else ScaledClock(start_ms, speed)
