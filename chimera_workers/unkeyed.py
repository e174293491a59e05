"""The fast path of a binding without an ordering key: batches in, handled messages out.

The throughput path of the runtime. A batch read from the stream is decoded in one pass and
queued as plain tuples (built in C by ``zip``), and ``SharedLanes`` hands the shared queue to
each lane's loop, which handles item after item without a call per message. Anything unusual
(a deleted entry, a bad payload, a redelivery) takes the consumer's general admission path,
which queues the well-formed ones here too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from itertools import repeat
from time import perf_counter
from typing import Any, cast

import msgspec

from chimera_workers.context import Context
from chimera_workers.dispatch import Delivery, Dispatcher
from chimera_workers.keys import PAYLOAD_FIELD
from chimera_workers.lanes import SharedLanes
from chimera_workers.wire import Entry

Ready = tuple[bytes, dict[bytes, bytes], Any, int]
"""A queued delivery of a binding without ordering key: entry id, fields, event, deliveries.

A plain tuple rather than a ``Delivery``: built in C by ``zip`` for a whole batch.
"""


def decode_batch(
    decoder: msgspec.json.Decoder[Any], entries: list[Entry]
) -> tuple[list[bytes], Iterator[Ready]] | None:
    """Decode a fresh batch (first deliveries) in one pass: its ids, and its items to queue.

    Return None unless every entry is live and has a valid payload; the caller then admits
    the batch one entry at a time.
    """
    # A deleted entry (fields None) raises TypeError here.
    live = cast(list[tuple[bytes, dict[bytes, bytes]]], entries)
    decode_payload = decoder.decode
    try:
        events = [decode_payload(fields[PAYLOAD_FIELD]) for _, fields in live]
    except (TypeError, KeyError, msgspec.ValidationError, msgspec.DecodeError):
        return None
    ids = [entry_id for entry_id, _ in live]
    fields_list = [fields for _, fields in live]
    return ids, zip(ids, fields_list, events, repeat(1))


class UnkeyedLanes:
    """``concurrency`` lanes running ``dispatcher``'s handler over one shared queue."""

    def __init__(self, dispatcher: Dispatcher, concurrency: int) -> None:
        self._dispatcher = dispatcher
        self._lanes: SharedLanes[Ready] = SharedLanes(concurrency, self._drain)

    def submit_many(self, items: Iterable[Ready]) -> None:
        """Queue ``items`` (already held in the dispatcher's ``inflight``) in order."""
        self._lanes.submit_many(items)

    async def close(self) -> None:
        """Cancel the lanes (callers drain or abandon in-flight work first)."""
        await self._lanes.close()

    async def _drain(self, ready: deque[Ready]) -> None:
        """Handle queued items until none is left: one lane's share of the binding.

        ``Dispatcher.handle`` inlined, so per message it is one Context, one await, one clock
        read and an append. The handler latency of a message runs from the end of the
        previous one on this lane (or the start of the run), so it includes taking the item
        and building its Context, well under a microsecond. Latencies within the histogram's
        first bucket, nearly all of them, are tallied in locals and added once per run.
        """
        dispatcher = self._dispatcher
        handler, resources, name = dispatcher.handler, dispatcher.resources, dispatcher.name
        config, inflight = dispatcher.config, dispatcher.inflight
        done_ids, done_emits, finished = inflight.done_ids, inflight.done_emits, inflight.finished
        series = dispatcher.latency
        first_bound = series.bounds[0]
        quick, quick_s = 0, 0.0
        mark = perf_counter()
        try:
            while ready:
                if dispatcher.stopping:
                    # Not started yet: leave them pending rather than start work in shutdown.
                    while ready:
                        inflight.release(ready.popleft()[0])
                    return
                entry_id, fields, event, deliveries = ready.popleft()
                ctx = Context(
                    resources, config.current, config.rev, name, entry_id, deliveries, fields
                )
                try:
                    await handler(event, ctx)
                except Exception as exc:
                    await dispatcher.retry(Delivery(entry_id, fields, deliveries, event), exc)
                    mark = perf_counter()
                    continue
                now = perf_counter()
                took, mark = now - mark, now
                if took <= first_bound:
                    quick += 1
                    quick_s += took
                else:
                    series.observe(took)
                if not done_ids:
                    # The first since the commit loop took the list; later ones find it set.
                    finished.set()
                done_ids.append(entry_id)
                if ctx._emits:
                    done_emits.append((entry_id, ctx._emits))
        finally:
            series.observe_below_first(quick, quick_s)
