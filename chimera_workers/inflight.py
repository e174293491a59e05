"""The entries one consumer holds: delivered to it, not yet acked or released.

Shared by the reader (which admits entries), the dispatcher (which finishes or releases them)
and the commit loop (which acks the finished ones). Bounding ``ids`` by ``limit`` is what
bounds in-flight work: the reader waits on ``capacity`` while it is full.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from chimera_workers.commit import Emitted
from chimera_workers.context import Emit


class InFlight:
    """Held entry ids, finished ones awaiting commit, and the events that wake the loops.

    ``done_ids`` holds every finished id and ``done_emits`` the emits of the few that
    emitted. The lists are only ever emptied in place, so a hot loop may hold them in locals.
    """

    __slots__ = ("capacity", "done_emits", "done_ids", "finished", "ids", "limit", "progress")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.ids: set[bytes] = set()
        self.done_ids: list[bytes] = []
        self.done_emits: list[Emitted] = []
        self.finished = asyncio.Event()
        """Set when something awaits commit (and at shutdown): wakes the commit loop."""
        self.progress = asyncio.Event()
        """Set when an entry is committed or released: wakes a stopping consumer."""
        self.capacity = asyncio.Event()
        """Set when ``ids`` is below ``limit``: wakes the reader."""
        self.capacity.set()

    def room(self) -> int:
        """Return how many more entries may be admitted."""
        return self.limit - len(self.ids)

    def unfinished(self) -> set[bytes]:
        """Return the held ids whose handling has not finished."""
        return self.ids.difference(self.done_ids)

    def finish(self, entry_id: bytes, emits: list[Emit] | None) -> None:
        """Queue a handled entry (and its emits, if any) for commit."""
        self.done_ids.append(entry_id)
        if emits:
            self.done_emits.append((entry_id, emits))
        self.finished.set()

    def take_finished(self) -> tuple[list[bytes], list[Emitted]]:
        """Return what awaits commit and empty the lists in place (lanes hold these lists)."""
        ids, emitted = self.done_ids[:], self.done_emits[:]
        self.done_ids.clear()
        self.done_emits.clear()
        return ids, emitted

    def release(self, entry_id: bytes) -> None:
        """Stop holding an entry without acking it (it stays pending, or was dead-lettered)."""
        self.ids.discard(entry_id)
        self._freed()

    def settle(self, ids: Iterable[bytes]) -> None:
        """Stop holding committed entries."""
        self.ids.difference_update(ids)
        self._freed()

    def _freed(self) -> None:
        self.progress.set()
        if len(self.ids) < self.limit:
            self.capacity.set()
