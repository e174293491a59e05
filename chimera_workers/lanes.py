"""Run work items with bounded concurrency while keeping items of the same key in order.

Items without a key go to any free lane. Items with a key queue behind earlier items of
that key; a lane drains one key's queue at a time, so different keys run concurrently and
one slow key never blocks another (unlike hashing keys onto fixed lanes).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")

_NO_KEY = object()


class KeyedLanes(Generic[T]):
    """``concurrency`` lane tasks running ``process`` over submitted items."""

    def __init__(self, concurrency: int, process: Callable[[T], Awaitable[None]]) -> None:
        self._process = process
        self._ready: asyncio.Queue[tuple[object, T | None]] = asyncio.Queue()
        self._by_key: dict[Hashable, deque[T]] = {}
        self._tasks = [asyncio.create_task(self._lane()) for _ in range(concurrency)]

    def submit(self, key: Hashable | None, item: T) -> None:
        """Queue ``item``; with a ``key`` it runs after every earlier item of that key."""
        if key is None:
            self._ready.put_nowait((_NO_KEY, item))
            return
        queued = self._by_key.get(key)
        if queued is None:
            self._by_key[key] = deque((item,))
            self._ready.put_nowait((key, None))
        else:
            queued.append(item)

    async def _lane(self) -> None:
        while True:
            key, item = await self._ready.get()
            if key is _NO_KEY:
                await self._process(item)  # type: ignore[arg-type]
                continue
            queued = self._by_key[key]
            # The item stays at the head while it runs, so a concurrent submit for this key
            # appends behind it instead of scheduling the key on a second lane.
            while queued:
                await self._process(queued[0])
                queued.popleft()
            del self._by_key[key]

    async def close(self) -> None:
        """Cancel the lanes (callers drain or abandon in-flight work first)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
