"""The ack-latency model of order endpoints: fixed delay plus seeded uniform jitter."""

from __future__ import annotations

import asyncio
import random


class LatencyModel:
    """Delay each order request by ``fixed_ms`` + U(0, ``jitter_ms``), deterministic per seed."""

    def __init__(self, fixed_ms: float, jitter_ms: float, seed: int) -> None:
        self.fixed_ms = fixed_ms
        self.jitter_ms = jitter_ms
        self._rng = random.Random(seed)

    @property
    def enabled(self) -> bool:
        return self.fixed_ms > 0 or self.jitter_ms > 0

    def next_delay_ms(self) -> float:
        jitter = self._rng.uniform(0.0, self.jitter_ms) if self.jitter_ms else 0.0
        return self.fixed_ms + jitter

    async def wait(self) -> None:
        """Sleep one sampled ack latency (no-op when the model is off)."""
        if self.enabled:
            await asyncio.sleep(self.next_delay_ms() / 1000.0)
