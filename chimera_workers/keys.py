"""Every Redis key and stream-entry field name the framework itself uses, in one place.

Keys that one Lua script touches together share a hash tag so they live in one Cluster slot.
"""

from __future__ import annotations

PAYLOAD_FIELD = b"d"
"""The stream-entry field holding the msgspec-JSON payload."""

ORIGIN_FIELD = b"_eid"
"""Set on emitted entries: ``<source stream>/<source entry id>/<n>``, a stable idempotency key."""


def schedule_lock(name: str) -> str:
    """Name the leader lock of scheduled job ``name``."""
    return f"chimera:{{sched:{name}}}:lock"


def schedule_fence(name: str) -> str:
    """Name the fencing counter of scheduled job ``name`` (same slot as its lock)."""
    return f"chimera:{{sched:{name}}}:fence"


def schedule_tick(name: str, tick_ms: int) -> str:
    """Name the once-per-tick claim of scheduled job ``name``."""
    return f"chimera:{{sched:{name}}}:tick:{tick_ms}"


def retention_job(stream: str) -> str:
    """Name the internal scheduled job that trims ``stream``."""
    return f"retention:{stream}"
