"""Where the engine reports what changed: user-data events (and, through them, persistence)."""

from __future__ import annotations

from typing import Any, Protocol

from chimera.paper.markets import VenueKind


class EventSink(Protocol):
    """Receives every user-data event the engine produces, in order."""

    def emit(self, kind: VenueKind, event: dict[str, Any]) -> None: ...


class NullSink:
    """Drop every event (unit tests that only look at state)."""

    def __init__(self) -> None:
        self.events: list[tuple[VenueKind, dict[str, Any]]] = []

    def emit(self, kind: VenueKind, event: dict[str, Any]) -> None:
        self.events.append((kind, event))
