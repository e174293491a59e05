"""The payload of ``cfg:events``: a config revision became active (spec §0, B6)."""

from __future__ import annotations

import msgspec


class ConfigActivated(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``rev`` is now ``config_active.rev``; ``by`` activated it at ``ts_ms`` (wall clock).

    The event only announces the change: a consumer re-reads ``config_active``, so a lost or
    out-of-order event is repaired by the next one or by the next start.
    """

    rev: int
    by: str
    ts_ms: int


__all__ = ["ConfigActivated"]
