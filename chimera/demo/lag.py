"""Stream lag per consumer group of the main streams, for the dashboard and the summary.

Lag is what a group has not been delivered yet (Redis 7's XINFO GROUPS ``lag``, counted on 6.2),
pending is what it was delivered but has not acknowledged; both come from
``chimera_workers.inspection.group_stats``, the helper ``chimera inspect`` and the worker metrics
use. A read that fails or exceeds its time budget leaves the table "n/a" until the next one.
"""

from __future__ import annotations

import asyncio
import time

import msgspec
from redis.exceptions import RedisError

from chimera.names import (
    ORD_INTENTS,
    ORD_RESULTS,
    SIG_EVENTS,
    feat_stream,
    funding_stream,
    mkt_stream,
)
from chimera_workers.connections import RedisClient
from chimera_workers.errors import raise_if_cancelling
from chimera_workers.inspection import group_stats


class LagRow(msgspec.Struct, frozen=True):
    """One consumer group of one stream."""

    stream: str
    group: str
    lag: int | None  # entries not yet delivered; None when Redis cannot tell
    lag_capped: bool  # counted on Redis < 7 up to a cap: "at least"
    pending: int  # delivered, not yet acknowledged


def main_streams(symbols: list[str], declared: set[str] | None = None) -> list[str]:
    """Return the market, feature, decision and order streams of ``symbols`` (only the
    ``declared`` ones when given)."""
    names = [
        *(mkt_stream(kind, s) for s in symbols for kind in ("spot", "perp")),
        *(funding_stream(s) for s in symbols),
        *(feat_stream(s) for s in symbols),
        SIG_EVENTS,
        ORD_INTENTS,
        ORD_RESULTS,
    ]
    return [n for n in names if declared is None or n in declared]


def collapse(rows: list[LagRow]) -> list[LagRow]:
    """Sum each group's rows over its per-symbol streams (``feat:events:*``), keeping order."""
    out: dict[tuple[str, str], LagRow] = {}
    for row in rows:
        stream = row.stream
        if stream.startswith(("mkt:events:", "feat:events:")):
            stream = stream.rsplit(":", 1)[0] + ":*"
        seen = out.get((stream, row.group))
        if seen is None:
            out[(stream, row.group)] = msgspec.structs.replace(row, stream=stream)
            continue
        lag = None if seen.lag is None or row.lag is None else seen.lag + row.lag
        out[(stream, row.group)] = LagRow(stream, row.group, lag,
                                          seen.lag_capped or row.lag_capped,
                                          seen.pending + row.pending)  # fmt: skip
    return list(out.values())


class LagWatch:
    """The latest lag table and the largest lag seen since the start."""

    def __init__(self, streams: list[str], *, timeout_s: float = 1.0) -> None:
        self.streams = streams
        self.rows: list[LagRow] | None = None  # None: the last read failed
        self.max_lag = 0
        self.max_lag_at = ""  # "<stream> / <group>" where max_lag was seen
        self._timeout_s = timeout_s

    async def _read(self, redis: RedisClient) -> list[LagRow]:
        now_ms = int(time.time() * 1000)
        rows = []
        for stream in self.streams:
            for g in await group_stats(redis, stream, now_ms):
                rows.append(LagRow(stream, g.name, g.lag, g.lag_capped, g.pending))
        return rows

    async def poll(self, redis: RedisClient) -> None:
        """Read every group's lag and pending count, within the time budget."""
        try:
            rows = await asyncio.wait_for(self._read(redis), self._timeout_s)
        except (RedisError, OSError, TimeoutError):
            raise_if_cancelling()
            self.rows = None
            return
        self.rows = rows
        for row in rows:
            if row.lag is not None and row.lag > self.max_lag:
                self.max_lag, self.max_lag_at = row.lag, f"{row.stream} / {row.group}"
