"""Venue clocks: scaled wall time and the max-speed stepping clock."""

from __future__ import annotations

import pytest

from chimera.paper.clock import ScaledClock, StepClock, make_clock


class FakeWall:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_scaled_clock_runs_speed_times_wall_time() -> None:
    wall = FakeWall()
    clock = ScaledClock(1_000_000, speed=10.0, wall=wall)
    assert clock.now_ms() == 1_000_000
    wall.t += 1.5
    assert clock.now_ms() == 1_015_000


async def test_scaled_clock_waits_for_future_events_only() -> None:
    clock = ScaledClock(5_000, speed=1000.0)
    await clock.wait_until(5_000 + 50)  # 50 ms venue = 0.05 ms wall
    assert clock.now_ms() >= 5_050
    before = clock.now_ms()
    await clock.wait_until(0)  # already past: no sleep
    assert clock.now_ms() - before < 1_000


async def test_step_clock_jumps_and_never_goes_back() -> None:
    clock = StepClock(10)
    await clock.wait_until(500)
    assert clock.now_ms() == 500
    await clock.wait_until(200)
    assert clock.now_ms() == 500


def test_make_clock_picks_by_speed() -> None:
    assert isinstance(make_clock(0, 0), StepClock)
    assert isinstance(make_clock(0, 2.0), ScaledClock)
    with pytest.raises(ValueError, match="speed"):
        ScaledClock(0, speed=-1)
