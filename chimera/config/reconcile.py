"""The ``reconcile:`` section of a config bundle: S5's reconciler policy (spec §A S5, flow B4).

Every field has a default, so a bundle without a ``reconcile:`` section reconciles as documented
in docs/s5-reconciler.md.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from chimera.domain.orders import Market

OrphanPolicy = Literal["cancel", "adopt", "alert"]
PositionPolicy = Literal["repair", "derisk", "alert"]


class ReconcileConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What S5 compares and what it does about what only one side knows."""

    # An open order at the venue that no ``orders`` row knows: cancel it (default), adopt it
    # (leave it open, record it), or only alert.
    orphans: OrphanPolicy = "cancel"
    # Agreement (Jaccard of open order ids, or of the symbols' net positions) below this
    # raises a CRITICAL alert and degrades the health grade.
    jaccard_alert_below: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.8
    # The markets whose open orders are compared (positions are always the FUT ones).
    markets: tuple[Market, ...] = ("FUT", "SPOT")
    # At most this many DB rows are resolved from the venue in one run (the rest wait).
    max_resolve: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 200
    # A net position the venue and the DB disagree on: repair the DB from the venue (adopt
    # what only the venue holds), derisk (close what only the venue holds at market; the DB is
    # still repaired where it holds too much), or only alert.
    position_mismatch: PositionPolicy = "repair"
    # A symbol with an order in flight, or whose orders changed this recently before the
    # venue was read, is not repaired this run (the next run looks again).
    quiet_ms: Annotated[int, msgspec.Meta(ge=0, le=3_600_000)] = 5_000
    # A position whose orders changed this recently is not checked for a stop yet (S6 is
    # placing the entry's own stop).
    protect_grace_ms: Annotated[int, msgspec.Meta(ge=0, le=86_400_000)] = 60_000
    # How long a degraded health grade set by S5 lasts unless a later run renews it.
    health_ttl_ms: Annotated[int, msgspec.Meta(ge=1_000, le=86_400_000)] = 600_000
    # TTL of the lock one positions pass holds (two passes must not repair the same mismatch).
    lock_ttl_ms: Annotated[int, msgspec.Meta(ge=1_000, le=3_600_000)] = 120_000
    # The s5-reconcile schedule ticks often (streams.yaml); a tick starts a full pass when this
    # long has passed since the last one started, or, while the start-up gate is closed (a
    # worker has just started), gate_retry_ms — so entries resume within seconds of a restart.
    interval_ms: Annotated[int, msgspec.Meta(ge=1_000, le=86_400_000)] = 15_000
    gate_retry_ms: Annotated[int, msgspec.Meta(ge=500, le=86_400_000)] = 2_000


__all__ = ["OrphanPolicy", "PositionPolicy", "ReconcileConfig"]
