"""Run work items with bounded concurrency while keeping items of the same key in order.

Items without a key go to any free lane. Items with a key queue behind earlier items of
that key; a lane drains one key's queue at a time, so different keys run concurrently and
one slow key never blocks another (unlike hashing keys onto fixed lanes).

The ready list is a plain deque with one wake-up event rather than an ``asyncio.Queue``:
this is the per-message hot path, and the queue's futures cost more than the work itself.
``process`` must not raise; the consumer's handler wrapper catches everything.

``SharedLanes`` is the variant for bindings without an ordering key: no per-key queues, and
the lanes hand the shared queue to the caller's loop instead of calling back once per item.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")

_NO_KEY = object()


class KeyedLanes(Generic[T]):
    """``concurrency`` lane tasks running ``process`` over submitted items."""

    def __init__(self, concurrency: int, process: Callable[[T], Awaitable[None]]) -> None:
        self._process = process
        self._ready: deque[tuple[object, T | None]] = deque()
        self._wake = asyncio.Event()
        self._by_key: dict[Hashable, deque[T]] = {}
        self._tasks = [asyncio.create_task(self._lane()) for _ in range(concurrency)]

    def submit(self, key: Hashable | None, item: T) -> None:
        """Queue ``item``; with a ``key`` it runs after every earlier item of that key."""
        if key is None:
            self._ready.append((_NO_KEY, item))
        else:
            queued = self._by_key.get(key)
            if queued is not None:
                queued.append(item)
                return
            self._by_key[key] = deque((item,))
            self._ready.append((key, None))
        self._wake.set()

    def submit_many(self, items: list[T]) -> None:
        """Queue items that have no key (any lane may take each)."""
        self._ready.extend((_NO_KEY, item) for item in items)
        self._wake.set()

    async def _lane(self) -> None:
        ready = self._ready
        while True:
            if not ready:
                self._wake.clear()
                await self._wake.wait()
                continue
            key, item = ready.popleft()
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


class SharedLanes(Generic[T]):
    """``concurrency`` lane tasks sharing one queue of items that need no order.

    Each lane hands the whole queue to ``drain``, which takes items until it is empty. The
    per-item loop thus lives in the caller (the consumer inlines its handling there, without a
    call per item), and concurrency is kept: when the item a lane runs suspends, another lane
    wakes and takes the next item from the same queue. ``drain`` must not raise.
    """

    def __init__(self, concurrency: int, drain: Callable[[deque[T]], Awaitable[None]]) -> None:
        self._drain = drain
        self._ready: deque[T] = deque()
        self._wake = asyncio.Event()
        self._tasks = [asyncio.create_task(self._lane()) for _ in range(concurrency)]

    def submit_many(self, items: Iterable[T]) -> None:
        """Queue ``items`` in order; the first free lane takes each."""
        self._ready.extend(items)
        self._wake.set()

    async def _lane(self) -> None:
        ready = self._ready
        while True:
            if not ready:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._drain(ready)

    async def close(self) -> None:
        """Cancel the lanes (callers drain or abandon in-flight work first)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
