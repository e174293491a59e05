"""Entries on ``metrics:events``: one named measurement from one service."""

from __future__ import annotations

import msgspec


class MetricEvent(msgspec.Struct, frozen=True):
    """A measurement such as ``s1.ws_rtt`` (milliseconds) or ``s1.mkt_throughput`` (messages/s).

    A metric is not money, so ``value`` is a float; ``labels`` say what it measures
    (e.g. ``{"kind": "perp"}``).
    """

    name: str
    value: float
    ts_ms: int
    labels: dict[str, str] = {}
